//! RFC 7541 Appendix C, every example, plus the incomplete-table rules.
use super::*;

fn hex(s: &str) -> Bytes {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    Bytes::from((0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect::<Vec<_>>())
}

fn pairs(b: &DecodedBlock) -> Vec<(String, String)> {
    assert!(b.error.is_none(), "{:?}", b.error);
    b.fields.iter().map(|f| (f.name_str(), f.value_str())).collect()
}

fn table(d: &Decoder) -> Vec<(String, String)> {
    d.table
        .entries()
        .map(|e| (String::from_utf8_lossy(e.name.as_ref().unwrap()).into(), String::from_utf8_lossy(&e.value).into()))
        .collect()
}

fn p(n: &str, v: &str) -> (String, String) {
    (n.to_string(), v.to_string())
}

#[test]
fn c1_integers() {
    let mut at = 0;
    assert_eq!(integer(&[0b01010], &mut at, 5).unwrap(), 10);
    let mut at = 0;
    assert_eq!(integer(&[0b11111, 0b10011010, 0b00001010], &mut at, 5).unwrap(), 1337);
    assert_eq!(at, 3);
    let mut at = 0;
    assert_eq!(integer(&[42], &mut at, 8).unwrap(), 42);
    let mut at = 0;
    assert!(integer(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], &mut at, 5).is_err());
}

#[test]
fn c2_literal_representations() {
    let mut d = Decoder::new(true, Limits::default());
    let b = d.decode(&hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
    assert_eq!(pairs(&b), vec![p("custom-key", "custom-header")]);
    assert_eq!(d.table.size(), 55);
    assert_eq!(b.fields[0].repr.kind, Representation::IncrementalIndexing);

    let mut d = Decoder::new(true, Limits::default());
    let b = d.decode(&hex("040c 2f73 616d 706c 652f 7061 7468"));
    assert_eq!(pairs(&b), vec![p(":path", "/sample/path")]);
    assert_eq!(
        (d.table.size(), b.fields[0].repr.kind, b.fields[0].repr.index),
        (0, Representation::WithoutIndexing, Some(4))
    );

    let mut d = Decoder::new(true, Limits::default());
    let b = d.decode(&hex("1008 7061 7373 776f 7264 0673 6563 7265 74"));
    assert_eq!(pairs(&b), vec![p("password", "secret")]);
    assert_eq!((d.table.size(), b.fields[0].repr.kind), (0, Representation::NeverIndexed));

    let mut d = Decoder::new(true, Limits::default());
    let b = d.decode(&hex("82"));
    assert_eq!(pairs(&b), vec![p(":method", "GET")]);
    assert_eq!(
        b.fields[0].repr,
        FieldRepr {
            kind: Representation::Indexed,
            index: Some(2),
            dynamic: false,
            name_literal: None,
            value_literal: None,
            evicted: 0
        }
    );
}

fn requests(blocks: [&str; 3]) {
    let mut d = Decoder::new(true, Limits::default());
    let b1 = d.decode(&hex(blocks[0]));
    assert_eq!(
        pairs(&b1),
        vec![p(":method", "GET"), p(":scheme", "http"), p(":path", "/"), p(":authority", "www.example.com")]
    );
    assert_eq!((table(&d), d.table.size()), (vec![p(":authority", "www.example.com")], 57));
    let b2 = d.decode(&hex(blocks[1]));
    assert_eq!(
        pairs(&b2),
        vec![
            p(":method", "GET"),
            p(":scheme", "http"),
            p(":path", "/"),
            p(":authority", "www.example.com"),
            p("cache-control", "no-cache")
        ]
    );
    assert_eq!(b2.fields[3].repr.index, Some(62));
    assert!(b2.fields[3].repr.dynamic);
    assert_eq!(d.table.size(), 110);
    let b3 = d.decode(&hex(blocks[2]));
    assert_eq!(
        pairs(&b3),
        vec![
            p(":method", "GET"),
            p(":scheme", "https"),
            p(":path", "/index.html"),
            p(":authority", "www.example.com"),
            p("custom-key", "custom-value")
        ]
    );
    assert_eq!(
        table(&d),
        vec![p("custom-key", "custom-value"), p("cache-control", "no-cache"), p(":authority", "www.example.com")]
    );
    assert_eq!(d.table.size(), 164);
}

#[test]
fn c3_requests_without_huffman() {
    requests([
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ]);
}

#[test]
fn c4_requests_with_huffman() {
    requests([
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ]);
    let mut d = Decoder::new(true, Limits::default());
    let b = d.decode(&hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"));
    assert_eq!(b.fields[3].repr.value_literal, Some(StringRepr { huffman: true, encoded_len: 12, decoded_len: 15 }));
}

fn responses(blocks: [&str; 3]) {
    let mut d = Decoder::new(true, Limits::default());
    d.set_settings_limit(256);
    let date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
    let loc = "https://www.example.com";
    let b1 = d.decode(&hex(blocks[0]));
    assert_eq!(
        pairs(&b1),
        vec![p(":status", "302"), p("cache-control", "private"), p("date", date1), p("location", loc)]
    );
    assert_eq!(d.table.size(), 222);
    let b2 = d.decode(&hex(blocks[1]));
    assert_eq!(
        pairs(&b2),
        vec![p(":status", "307"), p("cache-control", "private"), p("date", date1), p("location", loc)]
    );
    assert_eq!(b2.fields[0].repr.evicted, 1, ":status 302 is evicted to make room");
    assert_eq!(
        table(&d),
        vec![p(":status", "307"), p("location", loc), p("date", date1), p("cache-control", "private")]
    );
    let b3 = d.decode(&hex(blocks[2]));
    let cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
    assert_eq!(
        pairs(&b3),
        vec![
            p(":status", "200"),
            p("cache-control", "private"),
            p("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
            p("location", loc),
            p("content-encoding", "gzip"),
            p("set-cookie", cookie)
        ]
    );
    assert_eq!(
        table(&d),
        vec![p("set-cookie", cookie), p("content-encoding", "gzip"), p("date", "Mon, 21 Oct 2013 20:13:22 GMT")]
    );
    assert_eq!(d.table.size(), 215);
}

#[test]
fn c5_responses_without_huffman() {
    responses([
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
    ]);
}

#[test]
fn c6_responses_with_huffman() {
    responses([
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ]);
}

#[test]
fn an_incomplete_table_reports_unknown_entries_and_relearns() {
    // Mid-connection: the encoder's table holds entries we never saw.
    let mut d = Decoder::new(false, Limits::default());
    // Indexed 62 (unknown), then a literal with incremental indexing of a new name.
    let b = d.decode(&hex("be 400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
    assert_eq!(b.unknown, 1);
    assert_eq!(b.fields[0].name_str(), "?dyn#1");
    assert!(b.error.is_none());
    // Now 62 is the entry just learned; 63 is still unknown.
    let b = d.decode(&hex("be bf"));
    assert_eq!(b.fields[0].name_str(), "custom-key");
    assert_eq!(b.fields[0].value_str(), "custom-header");
    assert!(b.fields[1].is_unknown());
    assert_eq!(b.unknown, 1);
    // A literal whose name refers to an unknown entry: value known, name not.
    let b = d.decode(&hex("7f01 0376 616c"));
    assert_eq!((b.fields[0].name.is_none(), b.fields[0].value_str().as_str()), (true, "val"));
}

#[test]
fn errors_are_reported_and_the_table_is_then_distrusted() {
    let mut d = Decoder::new(true, Limits::default());
    d.decode(&hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
    // Index 70 does not exist in a complete table of one entry.
    let b = d.decode(&hex("82 c6"));
    assert!(b.error.unwrap().to_string().contains("index 70"));
    assert_eq!(b.fields.len(), 1);
    assert!(!d.table.is_complete());
    // Truncated string, bad Huffman, size update too large, size update after a field.
    let mut d = Decoder::new(true, Limits::default());
    assert!(d.decode(&hex("400a 6375")).error.unwrap().to_string().contains("runs past"));
    let mut d = Decoder::new(true, Limits::default());
    assert!(d.decode(&hex("0081 ff")).error.unwrap().to_string().contains("Huffman"));
    // The error is typed: a consumer reacts to its kind, not its text.
    assert_eq!(d.decode(&hex("0081 ff")).error.map(|e| (e.at, e.error)), Some((0, HpackError::Huffman)));
    let mut d = Decoder::new(true, Limits::default());
    assert!(d.decode(&hex("3fe1 ff03")).error.unwrap().to_string().contains("exceeds SETTINGS_HEADER_TABLE_SIZE"));
    let mut d = Decoder::new(true, Limits::default());
    assert!(d.decode(&hex("82 20")).error.unwrap().to_string().contains("after the first field"));
}

#[test]
fn huge_size_updates_and_header_lists_stay_within_limits() {
    let limits = Limits { max_table_size: 1024, max_header_list: 200 };
    let mut d = Decoder::new(false, limits);
    // Incomplete table: the SETTINGS limit is unknown, so a huge update is accepted but capped.
    let b = d.decode(&hex("3fe1 ffff 0f"));
    assert_eq!(b.size_updates[0].max_size, 0x1f + 0x61 + (0x7f << 7) + (0x7f << 14) + (0x0f << 21));
    assert_eq!(d.table.max_size(), 1024);
    // Header list over the limit: fields counted, not kept.
    let mut big = vec![0x00u8, 0x05];
    big.extend_from_slice(b"aname");
    big.push(100);
    big.extend(std::iter::repeat_n(b'v', 100));
    let block: Vec<u8> = big.iter().copied().cycle().take(big.len() * 3).collect();
    let b = d.decode(&Bytes::from(block));
    assert_eq!((b.fields.len(), b.dropped), (1, 2));
}

fn slot(n: u32) -> Option<Slot> {
    Some(Slot { epoch: 0, number: n })
}

#[test]
fn rfc7541_c3_started_mid_way_resolves_every_reference_to_the_same_slot() {
    // C.3 without C.3.1: the decoder joins at the second request. The entry
    // C.3.1 inserted (:authority: www.example.com) is unknown, but it is
    // the same unknown entry at both of its later references.
    let mut d = Decoder::new(false, Limits::default());
    let b = d.decode(&hex("8286 84be 5808 6e6f 2d63 6163 6865"));
    assert!(b.error.is_none(), "{:?}", b.error);
    assert_eq!(b.fields[3].slot, slot(1), "index 62 was the first entry before the capture");
    assert_eq!(b.fields[3].name_str(), "?dyn#1");
    assert_eq!(
        pairs_known(&b),
        vec![p(":method", "GET"), p(":scheme", "http"), p(":path", "/"), p("cache-control", "no-cache")]
    );
    // C.3.3: index 63 is now that same entry, pushed back by cache-control.
    let b = d.decode(&hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"));
    assert!(b.error.is_none(), "{:?}", b.error);
    assert_eq!((b.fields[3].repr.index, b.fields[3].slot), (Some(63), slot(1)));
    assert_eq!(table(&d), vec![p("custom-key", "custom-value"), p("cache-control", "no-cache")]);
    // The next entry behind it is a different unknown entry.
    let b = d.decode(&hex("c1"));
    assert_eq!(b.fields[0].slot, slot(2));
}

fn pairs_known(b: &DecodedBlock) -> Vec<(String, String)> {
    b.fields.iter().filter(|f| !f.is_unknown()).map(|f| (f.name_str(), f.value_str())).collect()
}

#[test]
fn a_literal_named_by_an_unknown_entry_keeps_that_entry_as_its_name() {
    let mut d = Decoder::new(false, Limits::default());
    // Literal with incremental indexing, name index 62 (unknown), value "v1".
    let b = d.decode(&hex("7e02 7631"));
    assert_eq!((b.fields[0].slot, b.fields[0].value_str().as_str()), (slot(1), "v1"));
    // The new entry (62) has ?dyn#1's name; the old ?dyn#1 is at 63 now.
    let b = d.decode(&hex("bebf"));
    assert_eq!((b.fields[0].slot, b.fields[0].value.as_deref()), (slot(1), Some(&b"v1"[..])));
    assert_eq!((b.fields[1].slot, b.fields[1].value.is_none()), (slot(1), true));
}

#[test]
fn unknown_entries_are_evicted_before_known_ones_and_the_table_becomes_complete() {
    let mut d = Decoder::new(false, Limits::default());
    // A size update to 100 bytes: the maximum is now known. Index 62 is still unknown.
    let b = d.decode(&hex("3f45 be"));
    assert_eq!(b.fields[0].slot, slot(1));
    // Insert "aaaa: " + 34 bytes: 70 bytes; no 32-byte entry fits beside it.
    let value = "62".repeat(34);
    let b = d.decode(&hex(&format!("4004 6161 6161 22{value}")));
    assert!(b.error.is_none(), "{:?}", b.error);
    assert!(d.table.is_complete(), "the unknown entries were evicted to make room");
    let b = d.decode(&hex("bf"));
    assert!(matches!(b.error.map(|e| e.error), Some(HpackError::IndexOutsideTable { index: 63, .. })));
}

#[test]
fn a_loss_of_bytes_starts_a_new_epoch_of_slots() {
    let mut d = Decoder::new(false, Limits::default());
    assert_eq!(d.decode(&hex("be")).fields[0].slot, slot(1));
    d.lose_track();
    let f = &d.decode(&hex("be")).fields[0];
    assert_eq!(f.slot, Some(Slot { epoch: 1, number: 1 }));
    assert_eq!(f.name_str(), "?dyn#1.1");
}

#[test]
fn on_a_table_seen_from_its_start_an_index_past_it_is_an_error_not_an_unknown_entry() {
    let mut d = Decoder::new(true, Limits::default());
    // Indexed 5000: 7-bit prefix 127, then 4873 as a varint (0x89 0x26).
    let b = d.decode(&hex("ff 89 26"));
    assert!(matches!(b.error.map(|e| e.error), Some(HpackError::IndexOutsideTable { index: 5000, .. })));
    assert_eq!(b.unknown, 0, "never called an entry inserted before the capture");
}
