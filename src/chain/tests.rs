//! The detector's decisions, and the replay into the decoder it chose.
use super::*;
use crate::h2::frame::{flags, PREFACE};
use crate::h2::testutil::frame;

fn cfg(h2_ports: Vec<u16>) -> ChainConfig {
    ChainConfig {
        tls_keys: Default::default(),
        h2: Arc::new(H2Config { h2_ports, ..H2Config::default() }),
        limits: MessageLimits::default(),
        max_call_bytes: 1 << 20,
        keep_tls_records: false,
    }
}

/// Feeds bytes to a chain and collects its HTTP/2 events.
struct Harness {
    chain: Chain,
    cfg: ChainConfig,
    offset: [u64; 2],
    packet: u64,
    out: Vec<H2Event>,
}

impl Harness {
    fn new(syn_seen: bool, cfg: ChainConfig) -> Self {
        let chain =
            Chain::new(1, "10.0.0.1:40000".parse().unwrap(), "10.0.0.2:50051".parse().unwrap(), syn_seen, false);
        Harness { chain, cfg, offset: [0; 2], packet: 0, out: Vec::new() }
    }

    fn send(&mut self, dir: Dir, bytes: &[u8]) {
        self.packet += 1;
        let i = dir.index();
        let ts = Timestamp(self.packet as i64 * 1000);
        self.chain.data(&self.cfg, dir, ts, self.offset[i], &Bytes::copy_from_slice(bytes), self.packet, &mut self.out);
        self.offset[i] += bytes.len() as u64;
    }

    fn frames(&self) -> usize {
        self.out.iter().filter(|e| matches!(e, H2Event::Frame(_))).count()
    }

    fn frame_events(&self) -> impl Iterator<Item = &crate::h2::Frame> {
        self.out.iter().filter_map(|e| match e {
            H2Event::Frame(f) => Some(&**f),
            _ => None,
        })
    }

    fn protocol(&self) -> Protocol {
        self.chain.report().protocol
    }
}

#[test]
fn half_a_preface_decides_nothing_and_the_held_bytes_are_replayed() {
    let mut h = Harness::new(true, cfg(vec![]));
    h.send(Dir::ToServer, &PREFACE[..10]);
    assert_eq!(h.protocol(), Protocol::Unknown);
    assert!(h.out.is_empty());
    let mut rest = PREFACE[10..].to_vec();
    rest.extend(frame(4, 0, 0, &[0, 1, 0, 0, 0, 0]));
    h.send(Dir::ToServer, &rest);
    assert_eq!(h.protocol(), Protocol::Http2);
    assert!(matches!(h.out[0], H2Event::Preface { offset: 0, packet: 2, .. }));
    assert_eq!(h.frames(), 1, "the SETTINGS behind the preface");
}

#[test]
fn a_server_speaking_first_is_http2_at_once() {
    let mut h = Harness::new(true, cfg(vec![]));
    h.send(Dir::ToClient, &frame(4, 0, 0, &[]));
    assert_eq!(h.protocol(), Protocol::Http2);
    assert_eq!(h.frames(), 1, "the server's SETTINGS is decoded in its own packet");
    h.send(Dir::ToServer, PREFACE);
    assert!(h.out.iter().any(|e| matches!(e, H2Event::Preface { .. })));
}

#[test]
fn tls_and_http1_are_recognised_not_misdecoded() {
    let mut h = Harness::new(true, cfg(vec![]));
    h.send(Dir::ToServer, &client_hello::tests_support::client_hello("grpc.example.test"));
    assert_eq!(h.protocol(), Protocol::Tls);
    assert_eq!(h.chain.report().tls_server_name.as_deref(), Some("grpc.example.test"));
    h.send(Dir::ToClient, &frame(4, 0, 0, &[]));
    assert_eq!(h.frames(), 0, "nothing is decoded as HTTP/2 inside TLS");

    let mut h = Harness::new(true, cfg(vec![]));
    h.send(Dir::ToServer, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(h.protocol(), Protocol::Http1);
    assert_eq!(h.frames(), 0);
}

#[test]
fn unknown_bytes_are_other_unless_the_port_is_named() {
    let junk = b"\x00\x01\x02 not a protocol we know";
    let mut h = Harness::new(true, cfg(vec![]));
    h.send(Dir::ToServer, junk);
    assert_eq!(h.protocol(), Protocol::Other);

    // --h2-port 50051: frames are looked for whatever the first bytes were.
    let mut h = Harness::new(true, cfg(vec![50051]));
    h.send(Dir::ToServer, junk);
    let mut frames = frame(4, 0, 0, &[]);
    frames.extend(frame(8, 0, 0, &[0, 0, 0, 9]));
    h.send(Dir::ToServer, &frames);
    assert_eq!(h.protocol(), Protocol::Http2);
    assert!(h.frames() >= 1);
}

#[test]
fn without_a_syn_http2_is_found_by_its_framing() {
    let mut h = Harness::new(false, cfg(vec![]));
    let mut bytes = frame(4, 0, 0, &[]);
    bytes.extend(frame(8, 0, 0, &[0, 0, 0, 9]));
    bytes.extend(frame(6, 0, 0, &[0; 8]));
    h.send(Dir::ToClient, &bytes);
    assert_eq!(h.protocol(), Protocol::Http2);
    assert_eq!(h.frames(), 3);
}

#[test]
fn the_detector_holds_a_bounded_amount() {
    let mut h = Harness::new(true, cfg(vec![]));
    // A client that sends a byte of a method name, then a server that talks forever.
    h.send(Dir::ToServer, b"G");
    for _ in 0..70 {
        h.send(Dir::ToClient, &[b'x'; 1024]);
    }
    assert_eq!(h.protocol(), Protocol::Other, "decided once the server sent 64 kB");
}

#[test]
fn a_closed_connection_keeps_its_summary_and_takes_no_more_bytes() {
    let mut h = Harness::new(true, cfg(vec![]));
    h.send(Dir::ToServer, PREFACE);
    h.send(Dir::ToServer, &frame(4, 0, 0, &[]));
    let mut calls = Vec::new();
    h.chain.finish(&h.cfg, &mut h.out);
    h.chain.closed(EndReason::Fin { by: crate::tcp::Side::Client, both: true }, Timestamp(9), &mut calls);
    let before = h.out.len();
    h.send(Dir::ToServer, &frame(4, 0, 0, &[]));
    assert_eq!(h.out.len(), before);
    let r = h.chain.report();
    assert_eq!((r.protocol, r.h2.frames[0]), (Protocol::Http2, 1));
}

/// A chain of a capture without the SYN whose roles came from port numbers.
fn guessed_roles() -> Harness {
    let client = "10.0.0.1:40000".parse().unwrap();
    let server = "10.0.0.2:50051".parse().unwrap();
    Harness {
        chain: Chain::new(1, client, server, false, true),
        cfg: cfg(vec![]),
        offset: [0; 2],
        packet: 0,
        out: Vec::new(),
    }
}

fn request_block(path: &str) -> Vec<u8> {
    crate::h2::testutil::literal_block(&[(":method", "POST"), (":path", path), (":scheme", "http")])
}

#[test]
fn roles_guessed_from_ports_are_settled_by_content_before_any_decoder_sees_a_frame() {
    let mut h = guessed_roles();
    let mut updates = frame(8, 0, 0, &[0, 0, 1, 0]);
    updates.extend(frame(8, 0, 3, &[0, 0, 1, 0]));
    h.send(Dir::ToClient, &updates);
    assert_eq!(h.frames(), 0, "held while the roles are unsettled");
    assert!(!h.chain.take_swap());
    // The side the ports called the server sends a request: it is the client.
    h.send(Dir::ToClient, &frame(1, flags::END_HEADERS, 5, &request_block("/m.M/M")));
    assert!(h.chain.take_swap(), "the pipeline is told once");
    assert!(!h.chain.take_swap());
    assert_eq!(h.chain.endpoints(), ("10.0.0.2:50051".parse().unwrap(), "10.0.0.1:40000".parse().unwrap()));
    let dirs: Vec<Dir> = h.frame_events().map(|f| f.dir).collect();
    assert_eq!(dirs, [Dir::ToServer; 3], "the held frames are replayed with their directions corrected");
    let flow = h.frame_events().nth(1).and_then(|f| f.flow.as_deref()).map(|f| f.window_of);
    assert_eq!(flow, Some(Dir::ToClient), "the client's WINDOW_UPDATE credits data to the client");
    // The TCP layer relabels from here on: the harness does as it would.
    h.offset.swap(0, 1);
    let mut response = frame(1, flags::END_HEADERS, 5, &crate::h2::testutil::literal_block(&[(":status", "200")]));
    response.extend(frame(0, 0, 5, &[0, 0, 0, 0, 0]));
    h.send(Dir::ToClient, &response);
    assert_eq!(h.frames(), 5);
    assert_eq!(h.frame_events().last().map(|f| f.dir), Some(Dir::ToClient));
}

#[test]
fn roles_the_content_never_tells_keep_the_guess_when_the_capture_ends() {
    let mut h = guessed_roles();
    h.send(Dir::ToServer, &frame(8, 0, 0, &[0, 0, 1, 0]));
    h.send(Dir::ToServer, &frame(8, 0, 0, &[0, 0, 1, 0]));
    assert_eq!(h.frames(), 0);
    h.chain.finish(&h.cfg, &mut h.out);
    assert!(!h.chain.take_swap());
    assert_eq!(h.frame_events().map(|f| f.dir).collect::<Vec<_>>(), [Dir::ToServer; 2]);
}

#[test]
fn settling_stops_holding_at_its_frame_limit() {
    let mut h = guessed_roles();
    h.cfg.h2 = Arc::new(H2Config { max_held_frames: 4, ..H2Config::default() });
    for _ in 0..4 {
        h.send(Dir::ToServer, &frame(8, 0, 0, &[0, 0, 1, 0]));
    }
    assert_eq!(h.frames(), 4, "past the limit the port numbers' guess stands and the frames flow");
    h.send(Dir::ToServer, &frame(8, 0, 0, &[0, 0, 1, 0]));
    assert_eq!(h.frames(), 5);
}
