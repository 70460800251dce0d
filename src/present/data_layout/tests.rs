use super::*;
use crate::grpc::message::emit;

fn frame(dir: Dir, sid: u32, kind: FrameType, fl: u8, body: Body, payload: Vec<u8>) -> Frame {
    Frame::for_test(dir, sid, kind, fl, body, payload)
}

fn headers(sid: u32, dir: Dir) -> Frame {
    frame(
        dir,
        sid,
        FrameType::HEADERS,
        flags::END_HEADERS,
        Body::Headers { pad_len: None, priority: None, fragment: 0..0 },
        vec![],
    )
}

fn data(sid: u32, bytes: &[u8], end: bool) -> Frame {
    let fl = if end { flags::END_STREAM } else { 0 };
    let body = Body::Data { pad_len: None, data: 0..bytes.len() };
    frame(Dir::ToServer, sid, FrameType::DATA, fl, body, bytes.to_vec())
}

fn described(l: &mut DataLayouts, f: &Frame) -> String {
    l.frame(f).map(|d| d.describe()).unwrap_or_default()
}

#[test]
fn two_whole_messages_in_one_frame_are_both_named() {
    let mut l = DataLayouts::default();
    l.frame(&headers(1, Dir::ToServer));
    let mut bytes = emit(false, &[7; 120]);
    bytes.extend(emit(false, &[8; 33]));
    assert_eq!(described(&mut l, &data(1, &bytes, false)), "2 gRPC messages: 1 (120 B), 2 (33 B)");
    // An empty message is a message too.
    assert_eq!(described(&mut l, &data(1, &emit(false, &[]), true)), "gRPC message 3 (0 B)");
    assert_eq!(l.followed(), 0, "END_STREAM stops following the direction");
}

#[test]
fn a_message_across_three_frames_begins_continues_and_ends() {
    let mut l = DataLayouts::default();
    l.frame(&headers(3, Dir::ToServer));
    let whole = emit(true, &[1; 100]);
    // The prefix itself is split: 3 bytes in the first frame.
    assert_eq!(
        described(&mut l, &data(3, &whole[..3], false)),
        "gRPC message 1 begins (its prefix split across frames)"
    );
    assert_eq!(described(&mut l, &data(3, &whole[3..50], false)), "gRPC message 1 continues (45 of 100 B)");
    let mut rest = whole[50..].to_vec();
    rest.extend(emit(false, &[2; 10])[..4].iter());
    assert_eq!(
        described(&mut l, &data(3, &rest, false)),
        "2 gRPC messages: 1 ends (55 of 100 B), 2 begins (its prefix split across frames)"
    );
}

#[test]
fn boundaries_are_unknown_before_the_headers_and_after_a_loss() {
    let mut l = DataLayouts::default();
    let msg = emit(false, &[1; 10]);
    assert_eq!(l.frame(&data(5, &msg, false)), Some(DataLayout::Unknown(Unknown::BeganBefore)));
    l.frame(&headers(7, Dir::ToServer));
    let mut holed = data(7, &msg, false);
    holed.missing = Some(Box::new(0..3));
    assert_eq!(l.frame(&holed), Some(DataLayout::Unknown(Unknown::Lost)));
    // A hole inside a body loses nothing: the next prefix is where the length says.
    l.frame(&headers(9, Dir::ToServer));
    let mut inside = data(9, &msg, false);
    inside.missing = Some(Box::new(6..9));
    assert_eq!(described(&mut l, &inside), "gRPC message 1 (10 B)");
    l.lost(1, Dir::ToServer);
    assert_eq!(l.frame(&data(9, &msg, false)), Some(DataLayout::Unknown(Unknown::Lost)));
}

#[test]
fn a_reset_forgets_both_directions_and_other_frames_carry_nothing() {
    let mut l = DataLayouts::default();
    l.frame(&headers(1, Dir::ToServer));
    l.frame(&headers(1, Dir::ToClient));
    assert_eq!(l.followed(), 2);
    let rst = frame(Dir::ToClient, 1, FrameType::RST_STREAM, 0, Body::RstStream { error_code: 8 }, vec![]);
    assert_eq!(l.frame(&rst), None);
    assert_eq!(l.followed(), 0);
}

#[test]
fn a_body_that_is_not_grpc_is_never_cut_into_messages() {
    use crate::analysis::{Flow, Pipeline, PipelineConfig, Sink, CONTINUE};
    // proxy.pcap: nginx answers call 5 with a 504 and an HTML page.
    struct Layouts(DataLayouts, Vec<(u64, u32, Dir, Option<DataLayout>)>);
    impl Sink for Layouts {
        fn h2_event(&mut self, ev: &crate::h2::H2Event) -> Flow {
            if let crate::h2::H2Event::Frame(f) = ev {
                let l = self.0.frame(f);
                self.1.push((f.conn, f.header.stream_id, f.dir, l));
            }
            CONTINUE
        }
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/proxy.pcap");
    let mut cap = crate::capture::FileCapture::open(&path).unwrap();
    let mut p = Pipeline::new(PipelineConfig::new(), Layouts(DataLayouts::default(), Vec::new()));
    while let Some(pkt) = cap.next_packet() {
        let _ = p.packet(&pkt);
    }
    p.finish();
    let seen = &p.sink.1;
    let page = seen.iter().find(|(c, s, d, l)| (*c, *s, *d) == (1, 5, Dir::ToClient) && l.is_some());
    assert_eq!(page.and_then(|x| x.3.clone()), Some(DataLayout::Unknown(Unknown::NotGrpc)));
    let grpc = seen.iter().filter(|x| matches!(x.3, Some(DataLayout::Messages(_)))).count();
    assert!(grpc >= 10, "the gRPC bodies are still cut into messages: {grpc}");
    // Without the headers' word, a first byte that is no flags byte says the same.
    let mut l = DataLayouts::default();
    l.frame(&headers(7, Dir::ToServer));
    assert_eq!(
        described(&mut l, &data(7, b"<html>", false)),
        "not gRPC messages: a message would start with flags byte 0x3c (gRPC's are 0 and 1)"
    );
}
