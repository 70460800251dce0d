//! The one-line records of the lists: a call, a frame, a connection as the
//! text printers (`calls`, `frames`, `conns`) and the terminal UI's lists
//! show them. Each is computed once from the decoded value, here; the
//! views only lay the columns out (fixed widths in a pipe, adaptive ones
//! in the UI), so a call never reads one way in a pipe and another on screen.

use super::{arrow, method_label, status_text, summary};
use crate::chain::ConnReport;
use crate::grpc::{Call, Origin, TransportError};
use crate::h2::{Frame, Level};
use crate::present::data_layout::DataLayout;
use crate::tcp::{ConnId, Dir};
use crate::time::Timestamp;

/// A call's line.
#[derive(Debug, Clone, PartialEq)]
pub struct CallLine {
    /// When its first frame was captured.
    pub start: Timestamp,
    /// Its connection.
    pub conn: ConnId,
    /// Its HTTP/2 stream.
    pub stream_id: u32,
    /// The method ([`method_label`]: `~` marks an inferred one).
    pub method: String,
    /// The status column ([`super::status_cell`]).
    pub status: String,
    /// Who decided the status, when anyone did (colours it).
    pub origin: Option<Origin>,
    /// Where its outcome came from ([`Call::verdict`]; `none` for OK).
    pub verdict: Origin,
    /// Start to end, when both were captured.
    pub duration_nanos: Option<i64>,
    /// Messages the client sent.
    pub requests: usize,
    /// Messages the server sent.
    pub responses: usize,
    /// `grpc-status`, when the trailers were read.
    pub grpc_status: Option<u32>,
    /// The transport failure, when the transport failed it.
    pub transport: Option<TransportError>,
    /// Why the status is unknown, when it is.
    pub unknown_because: Option<String>,
    /// The response was Trailers-Only.
    pub trailers_only: bool,
}

impl CallLine {
    /// The line of `call`.
    pub fn new(call: &Call) -> Self {
        let (verdict, transport) = call.verdict();
        let (status, origin) = status_text(call, verdict, transport.as_ref());
        CallLine {
            start: call.start,
            conn: call.conn,
            stream_id: call.stream_id,
            method: method_label(call),
            status,
            origin,
            duration_nanos: call.duration_nanos(),
            requests: call.requests.len(),
            responses: call.responses.len(),
            grpc_status: call.grpc_status(),
            transport,
            unknown_because: (verdict == Origin::Unknown).then(|| call.status_unknown_reason()).flatten(),
            verdict,
            trailers_only: call.trailers_only,
        }
    }

    /// The duration column: `1.2ms`, or `-` when the end was not captured.
    pub fn duration(&self) -> String {
        self.duration_nanos.map_or_else(|| "-".into(), crate::time::human_duration)
    }
}

/// How a frame line should stand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameTone {
    /// An ordinary frame.
    Plain,
    /// A frame that ends streams or the connection (RST_STREAM, GOAWAY).
    Ending,
    /// A frame with a problem noted on it.
    Problem,
    /// The client preface.
    Preface,
    /// Bytes that were never captured.
    Lost,
    /// A TCP control segment (SYN, FIN, RST).
    Tcp,
}

/// A line of the frames list: a frame, the preface, a gap, a TCP segment.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameLine {
    /// When it was captured.
    pub ts: Timestamp,
    /// Its connection.
    pub conn: ConnId,
    /// Its direction.
    pub dir: Dir,
    /// The packet that completed it (as tshark numbers packets), when one did.
    pub packet: Option<u64>,
    /// The HTTP/2 stream, for frames.
    pub stream_id: Option<u32>,
    /// `HEADERS`, `PREFACE`, `(gap)`, `(tcp)`.
    pub kind: String,
    /// The flags by name (`END_STREAM|END_HEADERS`), `-` for none.
    pub flags: String,
    /// The payload length, when it has one.
    pub length: Option<u32>,
    /// What it says, in a few words.
    pub summary: String,
    /// How it should stand out.
    pub tone: FrameTone,
}

impl FrameLine {
    /// The line of a decoded frame; a DATA frame's summary says which gRPC
    /// messages it carries when `layout` tells.
    pub fn frame(f: &Frame, layout: Option<&DataLayout>) -> Self {
        let problem = f.notes.iter().any(|n| n.level >= Level::Warning);
        let tone = match &f.body {
            crate::h2::frame::Body::RstStream { .. } | crate::h2::frame::Body::GoAway { .. } => FrameTone::Ending,
            _ if problem => FrameTone::Problem,
            _ => FrameTone::Plain,
        };
        FrameLine {
            ts: f.ts,
            conn: f.conn,
            dir: f.dir,
            packet: Some(f.packet),
            stream_id: Some(f.header.stream_id),
            kind: f.header.kind.name(),
            flags: flags_text(f.header.kind, f.header.flags),
            length: Some(f.header.length),
            // The LENGTH column has the bytes: the messages say more.
            summary: match (layout, &f.body) {
                (Some(l), crate::h2::frame::Body::Data { pad_len: Some(p), .. }) => {
                    format!("{} (+{p} padding)", l.describe())
                }
                (Some(l), _) => l.describe(),
                (None, _) => summary(f),
            },
            tone,
        }
    }

    /// The line of a frame known by its header and the summary
    /// [`FrameLine::frame`] gave it (the terminal UI keeps no more).
    pub fn from_header(
        at: (ConnId, Dir, Timestamp, u64),
        header: &crate::h2::frame::FrameHeader,
        summary: String,
        tone: FrameTone,
    ) -> Self {
        let (conn, dir, ts, packet) = at;
        FrameLine {
            ts,
            conn,
            dir,
            packet: Some(packet),
            stream_id: Some(header.stream_id),
            kind: header.kind.name(),
            flags: flags_text(header.kind, header.flags),
            length: Some(header.length),
            summary,
            tone,
        }
    }

    /// The client connection preface, completed by `packet`.
    pub fn preface(conn: ConnId, ts: Timestamp, packet: u64) -> Self {
        let length = Some(crate::h2::frame::PREFACE.len() as u32);
        let summary = "client connection preface".into();
        let line = FrameLine::other(conn, Dir::ToServer, ts, "PREFACE", length, summary, FrameTone::Preface);
        FrameLine { packet: Some(packet), ..line }
    }

    /// `bytes` of `dir` that were never captured.
    pub fn lost(conn: ConnId, dir: Dir, ts: Timestamp, bytes: u64) -> Self {
        let summary = format!("{bytes} bytes never captured");
        FrameLine::other(conn, dir, ts, "(gap)", None, summary, FrameTone::Lost)
    }

    /// A TCP control segment, packet `packet`, flags as tcpdump writes them.
    pub fn tcp(conn: ConnId, dir: Dir, ts: Timestamp, flags: &str, packet: u64) -> Self {
        let line = FrameLine::other(conn, dir, ts, "(tcp)", None, format!("TCP {flags}"), FrameTone::Tcp);
        FrameLine { packet: Some(packet), ..line }
    }

    fn other(
        conn: ConnId,
        dir: Dir,
        ts: Timestamp,
        kind: &'static str,
        length: Option<u32>,
        summary: String,
        tone: FrameTone,
    ) -> Self {
        let flags = "-".into();
        FrameLine { ts, conn, dir, packet: None, stream_id: None, kind: kind.into(), flags, length, summary, tone }
    }

    /// `C->S` or `S->C`.
    pub fn arrow(&self) -> &'static str {
        arrow(self.dir)
    }

    /// The stream column (`-` when not a frame).
    pub fn stream(&self) -> String {
        self.stream_id.map_or_else(|| "-".into(), |s| s.to_string())
    }

    /// The packet column (`-` when no one packet completed it).
    pub fn packet_text(&self) -> String {
        self.packet.map_or_else(|| "-".into(), |p| p.to_string())
    }

    /// The length column (`-` when it has none).
    pub fn length_text(&self) -> String {
        self.length.map_or_else(|| "-".into(), |l| l.to_string())
    }
}

/// Flags by name, or in hex when the frame type defines none of those set.
fn flags_text(kind: crate::h2::frame::FrameType, flags: u8) -> String {
    let names = kind.flag_names(flags);
    match (names.is_empty(), flags) {
        (true, 0) => "-".into(),
        (true, f) => format!("0x{f:02x}"),
        (false, _) => names.join("|"),
    }
}

/// A connection's line.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnLine {
    /// Its id.
    pub id: ConnId,
    /// The client's address and port.
    pub client: String,
    /// The server's address and port.
    pub server: String,
    /// Its first packet.
    pub start: Timestamp,
    /// First to last packet.
    pub duration_nanos: i64,
    /// SYN to ACK of the SYN-ACK, when the handshake was captured.
    pub handshake_nanos: Option<i64>,
    /// What it carried (`h2`, `tls`...), `-` when it was not decoded.
    pub protocol: &'static str,
    /// Its calls.
    pub calls: u64,
    /// Calls the application failed.
    pub application_errors: u64,
    /// Calls the transport failed.
    pub transport_errors: u64,
    /// Bytes each way: client to server, server to client.
    pub bytes: [u64; 2],
    /// How it ended, in words.
    pub end: String,
    /// The server host's short name, when one is known.
    pub server_name: Option<String>,
}

impl ConnLine {
    /// The line of the connection `r` reports.
    pub fn new(r: &ConnReport) -> Self {
        let c = &r.tcp;
        let [cs, sc] = &c.dirs;
        ConnLine {
            id: c.id,
            client: c.client.to_string(),
            server: c.server.to_string(),
            start: c.first_ts,
            duration_nanos: c.last_ts.nanos_since(c.first_ts),
            handshake_nanos: c.handshake_rtt_nanos(),
            protocol: r.protocol.as_str(),
            calls: r.calls.total,
            application_errors: r.calls.application,
            transport_errors: r.calls.transport,
            bytes: [cs.bytes, sc.bytes],
            end: crate::analysis::channels::why_ended(r),
            server_name: r.names.server.as_ref().map(|n| n.label()),
        }
    }

    /// The errors column: `application/transport`.
    pub fn errors(&self) -> String {
        format!("{}/{}", self.application_errors, self.transport_errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::frame::{flags, FrameType};

    #[test]
    fn flags_read_by_name_and_unknown_ones_in_hex() {
        assert_eq!(flags_text(FrameType::HEADERS, flags::END_STREAM | flags::END_HEADERS), "END_STREAM|END_HEADERS");
        assert_eq!(flags_text(FrameType::DATA, 0), "-");
        assert_eq!(flags_text(FrameType::GOAWAY, 0x40), "0x40", "GOAWAY defines no flags");
    }

    #[test]
    fn lines_that_are_not_frames_say_what_they_are_and_leave_frame_columns_empty() {
        let p = FrameLine::preface(3, Timestamp(0), 4);
        assert_eq!(
            (p.arrow(), p.stream(), p.kind.as_str(), p.length_text(), p.packet_text()),
            ("C->S", "-".into(), "PREFACE", "24".into(), "4".into())
        );
        let l = FrameLine::lost(3, Dir::ToClient, Timestamp(0), 1448);
        assert_eq!(
            (l.summary.as_str(), l.length_text(), l.tone),
            ("1448 bytes never captured", "-".into(), FrameTone::Lost)
        );
        assert_eq!(l.packet_text(), "-", "a gap is in no packet");
    }
}
