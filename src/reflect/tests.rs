use super::*;
use crate::h2::hpack::literal_without_indexing;

fn server_frame(kind: FrameType, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    crate::h2::frame::emit(kind, flags, stream, payload)
}

fn grpc(body: &[u8]) -> Vec<u8> {
    crate::grpc::message::emit(false, body)
}

fn len_field(n: u8, v: &[u8]) -> Vec<u8> {
    let mut out = vec![(n << 3) | 2];
    out.extend(emit_varint(v.len() as u64));
    out.extend_from_slice(v);
    out
}

fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    fields.iter().flat_map(|(n, v)| literal_without_indexing(n.as_bytes(), v.as_bytes())).collect()
}

/// The requests (field number, value) the client sent on `stream`, and whether it ended the stream.
fn requests(out: &[u8], stream: u32) -> (Vec<(u32, String)>, bool) {
    let (mut reqs, mut ended, mut at) = (Vec::new(), false, 0);
    while let Some(h) = out.get(at..).and_then(FrameHeader::parse) {
        let payload = &out[at + HEADER_LEN..at + h.total_len()];
        if h.kind == FrameType::DATA && h.stream_id == stream {
            ended |= h.has(flags::END_STREAM);
            if payload.len() > 5 {
                for (n, v) in length_delimited_fields(&payload[5..]) {
                    reqs.push((n, String::from_utf8_lossy(v).into_owned()));
                }
            } else if payload.len() == 5 {
                reqs.push((7, String::new()));
            }
        }
        at += h.total_len();
    }
    (reqs, ended)
}

fn file(name: &str, deps: &[&str]) -> Vec<u8> {
    let mut f = len_field(1, name.as_bytes());
    for d in deps {
        f.extend(len_field(3, d.as_bytes()));
    }
    f
}

#[test]
fn lists_services_then_fetches_their_files_and_every_missing_import() {
    let mut s = Session::new("10.0.0.9:50051");
    let first = s.take_output();
    assert!(first.starts_with(PREFACE));
    assert_eq!(requests(&first[PREFACE.len()..], 1).0, vec![(7, String::new())], "list_services first");
    s.receive(&server_frame(FrameType::SETTINGS, 0, 0, &[]));
    s.receive(&server_frame(FrameType::HEADERS, flags::END_HEADERS, 1, &block(&[(":status", "200")])));
    let services = len_field(6, &len_field(1, &len_field(1, b"demo.Svc")));
    s.receive(&server_frame(FrameType::DATA, 0, 1, &grpc(&services)));
    let out = s.take_output();
    assert_eq!(requests(&out, 1).0, vec![(4, "demo.Svc".to_string())], "the file of each service");
    let resp = len_field(4, &len_field(1, &file("demo.proto", &["dep.proto"])));
    s.receive(&server_frame(FrameType::DATA, 0, 1, &grpc(&resp)));
    assert_eq!(requests(&s.take_output(), 1), (vec![(3, "dep.proto".to_string())], false), "then the import");
    let resp = len_field(4, &len_field(1, &file("dep.proto", &[])));
    s.receive(&server_frame(FrameType::DATA, 0, 1, &grpc(&resp)));
    assert_eq!(requests(&s.take_output(), 1), (vec![], true), "nothing more to ask: the stream ends");
    assert!(!s.is_done());
    s.receive(&server_frame(
        FrameType::HEADERS,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &block(&[("grpc-status", "0")]),
    ));
    assert!(s.is_done());
    assert_eq!(s.result().unwrap().len(), 2);
}

#[test]
fn a_server_without_v1_is_asked_again_with_v1alpha() {
    let mut s = Session::new("h:1");
    s.take_output();
    let trailers = block(&[(":status", "200"), ("grpc-status", "12")]);
    s.receive(&server_frame(FrameType::HEADERS, flags::END_HEADERS | flags::END_STREAM, 1, &trailers));
    assert!(!s.is_done());
    let out = s.take_output();
    assert!(String::from_utf8_lossy(&out).contains("grpc.reflection.v1alpha"), "a new stream on the old path");
    assert_eq!(requests(&out, 3).0, vec![(7, String::new())]);
    s.receive(&server_frame(FrameType::HEADERS, flags::END_HEADERS | flags::END_STREAM, 3, &trailers));
    assert!(matches!(s.result(), Err(ReflectError::Refused(e)) if e.contains("grpc-status 12")));
}

#[test]
fn a_server_that_is_not_grpc_or_floods_is_refused() {
    let mut s = Session::new("h:1");
    s.receive(&server_frame(FrameType::HEADERS, flags::END_HEADERS, 1, &block(&[(":status", "404")])));
    assert!(matches!(s.result(), Err(ReflectError::Refused(e)) if e.contains("HTTP 404")));
    let mut s = Session::new("h:1");
    let big = vec![0u8; 1 << 20];
    for _ in 0..70 {
        s.receive(&big);
    }
    assert_eq!(s.result().unwrap_err(), ReflectError::TooLarge);
}
