use super::*;

fn frame(len: u32, kind: u8, flags: u8, sid: u32, payload: &[u8]) -> (FrameHeader, Bytes) {
    let mut b = len.to_be_bytes()[1..].to_vec();
    b.push(kind);
    b.push(flags);
    b.extend_from_slice(&sid.to_be_bytes());
    let h = FrameHeader::parse(&b).unwrap();
    (h, Bytes::copy_from_slice(payload))
}

#[test]
fn header_fields_and_reserved_bit() {
    let h = FrameHeader::parse(&[0, 0x40, 0x00, 1, 0x25, 0x80, 0, 0, 3]).unwrap();
    assert_eq!((h.length, h.kind, h.flags, h.stream_id, h.reserved_bit), (16384, FrameType::HEADERS, 0x25, 3, true));
    assert_eq!(h.kind.flag_names(h.flags), vec!["END_STREAM", "END_HEADERS", "PRIORITY"]);
    assert!(FrameHeader::parse(&[0; 8]).is_none());
}

#[test]
fn data_padding_rules() {
    let (h, p) = frame(6, 0, flags::PADDED | flags::END_STREAM, 1, &[2, b'a', b'b', b'c', 0, 0]);
    assert_eq!(parse_body(&h, &p), Body::Data { pad_len: Some(2), data: 1..4 });
    // Padding that covers the whole payload is allowed (empty data).
    let (h, p) = frame(3, 0, flags::PADDED, 1, &[2, 0, 0]);
    assert_eq!(parse_body(&h, &p), Body::Data { pad_len: Some(2), data: 1..1 });
    // Padding longer than the payload: PROTOCOL_ERROR, reported not trusted.
    let (h, p) = frame(3, 0, flags::PADDED, 1, &[9, 0, 0]);
    assert!(matches!(parse_body(&h, &p), Body::Malformed(m) if m.to_string().contains("padding of 9")));
    // PADDED with an empty payload has no pad-length byte.
    let (h, p) = frame(0, 0, flags::PADDED, 1, &[]);
    assert!(matches!(parse_body(&h, &p), Body::Malformed(_)));
    // Zero-length DATA is fine.
    let (h, p) = frame(0, 0, flags::END_STREAM, 1, &[]);
    assert_eq!(parse_body(&h, &p), Body::Data { pad_len: None, data: 0..0 });
}

#[test]
fn headers_with_priority_and_padding() {
    let mut payload = vec![1u8, 0x80, 0, 0, 5, 15];
    payload.extend_from_slice(&[0x82, 0x86]);
    payload.push(0);
    let (h, p) = frame(payload.len() as u32, 1, flags::PADDED | flags::PRIORITY | flags::END_HEADERS, 7, &payload);
    let Body::Headers { pad_len, priority, fragment } = parse_body(&h, &p) else { panic!() };
    assert_eq!((pad_len, fragment), (Some(1), 6..8));
    assert_eq!(priority, Some(Priority { exclusive: true, depends_on: 5, weight: 16 }));
    // PRIORITY flag but too short for its fields.
    let (h, p) = frame(3, 1, flags::PRIORITY, 1, &[0, 0, 0]);
    assert!(matches!(parse_body(&h, &p), Body::Malformed(_)));
}

#[test]
fn fixed_size_frames() {
    let (h, p) = frame(4, 3, 0, 1, &[0, 0, 0, 8]);
    assert_eq!(parse_body(&h, &p), Body::RstStream { error_code: 8 });
    assert_eq!(error_name(8), "CANCEL");
    let (h, p) = frame(5, 3, 0, 1, &[0; 5]);
    assert!(matches!(parse_body(&h, &p), Body::Malformed(_)));
    let (h, p) = frame(8, 6, flags::ACK, 0, b"12345678");
    assert_eq!(parse_body(&h, &p), Body::Ping { ack: true, opaque: *b"12345678" });
    let (h, p) = frame(4, 8, 0, 0, &[0x80, 0, 0x10, 0]);
    assert_eq!(parse_body(&h, &p), Body::WindowUpdate { increment: 4096 });
    let (h, p) = frame(5, 2, 0, 3, &[0, 0, 0, 1, 255]);
    assert_eq!(parse_body(&h, &p), Body::Priority(Priority { exclusive: false, depends_on: 1, weight: 256 }));
}

#[test]
fn settings_goaway_push_continuation_unknown() {
    let (h, p) = frame(12, 4, 0, 0, &[0, 4, 0, 1, 0, 0, 0, 5, 0, 0, 0x40, 0]);
    assert_eq!(parse_body(&h, &p), Body::Settings { ack: false, params: vec![(4, 65536), (5, 16384)] });
    assert_eq!(setting_name(4), "INITIAL_WINDOW_SIZE");
    let (h, p) = frame(7, 4, 0, 0, &[0; 7]);
    assert!(
        matches!(parse_body(&h, &p), Body::Malformed(m) if m == FrameError::SettingsLength { len: 7 } || m.to_string().contains("multiple of 6"))
    );
    let (h, p) = frame(6, 4, flags::ACK, 0, &[0; 6]);
    assert!(matches!(parse_body(&h, &p), Body::Malformed(_)));
    let (h, p) = frame(12, 7, 0, 0, &[0, 0, 0, 5, 0, 0, 0, 2, b'b', b'y', b'e', b'!']);
    assert_eq!(parse_body(&h, &p), Body::GoAway { last_stream_id: 5, error_code: 2, debug: 8..12 });
    let (h, p) = frame(5, 5, flags::END_HEADERS, 1, &[0, 0, 0, 2, 0x82]);
    assert_eq!(parse_body(&h, &p), Body::PushPromise { pad_len: None, promised_stream_id: 2, fragment: 4..5 });
    let (h, p) = frame(2, 9, flags::END_HEADERS, 1, &[0x82, 0x86]);
    assert_eq!(parse_body(&h, &p), Body::Continuation { fragment: 0..2 });
    let (h, p) = frame(3, 0xfa, 0xff, 9, b"ext");
    assert_eq!((parse_body(&h, &p), h.kind.name()), (Body::Unknown, "UNKNOWN(250)".to_string()));
}

#[test]
fn maximum_sizes_and_plausibility() {
    let (h, _) = frame(0xff_ffff, 0, 0, 1, &[]);
    assert_eq!(h.length, 16_777_215);
    assert!(!h.is_plausible(16_384), "longer than the peer allows");
    assert!(h.is_plausible(16_777_215));
    let (h, _) = frame(8, 6, 0, 0, &[]);
    assert!(h.is_plausible(16_384));
    let (h, _) = frame(8, 6, 0, 1, &[]);
    assert!(!h.is_plausible(16_384), "PING on a stream");
    let (h, _) = frame(4, 0, 0x2, 1, &[]);
    assert!(!h.is_plausible(16_384), "undefined flag");
    let (h, _) = frame(6, 4, flags::ACK, 0, &[]);
    assert!(!h.is_plausible(16_384), "SETTINGS ACK with a payload");
}
