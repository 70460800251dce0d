//! Differential test of the HTTP/2 layer against tshark: per connection, the
//! sequence of (stream id, type, flags, length) and the decoded header lists
//! must be identical, on every shared capture and on our own fixtures.
mod common;

use grpcscope::analysis::{Flow, Pipeline, PipelineConfig, Sink, CONTINUE};
use grpcscope::capture::FileCapture;
use grpcscope::h2::H2Event;
use std::collections::BTreeMap;
use std::path::Path;

type FrameKey = (u32, u8, u8, u32);
type Headers = Vec<(String, String)>;

#[derive(Default)]
struct Conns {
    frames: BTreeMap<u64, Vec<FrameKey>>,
    headers: BTreeMap<u64, Vec<Headers>>,
    /// Header fields that referred to HPACK entries never seen, on
    /// connections whose preface was captured.
    unknown_after_preface: u64,
    /// Connections where bytes were lost in the capture.
    lossy: std::collections::BTreeSet<u64>,
    /// Connections whose client preface was captured (their HPACK state is
    /// known from the start).
    prefaced: std::collections::BTreeSet<u64>,
}

impl Sink for Conns {
    fn h2_event(&mut self, ev: &H2Event) -> Flow {
        if let H2Event::Lost { conn, .. } = ev {
            self.lossy.insert(*conn);
        }
        if let H2Event::Preface { conn, .. } = ev {
            self.prefaced.insert(*conn);
        }
        if let H2Event::Frame(f) = ev {
            let h = &f.header;
            self.frames.entry(f.conn).or_default().push((h.stream_id, h.kind.0, h.flags, h.length));
            if let Some(b) = &f.block {
                if self.prefaced.contains(&f.conn) {
                    self.unknown_after_preface += b.decoded.unknown as u64;
                }
                // tshark shows header values as C strings: they end at the
                // first NUL (gRPC's true-binary metadata starts with one).
                let c_string = |v: String| v.split('\0').next().unwrap_or_default().to_string();
                // A field from an HPACK entry the capture never showed is
                // "<unknown>" with an empty value in tshark: both sides are
                // compared on what they decoded, the unknown ones as such.
                let field = |x: &grpcscope::h2::hpack::HeaderField| {
                    let name = x.name.as_ref().map_or_else(|| "<unknown>".to_string(), |_| x.name_str());
                    let value = x.value.as_ref().map_or_else(String::new, |_| c_string(x.value_str()));
                    (name, value)
                };
                let list = b.decoded.fields.iter().map(field).collect();
                self.headers.entry(f.conn).or_default().push(list);
            }
        }
        CONTINUE
    }
}

fn ours(path: &Path, keylog: Option<&Path>) -> Conns {
    // A pcapng's own Decryption Secrets Blocks decrypt its TLS, for both tools.
    let cfg = PipelineConfig::new();
    if let Some(k) = keylog {
        cfg.tls_keys.add_text(&std::fs::read_to_string(k).unwrap());
    }
    let mut cap = FileCapture::open(path).unwrap().with_key_store(cfg.tls_keys.clone());
    let mut p = Pipeline::new(cfg, Conns::default());
    while let Some(pkt) = cap.next_packet() {
        let _ = p.packet(&pkt);
    }
    p.finish();
    p.sink
}

fn strings(v: &serde_json::Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(|a| a.as_array())
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn theirs(path: &Path, port: u16, keylog: Option<&Path>) -> Conns {
    let decode_as = format!("tcp.port=={port},http2");
    let keylog_pref = keylog.map(|k| format!("tls.keylog_file:{}", k.display()));
    let fields = [
        "tcp.stream",
        "http2.streamid",
        "http2.type",
        "http2.flags",
        "http2.length",
        "http2.header.name",
        "http2.header.value",
        "http2.header.count",
    ];
    // Out-of-order reassembly: captures with segments swapped (-i any,
    // multi-queue NICs) are otherwise cut short by tshark.
    let mut args = vec!["-r", path.to_str().unwrap(), "-o", "tcp.reassemble_out_of_order:TRUE", "-T", "json"];
    match &keylog_pref {
        // TLS is found on any port, HTTP/2 inside it by ALPN.
        Some(pref) => args.extend(["-o", pref.as_str()]),
        None => args.extend(["-d", decode_as.as_str()]),
    }
    for f in &fields {
        args.extend(["-e", f]);
    }
    let text = common::tshark(&args);
    let packets: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let mut out = Conns::default();
    for p in packets {
        let l = &p["_source"]["layers"];
        let Some(stream) = strings(l, "tcp.stream").first().map(|s| s.parse::<u64>().unwrap()) else {
            continue;
        };
        let conn = stream + 1;
        let (sid, ty, fl, len) = (
            strings(l, "http2.streamid"),
            strings(l, "http2.type"),
            strings(l, "http2.flags"),
            strings(l, "http2.length"),
        );
        for i in 0..ty.len() {
            let flags = u8::from_str_radix(fl[i].trim_start_matches("0x"), 16).unwrap();
            out.frames.entry(conn).or_default().push((
                sid[i].parse().unwrap(),
                ty[i].parse().unwrap(),
                flags,
                len[i].parse().unwrap(),
            ));
        }
        let (names, values) = (strings(l, "http2.header.name"), strings(l, "http2.header.value"));
        let mut at = 0;
        for count in strings(l, "http2.header.count") {
            let n: usize = count.parse().unwrap();
            let list = (at..at + n).map(|i| (names[i].clone(), values[i].clone())).collect();
            out.headers.entry(conn).or_default().push(list);
            at += n;
        }
    }
    out
}

/// Captures whose segments are swapped across the two directions: grpcscope
/// holds a response captured before its request until the request arrives
/// (the order the endpoints saw), tshark keeps capture order, so frames are
/// compared as a collection, not in order.
const CROSS_DIRECTION_ORDER_FLOOR: [&str; 1] = ["reordered_errors"];

fn compare(name: &str, path: &Path, port: u16, check_headers: bool) {
    compare_with_keys(name, path, port, check_headers, None)
}

/// Compares with TLS decrypted by both tools from `keylog` (a pcapng
/// carrying its keys needs none: both read its Decryption Secrets Block).
fn compare_with_keys(name: &str, path: &Path, port: u16, check_headers: bool, keylog: Option<&Path>) {
    let tls = keylog.is_some() || name == "tls_keylog";
    let (a, b) = (ours(path, keylog), theirs(path, port, keylog.or(tls.then_some(Path::new("/dev/null")))));
    if tls {
        let frames: usize = a.frames.values().map(Vec::len).sum();
        assert!(frames >= 10, "{name}: decrypted only {frames} HTTP/2 frames from {}", path.display());
    }
    assert_eq!(
        a.frames.keys().collect::<Vec<_>>(),
        b.frames.keys().collect::<Vec<_>>(),
        "{name}: connections with frames"
    );
    for (conn, frames) in &b.frames {
        let mine = &a.frames[conn];
        if a.lossy.contains(conn) {
            // After lost bytes tshark gives up on the connection's framing;
            // we find it again. Every frame tshark decoded must be among ours,
            // in order, and we must have found more.
            assert!(is_subsequence(frames, mine), "{name} conn {conn}: a frame tshark decoded is missing from ours");
            assert!(mine.len() > frames.len(), "{name} conn {conn}: resynchronisation recovered nothing");
            eprintln!(
                "{name} conn {conn}: bytes were lost; tshark decoded {} frames, grpcscope {}",
                frames.len(),
                mine.len()
            );
            continue;
        }
        if CROSS_DIRECTION_ORDER_FLOOR.contains(&name) {
            // Every frame tshark decodes must be among ours; the order
            // across directions is the endpoints', not the capture's.
            assert!(contains_all(mine, frames), "{name} conn {conn}: a frame tshark decodes is missing from ours");
            continue;
        }
        let first_diff = mine.iter().zip(frames).position(|(x, y)| x != y);
        assert!(
            mine == frames,
            "{name} conn {conn}: {} frames vs tshark's {}; first difference at frame {first_diff:?}",
            mine.len(),
            frames.len()
        );
    }
    if check_headers {
        for (conn, lists) in &b.headers {
            let mine = &a.headers[conn];
            if a.lossy.contains(conn) {
                assert!(is_subsequence(lists, mine), "{name} conn {conn}: header lists differ");
            } else if CROSS_DIRECTION_ORDER_FLOOR.contains(&name) {
                assert!(contains_all(mine, lists), "{name} conn {conn}: a header list tshark decodes is missing");
            } else {
                assert_eq!(mine, lists, "{name} conn {conn}: header lists");
            }
        }
        assert!(
            a.unknown_after_preface == 0 || !a.lossy.is_empty(),
            "{name}: no header may be unknown on a connection captured from its preface"
        );
    }
}

/// Every item of `small` is in `big`, as many times (in any order).
fn contains_all<T: PartialEq + Clone>(big: &[T], small: &[T]) -> bool {
    let mut rest = big.to_vec();
    small.iter().all(|x| rest.iter().position(|y| y == x).map(|at| rest.remove(at)).is_some())
}

fn is_subsequence<T: PartialEq>(small: &[T], big: &[T]) -> bool {
    let mut it = big.iter();
    small.iter().all(|x| it.any(|y| y == x))
}

#[test]
fn shared_captures_frames_and_headers_match_tshark() {
    let Some(dir) = common::shared_captures("shared_captures_frames_and_headers_match_tshark") else {
        return;
    };
    if !common::have_tshark("shared_captures_frames_and_headers_match_tshark") {
        return;
    }
    for (name, path) in common::shared_scenarios(&dir) {
        let meta = common::meta(&dir, &name);
        let port = meta["server_port"].as_u64().unwrap() as u16;
        // A TLS scenario's .pcap is decrypted with its key log file, its
        // .pcapng with the keys inside.
        let keylog =
            meta["keylog"].as_str().map(|k| dir.join(k)).filter(|_| path.extension().is_some_and(|e| e == "pcap"));
        eprintln!("{name}: {}", path.display());
        compare_with_keys(&name, &path, port, true, keylog.as_deref());
    }
}

#[test]
fn own_fixtures_frames_and_headers_match_tshark() {
    if !common::have_tshark("own_fixtures_frames_and_headers_match_tshark") {
        return;
    }
    let fixtures = [
        ("unary", 50061),
        ("streaming", 50062),
        ("errors", 50063),
        ("deadline", 50064),
        ("cancel", 50065),
        ("reconnect", 50066),
        ("compression", 50067),
        ("metadata", 50068),
        ("reflection", 50069),
    ];
    for (name, port) in fixtures {
        compare(name, &common::fixture(&format!("{name}.pcap")), port, true);
    }
    // Mid-connection: tshark cannot know the HPACK table either, so only
    // the frame sequence is compared.
    compare("mid_connection", &common::fixture("mid_connection.pcap"), 50070, false);
    // TLS, decrypted by both from the client's key log: every suite, a
    // HelloRetryRequest, a KeyUpdate, and failed mTLS handshakes.
    for (name, port) in [("tls13", 50072), ("tls12", 50073), ("tls_failures", 50074)] {
        let keys = common::fixture(&format!("{name}.keys"));
        compare_with_keys(name, &common::fixture(&format!("{name}.pcap")), port, true, Some(&keys));
    }
}

/// `frames` numbers each frame by the packet that completed it and shows
/// its time in tshark's `-t` formats: for every frame line, tshark's
/// `frame.number`, `frame.time_relative`, `frame.time_delta` and epoch time
/// of that packet agree (to the microsecond grpcscope prints).
#[test]
fn packet_numbers_and_time_formats_agree_with_tshark() {
    if !common::have_tshark("packet_numbers_and_time_formats_agree_with_tshark") {
        return;
    }
    let pcap = common::fixture("errors.pcap");
    let path = pcap.to_str().unwrap();
    let fields = common::tshark(&[
        "-r",
        path,
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "frame.time_relative",
        "-e",
        "frame.time_epoch",
    ]);
    let by_packet: BTreeMap<String, (f64, f64)> = fields
        .lines()
        .filter_map(|l| {
            let mut it = l.split('\t');
            Some((it.next()?.to_string(), (it.next()?.parse().ok()?, it.next()?.parse().ok()?)))
        })
        .collect();
    for (format, pick) in [("r", 0usize), ("e", 1)] {
        let (code, out, err) = common::grpcscope(&["frames", "-t", format, path]);
        assert_eq!(code, 0, "{err}");
        let mut checked = 0;
        for line in out.lines().skip(1).filter(|l| l.contains("->")) {
            let mut cols = line.split_whitespace();
            let (packet, time) = (cols.next().unwrap(), cols.next().unwrap().parse::<f64>().unwrap());
            let (rel, epoch) = by_packet[packet];
            let want = if pick == 0 { rel } else { epoch };
            assert!((time - want).abs() < 1e-6, "-t {format}: packet {packet} at {time}, tshark {want}: {line}");
            checked += 1;
        }
        assert!(checked >= 20, "-t {format}: {checked} frames checked\n{out}");
    }
    // -t ud: the date and the UTC time, as tshark's -t ud writes them (to the microsecond).
    let (_, out, _) = common::grpcscope(&["frames", "-t", "ud", path]);
    let first = out.lines().nth(1).unwrap();
    let shark =
        common::tshark(&["-r", path, "-t", "ud", "-Y", "frame.number == 4", "-T", "fields", "-e", "_ws.col.Time"]);
    let shark = shark.trim();
    assert!(first.contains(&shark[..shark.len() - 3]), "{first} vs tshark {shark}");
}
