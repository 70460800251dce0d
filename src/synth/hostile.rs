//! Hostile captures of a few kilobytes (issue 18): each one crashed,
//! exhausted memory or printed a confident wrong answer before its fix.
//! Unlike the resource-limit fixtures of [`super::adversarial`] they attack
//! a decoder's shape (depth, amplification, ambiguity) rather than one
//! limit. `examples/adversarial.rs` writes them to `fixtures/adversarial/`;
//! `tests/hostile.rs` checks each; docs/robustness.md lists them.

use super::adversarial::{around, hostile_conn, request_with_block, send_all};
use super::h2::{self as h, kind};
use super::Side;
use crate::h2::frame::flags::{END_HEADERS, END_STREAM};
use crate::proto::wire::emit_varint;
use base64::Engine;

/// One hostile capture.
pub struct Case {
    /// File name under fixtures/adversarial/.
    pub file: &'static str,
    /// What it attacks, in a few words.
    pub attack: &'static str,
    /// Makes the capture's bytes (gzip-compressed).
    pub build: fn() -> Vec<u8>,
}

/// The committed hostile captures.
pub const CASES: &[Case] = &[
    Case { file: "deep_groups.pcap.gz", attack: "protobuf groups nested 2,500 deep", build: deep_groups },
    Case { file: "deep_any.pcap.gz", attack: "status details with an Any 1,000 deep", build: deep_any },
    Case { file: "json_amplification.pcap.gz", attack: "60 MiB of two-byte fields", build: json_amplification },
    Case {
        file: "header_amplification.pcap.gz",
        attack: "200 streams of 30,000 header fields",
        build: header_amplification,
    },
    Case { file: "ping_flood.pcap.gz", attack: "1,000,000 PINGs on one connection", build: ping_flood },
    Case { file: "stream_id_misuse.pcap.gz", attack: "a reused and an even client stream id", build: stream_id_misuse },
    Case {
        file: "malformed_heads.pcap.gz",
        attack: "GET, no :path, two :path, late pseudo-header, bad :status",
        build: malformed_heads,
    },
    Case {
        file: "gzip_members.pcap.gz",
        attack: "a gzip message of two members, one with trailing garbage",
        build: gzip_members,
    },
    Case {
        file: "fragments_and_vlans.pcap.gz",
        attack: "a call in nine VLAN tags, its request in IPv4 fragments out of order",
        build: fragments_and_vlans,
    },
    Case {
        file: "rst_outside_window.pcap.gz",
        attack: "a forged RST far outside the window",
        build: rst_outside_window,
    },
    Case {
        file: "reflection_pending.pcap.gz",
        attack: "120,000 reflected files importing one never sent",
        build: reflection_pending,
    },
    Case {
        file: "reflection_two_servers.pcap.gz",
        attack: "one server's reflection, another server's calls",
        build: reflection_two_servers,
    },
];

/// How deep the nested-group message goes.
pub const GROUP_DEPTH: usize = 2_500;
/// How deep the nested Any goes.
pub const ANY_DEPTH: usize = 1_000;

/// A tagged field header: `number` with wire type `wt`.
fn tag(number: u32, wt: u8) -> Vec<u8> {
    emit_varint(u64::from(number) << 3 | u64::from(wt))
}

/// A length-delimited field.
fn len_field(number: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = tag(number, 2);
    out.extend(emit_varint(bytes.len() as u64));
    out.extend_from_slice(bytes);
    out
}

/// A complete hostile call: `request` as its one message, and the server's
/// answer: headers, `response` as one message (if any), then `trailers`.
fn call(request: &[u8], compressed: bool, response: Option<&[u8]>, trailers: &[u8]) -> Vec<u8> {
    let mut conv = hostile_conn(&[(4, 1 << 30)]);
    conv.send(Side::Server, &h::window_update(0, 1 << 30));
    let extra: &[(&str, &str)] = if compressed { &[("grpc-encoding", "gzip")] } else { &[] };
    let mut out = h::frame(kind::HEADERS, END_HEADERS, 1, &h::request_block(super::adversarial::HOSTILE_METHOD, extra));
    out.extend(data_frames(1, &h::grpc_message(compressed, request), true));
    send_all(&mut conv, Side::Client, &out);
    let head = if compressed {
        h::literal_block(&[(":status", "200"), ("content-type", "application/grpc"), ("grpc-encoding", "gzip")])
    } else {
        h::response_block()
    };
    let mut back = h::frame(kind::HEADERS, END_HEADERS, 1, &head);
    if let Some(r) = response {
        back.extend(data_frames(1, &h::grpc_message(compressed, r), false));
    }
    back.extend(super::adversarial::header_frames(1, trailers, true));
    send_all(&mut conv, Side::Server, &back);
    around(conv)
}

/// `bytes` as DATA frames of at most 16 KiB, the last one ending the stream if `end`.
fn data_frames(sid: u32, bytes: &[u8], end: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 1000 + 9);
    let mut chunks = bytes.chunks(16_384).peekable();
    while let Some(c) = chunks.next() {
        let flags = if end && chunks.peek().is_none() { END_STREAM } else { 0 };
        out.extend(h::frame(kind::DATA, flags, sid, c));
    }
    out
}

/// A request of groups nested [`GROUP_DEPTH`] deep (start-group markers of
/// field 1, one varint at the bottom, then the end-group markers), in a
/// call with no schema: the schemaless decoder reads it.
pub fn deep_groups() -> Vec<u8> {
    let mut body = Vec::with_capacity(GROUP_DEPTH * 2 + 2);
    for _ in 0..GROUP_DEPTH {
        body.extend(tag(1, 3));
    }
    body.extend([0x10, 0x07]);
    for _ in 0..GROUP_DEPTH {
        body.extend(tag(1, 4));
    }
    call(&body, false, None, &h::trailers_block(0))
}

/// The google.rpc.Status bytes of [`deep_any`]: code 3, and one detail that
/// is an Any of an Any ... [`ANY_DEPTH`] deep, an ErrorInfo at the bottom.
pub fn deep_any_status() -> Vec<u8> {
    let mut inner =
        [len_field(1, b"type.googleapis.com/google.rpc.ErrorInfo"), len_field(2, &len_field(1, b"deep"))].concat();
    for _ in 0..ANY_DEPTH {
        inner = [len_field(1, b"type.googleapis.com/google.protobuf.Any"), len_field(2, &inner)].concat();
    }
    [vec![0x08, 3], len_field(2, b"deep any"), len_field(3, &inner)].concat()
}

/// A failed call whose `grpc-status-details-bin` is [`deep_any_status`].
pub fn deep_any() -> Vec<u8> {
    let details = base64::engine::general_purpose::STANDARD_NO_PAD.encode(deep_any_status());
    let trailers =
        h::literal_block(&[("grpc-status", "3"), ("grpc-message", "deep any"), ("grpc-status-details-bin", &details)]);
    call(b"\x08\x01", false, None, &trailers)
}

/// Bytes of the decompressed message of [`json_amplification`].
pub const AMPLIFIED_BYTES: usize = 60 << 20;

/// One gzip message that inflates (inside the default 64 MiB
/// --max-decompressed-size) to 60 MiB of two-byte fields (field 1, varint
/// 0), which a renderer would turn into 31 million values; and a response
/// whose field 1 is 60 million packed int32 zeros, as a schema would read it.
pub fn json_amplification() -> Vec<u8> {
    let fields = gzip_of(&[0x08u8, 0x00].repeat(AMPLIFIED_BYTES / 2));
    let mut packed = tag(1, 2);
    packed.extend(emit_varint(AMPLIFIED_BYTES as u64));
    packed.resize(packed.len() + AMPLIFIED_BYTES, 0);
    call(&fields, true, Some(&gzip_of(&packed)), &h::trailers_block(0))
}

fn gzip_of(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = std::io::Write::write_all(&mut gz, bytes);
    gz.finish().unwrap_or_default()
}

/// Streams of [`header_amplification`].
pub const AMPLIFIED_STREAMS: u32 = 200;
/// References to the one-byte entry in each stream's header block.
pub const AMPLIFIED_REFS: usize = 30_000;

/// One field of 1-byte name and value added to the table, then 200 streams
/// left open whose header blocks each reference it 30,000 times: each block
/// is under --max-header-list, together they are 200 times it.
pub fn header_amplification() -> Vec<u8> {
    let mut conv = hostile_conn(&[]);
    let mut first = h::request_block(super::adversarial::HOSTILE_METHOD, &[]);
    first.extend(h::literal_indexed("a", b"b"));
    request_with_block(&mut conv, &first);
    let mut block = h::request_block(super::adversarial::HOSTILE_METHOD, &[]);
    block.extend(std::iter::repeat_n(h::indexed(62), AMPLIFIED_REFS).flatten());
    for n in 1..=AMPLIFIED_STREAMS {
        let frames = super::adversarial::header_frames(2 * n + 1, &block, false);
        send_all(&mut conv, Side::Client, &frames);
    }
    around(conv)
}

/// PINGs in [`ping_flood`].
pub const PINGS: usize = 1_000_000;

/// A connection whose client sends a million PINGs (none answered) while
/// a call is open on it; `explain` narrates each.
pub fn ping_flood() -> Vec<u8> {
    let mut conv = hostile_conn(&[]);
    let mut open = h::frame(kind::HEADERS, END_HEADERS, 1, &h::request_block(super::adversarial::HOSTILE_METHOD, &[]));
    open.extend(h::frame(kind::DATA, END_STREAM, 1, &h::grpc_message(false, b"\x08\x01")));
    conv.send(Side::Client, &open);
    let ping = h::frame(crate::h2::frame::FrameType::PING.0, 0, 0, &[0; 8]);
    let pings: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * PINGS).collect();
    send_all(&mut conv, Side::Client, &pings);
    super::adversarial::respond(&mut conv, 1, 0);
    around(conv)
}

/// Reflected files in [`reflection_pending`].
pub const PENDING_FILES: usize = 120_000;

/// The reflection method whose responses carry files.
const REFLECTION: &str = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";

/// A ServerReflectionResponse carrying `files` (field 4, its field 1).
fn reflection_response(files: &[Vec<u8>]) -> Vec<u8> {
    let inner: Vec<u8> = files.iter().flat_map(|f| len_field(1, f)).collect();
    len_field(4, &inner)
}

/// A file `name` of package `demo` importing `imports`, with one message
/// `Reply { string text = 1; }` and, when `service`, `service Svc { rpc Get(Reply) returns (Reply); }`.
fn demo_file(name: &str, imports: &[&str], service: bool) -> Vec<u8> {
    use prost_types::{field_descriptor_proto as fd, *};
    let reply = DescriptorProto {
        name: Some("Reply".into()),
        field: vec![FieldDescriptorProto {
            name: Some("text".into()),
            number: Some(1),
            label: Some(fd::Label::Optional as i32),
            r#type: Some(fd::Type::String as i32),
            json_name: Some("text".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let svc = ServiceDescriptorProto {
        name: Some("Svc".into()),
        method: vec![MethodDescriptorProto {
            name: Some("Get".into()),
            input_type: Some(".demo.Reply".into()),
            output_type: Some(".demo.Reply".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let file = FileDescriptorProto {
        name: Some(name.into()),
        package: Some("demo".into()),
        dependency: imports.iter().map(|s| s.to_string()).collect(),
        message_type: if service { vec![reply] } else { Vec::new() },
        service: if service { vec![svc] } else { Vec::new() },
        syntax: Some("proto3".into()),
        ..Default::default()
    };
    prost::Message::encode_to_vec(&file)
}

/// One reflection call whose server answers 120,000 times, each answer a
/// file that imports `never.proto`, which is never sent: each must wait,
/// indexed, not be rescanned at every answer.
pub fn reflection_pending() -> Vec<u8> {
    let mut conv = hostile_conn(&[(4, 1 << 30)]);
    conv.send(Side::Server, &h::window_update(0, 1 << 30));
    let mut out = h::frame(kind::HEADERS, END_HEADERS, 1, &h::request_block(REFLECTION, &[]));
    out.extend(data_frames(1, &h::grpc_message(false, &len_field(4, b"never.proto")), true));
    send_all(&mut conv, Side::Client, &out);
    let mut back = h::frame(kind::HEADERS, END_HEADERS, 1, &h::response_block());
    let mut data = Vec::new();
    for i in 0..PENDING_FILES {
        let file = demo_file(&format!("f{i}.proto"), &["never.proto"], false);
        data.extend(h::grpc_message(false, &reflection_response(&[file])));
    }
    back.extend(data_frames(1, &data, false));
    back.extend(h::frame(kind::HEADERS, END_HEADERS | END_STREAM, 1, &h::trailers_block(0)));
    send_all(&mut conv, Side::Server, &back);
    around(conv)
}

/// The server 10.0.0.2:50051 answers reflection with `demo.Svc`; then a
/// client calls `/demo.Svc/Get` on it and on another server,
/// 10.0.0.3:50051, which never answered reflection: the schema applies
/// to the first call only.
pub fn reflection_two_servers() -> Vec<u8> {
    let mut conv = hostile_conn(&[]);
    let mut out = h::frame(kind::HEADERS, END_HEADERS, 1, &h::request_block(REFLECTION, &[]));
    out.extend(h::frame(kind::DATA, END_STREAM, 1, &h::grpc_message(false, &len_field(4, b"demo.proto"))));
    conv.send(Side::Client, &out);
    let mut back = h::frame(kind::HEADERS, END_HEADERS, 1, &h::response_block());
    let resp = reflection_response(&[demo_file("demo.proto", &[], true)]);
    back.extend(h::frame(kind::DATA, 0, 1, &h::grpc_message(false, &resp)));
    back.extend(h::frame(kind::HEADERS, END_HEADERS | END_STREAM, 1, &h::trailers_block(0)));
    conv.send(Side::Server, &back);
    let reply = len_field(1, b"hello");
    let get = |conv: &mut super::Conversation, sid: u32| {
        let mut out = h::frame(kind::HEADERS, END_HEADERS, sid, &h::request_block("/demo.Svc/Get", &[]));
        out.extend(h::frame(kind::DATA, END_STREAM, sid, &h::grpc_message(false, &reply)));
        conv.send(Side::Client, &out);
        let mut back = h::frame(kind::HEADERS, END_HEADERS, sid, &h::response_block());
        back.extend(h::frame(kind::DATA, 0, sid, &h::grpc_message(false, &reply)));
        back.extend(h::frame(kind::HEADERS, END_HEADERS | END_STREAM, sid, &h::trailers_block(0)));
        conv.send(Side::Server, &back);
    };
    get(&mut conv, 3);
    let other = std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 3)), 50051);
    let client = std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 66)), 40067);
    let last = conv.packets.last().map_or(super::adversarial::start(), |(ts, _)| *ts);
    let mut second = super::adversarial::open_h2_to(client, other, last.add_nanos(1_000_000), &[]);
    get(&mut second, 1);
    second.fin(Side::Client).fin(Side::Server);
    conv.fin(Side::Client).fin(Side::Server);
    conv.packets.extend(second.packets);
    around(conv)
}

/// One complete call on `sid` with request `block`, answered with status `status`.
fn whole_call(conv: &mut super::Conversation, sid: u32, block: &[u8], status: u32) {
    let mut out = h::frame(kind::HEADERS, END_HEADERS, sid, block);
    out.extend(h::frame(kind::DATA, END_STREAM, sid, &h::grpc_message(false, b"\x08\x01")));
    conv.send(Side::Client, &out);
    super::adversarial::respond(conv, sid, status);
}

/// The client opens stream 5, then stream 3 (an id below one already
/// used: PROTOCOL_ERROR), then stream 8 (even: the server's to open). Each
/// gets a full answer; each call is kept, with a note.
pub fn stream_id_misuse() -> Vec<u8> {
    let mut conv = hostile_conn(&[]);
    let block = h::request_block(super::adversarial::HOSTILE_METHOD, &[]);
    for sid in [5, 3, 8] {
        whole_call(&mut conv, sid, &block, 0);
    }
    around(conv)
}

/// Requests gRPC rejects as malformed, each answered as if it were fine:
/// `:method GET` (stream 1), no `:path` (3), two `:path` (5), a
/// pseudo-header after a regular field (7); and a response whose `:status`
/// is "2OO" (stream 9).
pub fn malformed_heads() -> Vec<u8> {
    let mut conv = hostile_conn(&[]);
    let path = super::adversarial::HOSTILE_METHOD;
    let base = [(":scheme", "http"), (":authority", "localhost:50051")];
    let tail = [("content-type", "application/grpc"), ("te", "trailers")];
    let block = |fields: &[(&str, &str)]| h::literal_block(fields);
    let get = [&[(":method", "GET"), (":path", path)][..], &base, &tail].concat();
    let no_path = [&[(":method", "POST")][..], &base, &tail].concat();
    let two_paths = [&[(":method", "POST"), (":path", path), (":path", "/other.Svc/M")][..], &base, &tail].concat();
    let late = [&[(":method", "POST")][..], &base, &tail, &[(":path", path)]].concat();
    for (sid, fields) in [(1, get), (3, no_path), (5, two_paths), (7, late)] {
        whole_call(&mut conv, sid, &block(&fields), 0);
    }
    let mut out = h::frame(kind::HEADERS, END_HEADERS, 9, &h::request_block(path, &[]));
    out.extend(h::frame(kind::DATA, END_STREAM, 9, &h::grpc_message(false, b"\x08\x01")));
    conv.send(Side::Client, &out);
    let mut back = h::frame(
        kind::HEADERS,
        END_HEADERS,
        9,
        &h::literal_block(&[(":status", "2OO"), ("content-type", "application/grpc")]),
    );
    back.extend(h::frame(kind::HEADERS, END_HEADERS | END_STREAM, 9, &h::trailers_block(0)));
    conv.send(Side::Server, &back);
    around(conv)
}

/// The request of [`gzip_members`]: "first" and "second" as two gzip
/// members; the response: one member, then 7 bytes that are not one.
pub fn gzip_members() -> Vec<u8> {
    let two = [gzip_of(&len_field(1, b"first")), gzip_of(&len_field(2, b"second"))].concat();
    let garbage = [gzip_of(&len_field(1, b"reply")), b"garbage".to_vec()].concat();
    call(&two, true, Some(&garbage), &h::trailers_block(0))
}

/// A call whose server's window is 64 kB, then an RST from "the client"
/// whose sequence number is 2^31 away from the next byte: a TCP stack
/// ignores it, and the call's response after it still arrives.
pub fn rst_outside_window() -> Vec<u8> {
    let mut conv = hostile_conn(&[]);
    let mut out = h::frame(kind::HEADERS, END_HEADERS, 1, &h::request_block(super::adversarial::HOSTILE_METHOD, &[]));
    out.extend(h::frame(kind::DATA, END_STREAM, 1, &h::grpc_message(false, b"\x08\x01")));
    conv.send(Side::Client, &out);
    let forged = conv.next_seq(Side::Client).wrapping_add(1 << 31);
    conv.rst_at(Side::Client, forged);
    super::adversarial::respond(&mut conv, 1, 0);
    conv.fin(Side::Client).fin(Side::Server);
    around(conv)
}

/// VLAN tags around every packet of [`fragments_and_vlans`].
pub const VLAN_TAGS: [u16; 9] = [10, 20, 30, 40, 50, 60, 70, 80, 90];

/// A call whose packets all carry nine VLAN tags (tshark decodes them;
/// etherparse alone reads two), and whose 3 kB request segment was cut into
/// IPv4 fragments of 1,200 bytes, sent last first.
pub fn fragments_and_vlans() -> Vec<u8> {
    let mut conv = hostile_conn(&[]);
    let body = vec![0x42u8; 3000];
    let mut req = h::frame(kind::HEADERS, END_HEADERS, 1, &h::request_block(super::adversarial::HOSTILE_METHOD, &[]));
    req.extend(h::frame(kind::DATA, END_STREAM, 1, &h::grpc_message(false, &len_field(1, &body))));
    conv.send(Side::Client, &req);
    super::adversarial::respond(&mut conv, 1, 0);
    conv.fin(Side::Client).fin(Side::Server);
    super::adversarial::around_with(conv, |pcap, ts, ip, hostile| {
        let pieces = if hostile && ip.len() > 3000 { super::ipv4_fragments(ip, 1200) } else { vec![ip.to_vec()] };
        for piece in pieces.iter().rev() {
            let frame = super::with_vlans(&VLAN_TAGS, piece);
            pcap.push_raw(ts, &frame, frame.len() as u32);
        }
    })
}
