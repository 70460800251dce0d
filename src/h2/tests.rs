//! The connection state machine, driven byte by byte.
use super::frame::{flags, Body, FrameType, PREFACE};
use super::*;
use crate::tcp::Dir;
use crate::time::Timestamp;
use bytes::Bytes;
use std::sync::Arc;

pub use super::testutil::{frame, literal_block};

fn request_headers(path: &str) -> Vec<u8> {
    literal_block(&[(":method", "POST"), (":path", path), (":scheme", "http"), ("content-type", "application/grpc")])
}

/// Feeds bytes to a connection and collects what comes out.
struct Harness {
    conn: H2Conn,
    offset: [u64; 2],
    packet: u64,
    out: Vec<H2Event>,
}

impl Harness {
    fn new(start_seen: bool, cfg: H2Config) -> Self {
        Harness {
            conn: H2Conn::new(
                1,
                Arc::new(cfg),
                50051,
                start_seen,
                if start_seen { Start::Preface } else { Start::Search },
            ),
            offset: [0; 2],
            packet: 0,
            out: Vec::new(),
        }
    }

    fn started() -> Self {
        let mut h = Harness::new(true, H2Config::default());
        h.send(Dir::ToServer, PREFACE);
        h.send(Dir::ToServer, &frame(4, 0, 0, &[]));
        h.send(Dir::ToClient, &frame(4, 0, 0, &[0, 4, 0, 0, 0x10, 0])); // INITIAL_WINDOW_SIZE 4096
        h.out.clear();
        h
    }

    fn send(&mut self, dir: Dir, bytes: &[u8]) {
        self.packet += 1;
        let i = dir.index();
        let ts = Timestamp(self.packet as i64 * 1000);
        self.conn.data(dir, ts, self.offset[i], Bytes::copy_from_slice(bytes), self.packet, &mut self.out);
        self.offset[i] += bytes.len() as u64;
    }

    fn lose(&mut self, dir: Dir, len: u64) {
        let i = dir.index();
        self.conn.gap(dir, Timestamp(0), self.offset[i], len, &mut self.out);
        self.offset[i] += len;
    }

    fn frames(&self) -> Vec<&Frame> {
        self.out.iter().filter_map(|e| if let H2Event::Frame(f) = e { Some(&**f) } else { None }).collect()
    }

    fn notes(&self) -> Vec<&'static str> {
        self.frames().iter().flat_map(|f| f.notes.iter().map(|n| n.code.as_str())).collect()
    }
}

#[test]
fn the_preface_is_recognised_and_settings_applied() {
    let mut h = Harness::new(true, H2Config::default());
    h.send(Dir::ToServer, &PREFACE[..10]);
    assert!(h.out.is_empty(), "half a preface is not a preface yet");
    let mut rest = PREFACE[10..].to_vec();
    rest.extend(frame(4, 0, 0, &[0, 1, 0, 0, 0, 0])); // HEADER_TABLE_SIZE 0
    h.send(Dir::ToServer, &rest);
    assert_eq!(h.conn.protocol(), crate::exchange::Protocol::Http2);
    assert!(matches!(h.out[0], H2Event::Preface { offset: 0, .. }));
    let f = h.frames();
    assert_eq!((f[0].header.kind, f[0].offset), (FrameType::SETTINGS, 24));
    assert_eq!(h.conn.summary().client_settings[0].params, vec![(1, 0)]);
}

#[test]
fn a_server_speaking_first_is_not_held_back() {
    let mut h = Harness::new(true, H2Config::default());
    h.send(Dir::ToClient, &frame(4, 0, 0, &[]));
    assert_eq!(h.frames().len(), 1, "the server's SETTINGS is decoded in its own packet");
    h.send(Dir::ToServer, PREFACE);
    assert!(h.out.iter().any(|e| matches!(e, H2Event::Preface { .. })));
}

#[test]
fn frames_split_across_segments_and_many_per_segment() {
    let mut h = Harness::started();
    let mut bytes = frame(1, flags::END_HEADERS, 1, &request_headers("/a.B/C"));
    bytes.extend(frame(0, 0, 1, &[0, 0, 0, 0, 2, 8, 1]));
    bytes.extend(frame(0, flags::END_STREAM, 1, &[]));
    for chunk in bytes.chunks(5) {
        h.send(Dir::ToServer, chunk);
    }
    let f = h.frames();
    assert_eq!(f.len(), 3);
    assert_eq!(f[0].block.as_ref().unwrap().get(":path").unwrap(), &b"/a.B/C"[..]);
    assert_eq!(f[2].state, Some(StreamState::HalfClosedClient));
    // All three frames in one segment.
    let mut h = Harness::started();
    h.send(Dir::ToServer, &bytes);
    assert_eq!(h.frames().len(), 3);
    assert_eq!(h.frames()[1].offset, 24 + 9 + (9 + request_headers("/a.B/C").len() as u64));
}

#[test]
fn continuation_frames_complete_a_header_block() {
    let mut h = Harness::started();
    let block = request_headers("/split.Svc/Method");
    let (a, b) = block.split_at(10);
    h.send(Dir::ToServer, &frame(1, 0, 1, a));
    h.send(Dir::ToServer, &frame(9, flags::END_HEADERS, 1, b));
    let f = h.frames();
    assert!(f[0].block.is_none());
    let blk = f[1].block.as_ref().unwrap();
    assert_eq!(blk.get(":path").unwrap(), &b"/split.Svc/Method"[..]);
    assert_eq!(blk.fragments.len(), 2);
}

#[test]
fn a_continuation_flood_is_cut_off() {
    let cfg = H2Config { max_header_block: 1000, ..H2Config::default() };
    let mut h = Harness::new(true, cfg);
    h.send(Dir::ToServer, PREFACE);
    h.send(Dir::ToServer, &frame(1, 0, 1, &[0x82]));
    for _ in 0..50 {
        h.send(Dir::ToServer, &frame(9, 0, 1, &[0x82; 100]));
    }
    assert_eq!(h.notes().iter().filter(|c| **c == "continuation_flood").count(), 1);
    // The rest of the flood is skipped without growing memory, and a later stream decodes.
    h.send(Dir::ToServer, &frame(9, flags::END_HEADERS, 1, &[0x82]));
    h.send(Dir::ToServer, &frame(1, flags::END_HEADERS, 3, &request_headers("/after.Flood/Ok")));
    let last = *h.frames().last().unwrap();
    assert_eq!(last.block.as_ref().unwrap().get(":path").unwrap(), &b"/after.Flood/Ok"[..]);
}

#[test]
fn protocol_violations_are_notes_and_decoding_goes_on() {
    let mut h = Harness::started();
    h.send(Dir::ToServer, &frame(9, flags::END_HEADERS, 1, &[0x82])); // CONTINUATION without HEADERS
    h.send(Dir::ToServer, &frame(0, flags::PADDED, 1, &[200, 1, 2])); // bad padding
    h.send(Dir::ToServer, &frame(0, 0, 0, &[1])); // DATA on stream 0
    h.send(Dir::ToServer, &frame(1, flags::END_HEADERS | flags::END_STREAM, 1, &request_headers("/x.Y/Z")));
    h.send(Dir::ToServer, &frame(0, 0, 1, b"late")); // DATA after END_STREAM
    h.send(Dir::ToServer, &frame(0, 0, 99, b"?")); // DATA on an idle stream
    h.send(Dir::ToClient, &frame(0, 0, 1, &vec![0u8; 20_000])); // larger than MAX_FRAME_SIZE
                                                                // The orphan CONTINUATION made the client's table untrustworthy; the
                                                                // server's is intact, so an index past it is a decoding error there.
    h.send(Dir::ToClient, &frame(1, flags::END_HEADERS, 1, &[0xff, 0x7f]));
    let notes = h.notes();
    for code in [
        "orphan_continuation",
        "malformed_frame",
        "stream_zero",
        "after_end_stream",
        "closed_stream",
        "hpack_error",
        "frame_too_large",
    ] {
        assert!(notes.contains(&code), "{code} missing from {notes:?}");
    }
    assert_eq!(h.frames().len(), 8, "every frame is still reported");
}

#[test]
fn flow_control_windows_follow_data_updates_and_settings() {
    let mut h = Harness::started();
    h.send(Dir::ToServer, &frame(1, flags::END_HEADERS, 1, &request_headers("/w.W/W")));
    h.send(Dir::ToServer, &frame(0, 0, 1, &[0; 1000]));
    let data = *h.frames().last().unwrap();
    // The server's INITIAL_WINDOW_SIZE of 4096 governs what the client may send.
    let flow = data.flow.as_deref().unwrap();
    assert_eq!(flow.stream, Some((4096, 3096)));
    assert_eq!(flow.connection, Some((65_535, 64_535)));
    h.send(Dir::ToClient, &frame(8, 0, 1, &500u32.to_be_bytes()));
    let wu = *h.frames().last().unwrap();
    let flow = wu.flow.as_deref().unwrap();
    assert_eq!((flow.window_of, flow.stream), (Dir::ToServer, Some((3096, 3596))));
    h.send(Dir::ToServer, &frame(0, 0, 1, &[0; 4000]));
    assert!(h.notes().contains(&"flow_control_violation"));
}

#[test]
fn rst_stream_closes_and_later_frames_are_in_flight() {
    let mut h = Harness::started();
    h.send(Dir::ToServer, &frame(1, flags::END_HEADERS, 1, &request_headers("/r.R/R")));
    h.send(Dir::ToServer, &frame(3, 0, 1, &8u32.to_be_bytes()));
    h.send(Dir::ToClient, &frame(0, 0, 1, b"in flight"));
    let f = h.frames();
    assert_eq!(f[1].state, Some(StreamState::Closed));
    let late = f[2].notes.iter().find(|n| n.code == NoteCode::ClosedStream).unwrap();
    assert_eq!(late.level, Level::Info);
}

#[test]
fn a_gap_inside_a_data_frame_keeps_the_framing() {
    let mut h = Harness::started();
    h.send(Dir::ToServer, &frame(1, flags::END_HEADERS, 1, &request_headers("/g.G/G")));
    let data = frame(0, 0, 1, &[7u8; 100]);
    h.send(Dir::ToServer, &data[..30]);
    h.lose(Dir::ToServer, 50);
    h.send(Dir::ToServer, &data[80..]);
    h.send(Dir::ToServer, &frame(0, flags::END_STREAM, 1, &[]));
    let f = h.frames();
    assert_eq!(f.len(), 3);
    assert_eq!(f[1].missing.as_deref(), Some(&(21..71)));
    assert!(f[1].notes.iter().any(|n| n.code == NoteCode::BytesNotCaptured));
    assert_eq!(f[2].state, Some(StreamState::HalfClosedClient), "framing survived");
}

#[test]
fn a_gap_between_frames_resynchronises_and_distrusts_hpack() {
    let mut h = Harness::started();
    let mut lost = frame(1, flags::END_HEADERS, 1, &[0x40, 1, b'k', 1, b'v']); // inserts into the table
    lost.extend(frame(0, 0, 1, &[1; 40]));
    h.lose(Dir::ToServer, lost.len() as u64);
    let mut after = frame(1, flags::END_HEADERS, 3, &[0xbe, 0x83]); // index 62: inserted in the lost block
    after.extend(frame(0, 0, 3, &[0; 5]));
    h.send(Dir::ToServer, &after);
    let f = h.frames();
    assert!(h.out.iter().any(|e| matches!(e, H2Event::Lost { .. })));
    let b = f[0].block.as_ref().unwrap();
    assert_eq!(b.decoded.unknown, 1, "the entry inserted in the lost bytes is unknown, not guessed");
    assert_eq!(b.decoded.fields[1].name_str(), ":method");
    assert!(f[0].notes.iter().any(|n| n.code == NoteCode::Resynchronised));
}

#[test]
fn a_mid_connection_capture_finds_frames_and_reports_who_sent_the_request() {
    // The TCP layer guessed from ports and got it backwards: the frames tell
    // (the decoder chain settles the roles on it; see chain::roles).
    let mut h = Harness::new(false, H2Config::default());
    let mut updates = frame(8, 0, 0, &[0, 0, 1, 0]);
    updates.extend(frame(8, 0, 3, &[0, 0, 1, 0]));
    h.send(Dir::ToClient, &updates);
    assert_eq!(h.frames().len(), 2);
    assert_eq!(h.conn.roles_shown(), None, "WINDOW_UPDATEs say nothing of who is who");
    h.send(Dir::ToClient, &frame(1, flags::END_HEADERS, 5, &request_headers("/m.M/M")));
    assert_eq!(h.conn.roles_shown(), Some(true), "a request came from the side the ports called the server");
    h.send(Dir::ToServer, &frame(1, flags::END_HEADERS, 5, &literal_block(&[(":status", "200")])));
    assert_eq!(h.conn.roles_shown(), Some(true), "the first block that told is the one remembered");
    assert_eq!(h.conn.summary().evidence, Some(Evidence::FrameSync));
}

#[test]
fn h2_port_hint_accepts_a_single_aligned_frame() {
    let cfg = H2Config { h2_ports: vec![50051], ..H2Config::default() };
    let mut h = Harness::new(false, cfg);
    h.send(Dir::ToServer, &frame(8, 0, 0, &[0, 0, 1, 0]));
    assert_eq!(h.frames().len(), 1);
    assert_eq!(h.conn.summary().evidence, Some(Evidence::PortHint));
    // Without the hint one frame is not evidence enough.
    let mut h = Harness::new(false, H2Config::default());
    h.send(Dir::ToServer, &frame(8, 0, 0, &[0, 0, 1, 0]));
    assert!(h.frames().is_empty());
}

#[test]
fn pings_goaway_and_unknown_frames() {
    let mut h = Harness::started();
    h.send(Dir::ToClient, &frame(6, 0, 0, b"pingpong"));
    h.send(Dir::ToServer, &frame(6, flags::ACK, 0, b"pingpong"));
    h.send(Dir::ToClient, &frame(0xbb, 0, 0, b"ext"));
    let mut ga = 3u32.to_be_bytes().to_vec();
    ga.extend(0u32.to_be_bytes());
    ga.extend(b"server shutting down");
    h.send(Dir::ToClient, &frame(7, 0, 0, &ga));
    let s = h.conn.summary();
    assert_eq!(s.pings[0].rtt_nanos, Some(1000));
    assert_eq!(s.goaways[0].debug, "server shutting down");
    assert_eq!(s.goaways[0].from, crate::tcp::Side::Server);
    assert!(matches!(h.frames()[2].body, Body::Unknown));
}
