//! The call tracker, driven through a real HTTP/2 decoder.
use super::*;
use crate::h2::frame::{flags, PREFACE};
use crate::h2::testutil::{frame, literal_block};
use crate::h2::{H2Config, H2Conn, H2Event};
use crate::notes::NoteCode;
use crate::tcp::{Dir, EndReason, Side};
use bytes::Bytes;
use std::sync::Arc;

struct Harness {
    exchanges: crate::h2::ToExchanges,
    h2: H2Conn,
    calls: CallTracker,
    offset: [u64; 2],
    now: i64,
    done: Vec<Call>,
}

fn lpm(body: &[u8]) -> Vec<u8> {
    let mut v = vec![0];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn request(path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut f = vec![(":method", "POST"), (":path", path), (":scheme", "http"), ("content-type", "application/grpc")];
    f.extend_from_slice(extra);
    literal_block(&f)
}

impl Harness {
    fn new() -> Self {
        let addr = |s: &str| s.parse().unwrap();
        let mut h = Harness {
            h2: H2Conn::new(1, Arc::new(H2Config::default()), 50051, true, crate::h2::Start::Preface),
            calls: CallTracker::new(
                1,
                addr("10.0.0.1:40000"),
                addr("10.0.0.2:50051"),
                MessageLimits::default(),
                1 << 20,
            ),
            exchanges: crate::h2::ToExchanges::default(),
            offset: [0; 2],
            now: 0,
            done: Vec::new(),
        };
        h.send(Dir::ToServer, PREFACE);
        h.send(Dir::ToServer, &frame(4, 0, 0, &[]));
        h.send(Dir::ToClient, &frame(4, 0, 0, &[]));
        h
    }

    /// A connection picked up mid-way: no preface, HPACK tables unknown.
    fn midstream() -> Self {
        let mut h = Harness::new();
        let cfg = H2Config { h2_ports: vec![50051], ..H2Config::default() };
        h.h2 = H2Conn::new(1, Arc::new(cfg), 50051, false, crate::h2::Start::Search);
        h.offset = [0; 2];
        h
    }

    fn send(&mut self, dir: Dir, bytes: &[u8]) {
        self.now += 1_000_000;
        let mut ev = Vec::new();
        let i = dir.index();
        self.h2.data(dir, crate::time::Timestamp(self.now), self.offset[i], Bytes::copy_from_slice(bytes), 1, &mut ev);
        self.offset[i] += bytes.len() as u64;
        self.feed(ev);
    }

    fn feed(&mut self, ev: Vec<H2Event>) {
        let mut out = Vec::new();
        let mut exchanges = Vec::new();
        for e in &ev {
            self.exchanges.event(e, &mut exchanges);
        }
        for x in &exchanges {
            self.calls.exchange(x, &mut out);
        }
        self.collect(out);
    }

    fn collect(&mut self, out: Vec<GrpcEvent>) {
        for e in out {
            if let GrpcEvent::Finished(c) = e {
                self.done.push(*c);
            }
        }
    }

    fn close(&mut self, reason: EndReason) {
        let mut out = Vec::new();
        self.calls.connection_closed(reason, crate::time::Timestamp(self.now), &mut out);
        self.collect(out);
    }

    fn unary_request(&mut self, sid: u32) {
        self.send(Dir::ToServer, &frame(1, flags::END_HEADERS, sid, &request("/s.S/M", &[])));
        self.send(Dir::ToServer, &frame(0, flags::END_STREAM, sid, &lpm(b"\x08\x01")));
    }
}

#[test]
fn a_normal_call_and_a_trailers_only_error() {
    let mut h = Harness::new();
    h.unary_request(1);
    h.send(Dir::ToClient, &frame(1, flags::END_HEADERS, 1, &literal_block(&[(":status", "200")])));
    h.send(Dir::ToClient, &frame(0, 0, 1, &lpm(b"\x08\x02")));
    h.send(
        Dir::ToClient,
        &frame(1, flags::END_HEADERS | flags::END_STREAM, 1, &literal_block(&[("grpc-status", "0")])),
    );
    h.unary_request(3);
    h.send(
        Dir::ToClient,
        &frame(
            1,
            flags::END_HEADERS | flags::END_STREAM,
            3,
            &literal_block(&[(":status", "200"), ("grpc-status", "5"), ("grpc-message", "no%20such")]),
        ),
    );
    assert_eq!(h.done.len(), 2);
    let ok = &h.done[0];
    assert_eq!(
        (ok.grpc_status(), ok.verdict().0, ok.requests.len(), ok.responses.len()),
        (Some(0), Origin::None, 1, 1)
    );
    assert!(ok.complete());
    let nf = &h.done[1];
    assert!(nf.trailers_only);
    assert_eq!(
        (nf.grpc_status(), nf.grpc_message().as_deref(), nf.verdict().0),
        (Some(5), Some("no such"), Origin::Application)
    );
}

#[test]
fn a_proxy_503_is_a_transport_error_mapped_to_unavailable() {
    let mut h = Harness::new();
    h.unary_request(1);
    h.send(
        Dir::ToClient,
        &frame(
            1,
            flags::END_HEADERS | flags::END_STREAM,
            1,
            &literal_block(&[(":status", "503"), ("content-type", "text/plain")]),
        ),
    );
    let (origin, t) = h.done[0].verdict();
    let t = t.unwrap();
    assert_eq!((origin, t.kind, t.implied_status_name), (Origin::Transport, TransportKind::HttpStatus, "UNAVAILABLE"));
    assert_eq!(h.done[0].http_status(), Some(503));
}

#[test]
fn rst_stream_goaway_and_dead_connections() {
    let mut h = Harness::new();
    // Server resets stream 1.
    h.unary_request(1);
    h.send(Dir::ToClient, &frame(3, 0, 1, &2u32.to_be_bytes()));
    let (o, t) = h.done[0].verdict();
    assert_eq!((o, t.unwrap().implied_status_name), (Origin::Transport, "INTERNAL"));
    assert_eq!(h.done[0].rst.unwrap().from, Side::Server);
    // Streams 3 and 5 sent; GOAWAY says only 3 was processed.
    h.unary_request(3);
    h.unary_request(5);
    let mut ga = 3u32.to_be_bytes().to_vec();
    ga.extend(0u32.to_be_bytes());
    h.send(Dir::ToClient, &frame(7, 0, 0, &ga));
    let five = h.done.iter().find(|c| c.stream_id == 5).unwrap();
    assert_eq!(five.verdict().1.unwrap().kind, TransportKind::Goaway);
    // Stream 3 is still open when the server resets the connection.
    h.close(EndReason::Rst { by: Side::Server });
    let three = h.done.iter().find(|c| c.stream_id == 3).unwrap();
    let t = three.verdict().1.unwrap();
    assert_eq!((t.kind, t.implied_status_name), (TransportKind::ConnectionReset, "UNAVAILABLE"));
}

#[test]
fn a_call_still_open_at_capture_end_is_incomplete_not_failed() {
    let mut h = Harness::new();
    h.unary_request(1);
    h.close(EndReason::OpenAtEnd);
    let c = &h.done[0];
    assert!(!c.complete() && c.end.is_none());
    assert_eq!(c.verdict().0, Origin::None);
    assert!(c.notes.iter().any(|n| n.code == NoteCode::Incomplete));
}

#[test]
fn late_frames_after_the_trailers_do_not_start_a_phantom_call() {
    let mut h = Harness::new();
    h.send(Dir::ToServer, &frame(1, flags::END_HEADERS, 1, &request("/s.S/Stream", &[])));
    h.send(
        Dir::ToClient,
        &frame(
            1,
            flags::END_HEADERS | flags::END_STREAM,
            1,
            &literal_block(&[(":status", "200"), ("grpc-status", "0")]),
        ),
    );
    h.send(Dir::ToServer, &frame(0, flags::END_STREAM, 1, &[]));
    h.send(Dir::ToServer, &frame(3, 0, 1, &0u32.to_be_bytes()));
    assert_eq!(h.done.len(), 1);
}

#[test]
fn missing_trailers_and_bad_content_types_are_flagged() {
    let mut h = Harness::new();
    h.send(
        Dir::ToServer,
        &frame(
            1,
            flags::END_HEADERS,
            1,
            &literal_block(&[(":method", "POST"), (":path", "/s.S/M"), ("content-type", "application/json")]),
        ),
    );
    h.send(Dir::ToServer, &frame(0, flags::END_STREAM, 1, &lpm(b"")));
    h.send(Dir::ToClient, &frame(1, flags::END_HEADERS, 1, &literal_block(&[(":status", "200")])));
    h.send(Dir::ToClient, &frame(0, flags::END_STREAM, 1, &lpm(b"x")));
    let c = &h.done[0];
    assert_eq!(c.verdict().1.unwrap().kind, TransportKind::MissingTrailers);
    assert!(c.notes.iter().any(|n| n.code == NoteCode::ContentType));
}

#[test]
fn a_message_cut_by_the_end_of_the_stream_says_so() {
    let mut h = Harness::new();
    h.send(Dir::ToServer, &frame(1, flags::END_HEADERS, 1, &request("/s.S/M", &[])));
    h.send(Dir::ToServer, &frame(0, flags::END_STREAM, 1, &[0, 0, 0, 0, 10, 1, 2]));
    h.send(
        Dir::ToClient,
        &frame(
            1,
            flags::END_HEADERS | flags::END_STREAM,
            1,
            &literal_block(&[(":status", "200"), ("grpc-status", "13")]),
        ),
    );
    let m = &h.done[0].requests[0];
    assert_eq!(m.error.as_deref(), Some("truncated: the stream ended after 2 of 10 bytes"));
}

/// Request heads whose `:path` is an HPACK entry from before the capture.
fn midstream_call(h: &mut Harness, sid: u32, head: &[u8]) -> Call {
    h.send(Dir::ToServer, &frame(1, flags::END_HEADERS, sid, head));
    h.send(Dir::ToServer, &frame(0, flags::END_STREAM, sid, &lpm(b"\x08\x01")));
    let trailers = literal_block(&[(":status", "200"), ("grpc-status", "0")]);
    h.send(Dir::ToClient, &frame(1, flags::END_HEADERS | flags::END_STREAM, sid, &trailers));
    h.done.pop().expect("the call ended")
}

#[test]
fn the_path_slot_follows_from_the_pseudo_header_rules_or_is_one_of_a_set() {
    let mut h = Harness::midstream();
    let slot = |number| Slot { epoch: 0, number };
    // [?dyn#1, :method, :scheme, :authority, ?dyn#2]: pseudo-headers come
    // first, so ?dyn#1 is a pseudo-header, and the only one missing is :path.
    let mut head = vec![0xbe, 0x83, 0x86];
    head.extend(literal_block(&[(":authority", "svc:50051")]));
    head.push(0xbf);
    let a = midstream_call(&mut h, 1, &head);
    assert_eq!(a.method(), None);
    assert_eq!(a.method_key(), Some(MethodKey::Path(slot(1))));
    assert_eq!(a.grpc_status(), Some(0), "a literal grpc-status is read whatever the table");
    // Two unknown fields before the pseudo-headers, no :authority: :path is one of them.
    let b = midstream_call(&mut h, 3, &[0xbe, 0xbf, 0x83, 0x86]);
    assert_eq!(b.method_key(), Some(MethodKey::OneOf(vec![slot(1), slot(2)])));
    assert_eq!(b.method_key().unwrap().to_string(), "?dyn#{1-2}");
    // The only unknown field of a request is :path, wherever it is.
    let c = midstream_call(&mut h, 5, &[0x83, 0x86, 0xc0]);
    assert_eq!(c.method_key(), Some(MethodKey::Path(slot(3))));
    // A decoded :path needs no key.
    let d = midstream_call(&mut h, 7, &request("/s.S/M", &[]));
    assert_eq!((d.method_str(), d.method_key()), (Some("/s.S/M"), None));
}
