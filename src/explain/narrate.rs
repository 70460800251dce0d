//! `grpcscope explain`: a narrated walkthrough of one connection (or one
//! call), step by step, in plain English with the RFC section of each step.
//! A [`Sink`]: it keeps the steps of the chosen connection only, then
//! prints them in capture order with what came after (the reconnect).

use super::frame as explain_frame;
use crate::analysis::{ConnReport, Flow, Sink, CONTINUE};
use crate::grpc::status::status_name;
use crate::grpc::{Call, GrpcEvent, Message, Origin};
use crate::h2::H2Event;
use crate::tcp::{ConnId, Dir, StreamEvent};
use crate::time::Timestamp;
use std::io::{self, Write};

/// One step of the walkthrough.
struct Step {
    ts: Timestamp,
    dir: Option<Dir>,
    title: String,
    text: String,
}

/// What to narrate.
#[derive(Debug, Clone, Copy)]
pub struct Choice {
    /// The connection.
    pub conn: ConnId,
    /// Only this stream (a call), with the connection's setup before it.
    pub stream: Option<u32>,
}

/// Collects the steps of the chosen connection.
pub struct Narrator {
    choice: Choice,
    steps: Vec<Step>,
    /// Every connection's report: the reconnect analysis needs the channel's others.
    reports: Vec<ConnReport>,
    calls: Vec<Call>,
}

impl Narrator {
    /// A narrator of `choice`.
    pub fn new(choice: Choice) -> Self {
        Narrator { choice, steps: Vec::new(), reports: Vec::new(), calls: Vec::new() }
    }

    fn push(&mut self, ts: Timestamp, dir: Option<Dir>, title: String, text: String) {
        self.steps.push(Step { ts, dir, title, text });
    }

    /// Whether a frame on `stream` belongs in the walkthrough: with a call
    /// chosen, its own frames and the connection-level ones before it ends.
    fn wanted_stream(&self, stream: u32, ts: Timestamp) -> bool {
        match self.choice.stream {
            None => true,
            Some(s) if stream == s => true,
            Some(s) => stream == 0 && !self.calls.iter().any(|c| c.stream_id == s && c.end.is_some_and(|e| e < ts)),
        }
    }

    /// Writes the walkthrough.
    pub fn write(mut self, out: &mut dyn Write) -> io::Result<()> {
        let reports = std::mem::take(&mut self.reports);
        let Some(report) = reports.iter().find(|r| r.tcp.id == self.choice.conn) else {
            return writeln!(
                out,
                "connection {} is not in this capture (`grpcscope conns` lists them)",
                self.choice.conn
            );
        };
        let (_, reconnects) = crate::analysis::channels::analyze(&reports);
        let next = reconnects
            .iter()
            .find(|(_, r)| r.reconnect_of == self.choice.conn)
            .and_then(|(id, _)| reports.iter().find(|r| r.tcp.id == *id));
        self.handshake_steps(report);
        self.call_steps();
        self.end_steps(report, next);
        // Capture order; steps at the same instant keep the order they were made in.
        self.steps.sort_by_key(|s| s.ts);
        let c = &report.tcp;
        let what = match self.choice.stream {
            Some(s) => format!("call on stream {s} of connection {}", c.id),
            None => format!("connection {}", c.id),
        };
        writeln!(out, "Walkthrough of {what}: client {} -> server {}", c.client, c.server)?;
        writeln!(out, "(C->S: client to server; S->C: server to client. Times are capture times.)\n")?;
        let start = self.steps.first().map_or(c.first_ts, |s| s.ts);
        for (i, s) in self.steps.iter().enumerate() {
            let dir = match s.dir {
                Some(Dir::ToServer) => "C->S",
                Some(Dir::ToClient) => "S->C",
                None => "    ",
            };
            let at = crate::time::human_duration(s.ts.nanos_since(start));
            writeln!(out, "{:>3}. {} (+{at})  {dir}  {}", i + 1, s.ts.clock(), s.title)?;
            for line in s.text.lines() {
                for wrapped in wrap(line, WIDTH) {
                    writeln!(out, "       {wrapped}")?;
                }
            }
            writeln!(out)?;
        }
        Ok(())
    }

    fn handshake_steps(&mut self, r: &ConnReport) {
        let c = &r.tcp;
        if let Some(ts) = c.syn_ts {
            let t = "The client asks to open a TCP connection: SYN carries its initial sequence number \
                     (RFC 9293 §3.5, the three-way handshake).";
            self.push(ts, Some(Dir::ToServer), "TCP SYN".into(), t.into());
        } else {
            let t = "The capture began after this connection was opened: its handshake (and maybe its \
                     HTTP/2 preface and SETTINGS) were never seen, so HPACK entries made before the \
                     capture are unknown.";
            self.push(c.first_ts, None, "Joined mid-connection".into(), t.into());
        }
        if let Some(ts) = c.synack_ts {
            let t = "The server accepts: SYN-ACK acknowledges the client's SYN and carries the server's \
                     own initial sequence number (RFC 9293 §3.5).";
            self.push(ts, Some(Dir::ToClient), "TCP SYN-ACK".into(), t.into());
        }
        if let Some(ts) = c.ack_ts {
            let rtt = c.handshake_rtt_nanos().map(crate::time::human_duration).unwrap_or_else(|| "?".into());
            let t = format!(
                "The client acknowledges the SYN-ACK: the connection is established. SYN to this ACK \
                 took {rtt}, one network round trip seen from the capture point (RFC 9293 §3.5)."
            );
            self.push(ts, Some(Dir::ToServer), "TCP ACK: established".into(), t);
        }
    }

    fn call_steps(&mut self) {
        let calls = std::mem::take(&mut self.calls);
        for call in &calls {
            if self.choice.stream.is_some_and(|s| s != call.stream_id) {
                continue;
            }
            for (request, msgs) in [(true, &call.requests), (false, &call.responses)] {
                for (i, m) in msgs.iter().enumerate() {
                    let (title, text) = message_step(call, m, i, request);
                    let dir = if request { Dir::ToServer } else { Dir::ToClient };
                    self.push(m.ts, Some(dir), title, text);
                }
            }
            if let Some(end) = call.end {
                self.push(end, None, format!("Call on stream {} ends", call.stream_id), call_end(call));
            }
        }
        self.calls = calls;
    }

    fn end_steps(&mut self, r: &ConnReport, next: Option<&ConnReport>) {
        let why = crate::present::text::clean(&crate::analysis::channels::why_ended(r)).into_owned();
        let text = format!(
            "The connection ends: {why}. A FIN closes one direction gracefully; a RST aborts both \
             (RFC 9293 §3.6). Calls still open on it fail with UNAVAILABLE on the client."
        );
        self.push(r.tcp.end_ts, None, "Connection ends".into(), text);
        if let Some(next) = next {
            let gap = crate::time::human_duration(next.tcp.first_ts.nanos_since(r.tcp.end_ts));
            let text = format!(
                "The client's channel reconnects: connection {} from {} opens {gap} later, with a new \
                 handshake, preface and SETTINGS, and a fresh HPACK table. gRPC channels do this on \
                 their own (with exponential backoff after failures), and calls started after it go there \
                 (`grpcscope explain --conn {}`).",
                next.tcp.id, next.tcp.client, next.tcp.id
            );
            self.push(next.tcp.first_ts, None, "Reconnect".into(), text);
        }
    }
}

/// Columns of text after the step's indentation.
const WIDTH: usize = 92;

/// `line` cut at spaces into pieces of at most `width` characters (a
/// longer word stays whole); continuation lines keep the line's own
/// indentation plus two spaces.
fn wrap(line: &str, width: usize) -> Vec<String> {
    let indent: String = line.chars().take_while(|c| *c == ' ').collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for word in line.split_whitespace() {
        let len = cur.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut cur));
        }
        if cur.is_empty() {
            cur.push_str(&indent);
            if !out.is_empty() {
                cur.push_str("  ");
            }
        } else {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

/// The 5-byte gRPC prefix of a message, and what it says.
fn message_step(call: &Call, m: &Message, i: usize, request: bool) -> (String, String) {
    let [a, b, c, d] = m.length.to_be_bytes();
    let prefix = format!("{:02x} {a:02x} {b:02x} {c:02x} {d:02x}", u8::from(m.compressed));
    let who = if request { "request" } else { "response" };
    let mut text = format!(
        "gRPC Length-Prefixed-Message (gRPC over HTTP/2, \"Requests\"/\"Responses\"): the 5-byte prefix \
         {prefix} says compressed={} and {} bytes follow, a protobuf message, carried in DATA frames whose \
         boundaries it need not match.",
        u8::from(m.compressed),
        m.length
    );
    if m.compressed {
        let enc = call.encoding(request).unwrap_or_else(|| "(no grpc-encoding header!)".into());
        text.push_str(&format!(" It is compressed with the call's grpc-encoding, {enc}."));
    }
    if let Some(e) = &m.error {
        text.push_str(&format!(" Problem: {e}."));
    }
    (format!("gRPC {who} message #{} on stream {}", i + 1, call.stream_id), text)
}

/// How a call ended, and who decided.
fn call_end(call: &Call) -> String {
    let (origin, transport) = call.verdict();
    let status = call.grpc_status();
    let name = status.and_then(status_name).unwrap_or("no grpc-status");
    let mut s = format!(
        "{} ended after {}.",
        call.method().map(|m| crate::present::text::clean(&m).into_owned()).unwrap_or_else(|| {
            match call.method_key() {
                Some(k) => format!("The call whose :path is HPACK entry {k} (inserted before the capture)"),
                None => "The call".into(),
            }
        }),
        call.duration_nanos()
            .map_or("an unknown time (its start was not captured)".into(), crate::time::human_duration)
    );
    match origin {
        Origin::None => s.push_str(" The trailers say grpc-status 0, OK: the server's handler returned normally."),
        Origin::Application => s.push_str(&format!(
            " The trailers say grpc-status {} {name}: {}. The application chose this status: the transport worked.",
            status.unwrap_or(0),
            status_meaning(status.unwrap_or(0))
        )),
        Origin::Transport => s.push_str(&format!(
            " The transport failed it: {}. No application status was chosen; the client reports {}.",
            transport.as_ref().map_or("unknown", |t| t.detail.as_str()),
            transport.as_ref().map_or("UNAVAILABLE", |t| t.implied_status_name)
        )),
        Origin::Unknown => s.push_str(&format!(
            " Its status is unknown, not an error: {}.",
            call.status_unknown_reason().unwrap_or_else(|| "the capture does not hold it".into())
        )),
    }
    if call.trailers_only {
        s.push_str(
            " It was Trailers-Only: one HEADERS frame with END_STREAM carried :status and grpc-status together.",
        );
    }
    s
}

/// What a gRPC status code means (grpc/doc/statuscodes.md).
pub fn status_meaning(code: u32) -> &'static str {
    match code {
        0 => "success",
        1 => "the call was cancelled, typically by the caller",
        2 => "an unknown error, e.g. an exception the server did not map to a status",
        3 => "the client sent an invalid argument",
        4 => "the deadline expired before the call completed",
        5 => "a requested entity was not found",
        6 => "the entity the client tried to create already exists",
        7 => "the caller lacks permission",
        8 => "a resource is exhausted: a quota, or a message too large",
        9 => "the system is not in a state the operation requires",
        10 => "the operation was aborted, e.g. by a concurrency conflict",
        11 => "the operation went past the valid range",
        12 => "the method is not implemented or supported",
        13 => "an internal error: an invariant the server expected is broken",
        14 => "the service is unavailable: usually transient, safe to retry",
        15 => "unrecoverable data loss or corruption",
        16 => "the request lacks valid authentication credentials",
        _ => "a code outside the 17 that gRPC defines",
    }
}

impl Sink for Narrator {
    fn stream_event(&mut self, ev: &StreamEvent) -> Flow {
        if let StreamEvent::Control { conn, dir, ts, flags, .. } = ev {
            if *conn != self.choice.conn {
                return CONTINUE;
            }
            let (from, to) = super::who(*dir);
            if flags.rst {
                let t = format!("{from} resets the TCP connection: everything in flight is lost (RFC 9293 §3.10.7).");
                self.push(*ts, Some(*dir), "TCP RST".into(), t);
            } else if flags.fin {
                let t = format!("{from} has no more bytes to send: FIN half-closes its direction; {to} may still send (RFC 9293 §3.6).");
                self.push(*ts, Some(*dir), "TCP FIN".into(), t);
            }
        }
        CONTINUE
    }

    fn h2_event(&mut self, ev: &H2Event) -> Flow {
        match ev {
            H2Event::Preface { conn, ts, .. } if *conn == self.choice.conn => {
                let t = "The client's 24-byte connection preface, \"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n\": it \
                         proves the client speaks HTTP/2 (prior knowledge, as gRPC over plain TCP does) and is \
                         followed at once by its SETTINGS (RFC 9113 §3.4).";
                self.push(*ts, Some(Dir::ToServer), "HTTP/2 client preface".into(), t.into());
            }
            H2Event::Frame(f) if f.conn == self.choice.conn && self.wanted_stream(f.header.stream_id, f.ts) => {
                let title = format!("{} on stream {}", f.header.kind.name(), f.header.stream_id);
                self.push(f.ts, Some(f.dir), title, explain_frame(f));
            }
            H2Event::Lost { conn, dir, ts, bytes, .. } if *conn == self.choice.conn => {
                let t = format!(
                    "{bytes} bytes of this direction were never captured. Frames there are lost, and so is \
                     HPACK state: header fields that refer to table entries made in the gap are unknown."
                );
                self.push(*ts, Some(*dir), "Bytes lost".into(), t);
            }
            _ => {}
        }
        CONTINUE
    }

    fn grpc_event(&mut self, ev: GrpcEvent) -> Flow {
        if let GrpcEvent::Finished(call) = ev {
            if call.conn == self.choice.conn {
                self.calls.push(*call);
            }
        }
        CONTINUE
    }

    fn connection(&mut self, c: ConnReport) -> Flow {
        self.reports.push(c);
        CONTINUE
    }
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrapping_keeps_words_and_indentation() {
        assert_eq!(wrap("one two three four", 9), vec!["one two", "  three", "  four"]);
        assert_eq!(wrap("  a bb cc", 6), vec!["  a bb", "    cc"]);
        assert_eq!(wrap("", 5), vec![""]);
        assert_eq!(wrap("averyveryverylongword x", 5), vec!["averyveryverylongword", "  x"]);
    }
}
