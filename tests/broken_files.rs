//! Broken capture files (issue 9, part 3): each gives what can be decoded
//! plus a clear warning, and loses nothing that was readable. The cut file
//! and the snaplen-cut payloads are in tests/capture_input.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use grpcscope::capture::file::packets_from_bytes;
use grpcscope::capture::pcapng::{encode_enhanced_packet, encode_section};
use grpcscope::capture::{LinkType, Packet};
use grpcscope::synth::adversarial::open_h2;
use grpcscope::synth::{PcapBuilder, Side};
use grpcscope::time::Timestamp;
use std::path::PathBuf;

/// The packets of fixtures/unary.pcap: six OK calls on one connection.
fn unary_packets() -> Vec<Packet> {
    packets_from_bytes(&std::fs::read(fixture("unary.pcap")).unwrap()).unwrap().0
}

/// The packets as a pcapng with one Ethernet interface (microseconds).
fn as_pcapng(packets: &[Packet]) -> Vec<Vec<u8>> {
    packets.iter().map(|p| encode_enhanced_packet(0, (p.ts.0 / 1000) as u64, &p.data, p.orig_len)).collect()
}

fn write(test: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch_dir(test).join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `calls --format json` on `path`: (statuses of the calls, stderr).
fn calls(path: &std::path::Path) -> (Vec<String>, String) {
    let (code, out, err) = grpcscope(&["calls", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let statuses = json_lines(&out).iter().map(|c| c["grpc_status_name"].as_str().unwrap_or("-").to_string()).collect();
    (statuses, err)
}

fn stats_problems(path: &std::path::Path) -> serde_json::Value {
    let (code, out, err) = grpcscope(&["stats", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    json_lines(&out)[0]["problems"].clone()
}

#[test]
fn a_pcapng_block_with_a_wrong_length_is_skipped_and_reading_resumes() {
    let packets = unary_packets();
    let blocks = as_pcapng(&packets);
    // Damage the block of the last packet (the client's final ACK or FIN):
    // its total length claims 4 bytes more than the block holds, so neither
    // copy of the length matches.
    let victim = blocks.len() - 1;
    let mut file = encode_section(&[(LinkType::ETHERNET, 6)]);
    for (i, b) in blocks.iter().enumerate() {
        let mut b = b.clone();
        if i == victim {
            let wrong = (b.len() as u32 + 4).to_le_bytes();
            b[4..8].copy_from_slice(&wrong);
        }
        file.extend(b);
    }
    // One more good block after the damage proves that reading resumed.
    file.extend(&blocks[0]);
    let path = write("ng-len", "damaged.pcapng", &file);
    let (statuses, err) = calls(&path);
    assert_eq!(statuses, calls(&fixture("unary.pcap")).0, "{err}");
    assert!(err.contains("warning") && err.contains("damaged record") && err.contains("damaged.pcapng"), "{err}");
    let (_, out, _) = grpcscope(&["conns", path.to_str().unwrap()]);
    assert!(out.contains(&format!("{} packets", packets.len())), "{out}");
}

#[test]
fn an_unknown_link_type_is_named_and_the_other_interfaces_decode() {
    let packets = unary_packets();
    // Interface 1 has link type 147 (USER0), which nothing decodes.
    let mut file = encode_section(&[(LinkType::ETHERNET, 6), (LinkType(147), 6)]);
    for (p, b) in packets.iter().zip(as_pcapng(&packets)) {
        file.extend(b);
        file.extend(encode_enhanced_packet(1, (p.ts.0 / 1000) as u64, b"\x01\x02\x03", 3));
    }
    let path = write("link", "user0.pcapng", &file);
    let (statuses, err) = calls(&path);
    assert_eq!(statuses, calls(&fixture("unary.pcap")).0);
    assert!(err.contains("link type 147 is not decoded") && err.contains("from packet 2 on"), "{err}");
    assert_eq!(err.lines().count(), 1, "one warning per link type: {err}");
    let (_, out, _) = grpcscope(&["conns", path.to_str().unwrap()]);
    assert!(out.contains(&format!("ignored: {} unsupported link type", packets.len())), "{out}");
}

#[test]
fn zero_length_records_and_jumbo_frames() {
    // A call whose request is one 9,000-byte jumbo segment, a 64 kB
    // segment (what segmentation offload hands to the capture), and
    // empty records in between.
    let client = "10.0.0.1:40000".parse().unwrap();
    let mut conv = open_h2(client, Timestamp(1_764_000_000_000_000_000), &[]);
    let h = grpcscope::synth::h2::request_block("/grpcscope.Check/Jumbo", &[]);
    let mut req = grpcscope::synth::h2::frame(1, 4, 1, &h);
    let body = vec![0x0au8; 8000];
    req.extend(grpcscope::synth::h2::frame(0, 0, 1, &grpcscope::synth::h2::grpc_message(false, &body)));
    conv.send(Side::Client, &req);
    let big = vec![0x0au8; 16_000];
    let mut more = Vec::new();
    for _ in 0..4 {
        more.extend(grpcscope::synth::h2::frame(0, 0, 1, &grpcscope::synth::h2::grpc_message(false, &big)));
    }
    more.extend(grpcscope::synth::h2::frame(0, 1, 1, &[]));
    conv.send(Side::Client, &more);
    let mut resp = grpcscope::synth::h2::frame(1, 4, 1, &grpcscope::synth::h2::response_block());
    resp.extend(grpcscope::synth::h2::frame(0, 0, 1, &grpcscope::synth::h2::grpc_message(false, b"")));
    resp.extend(grpcscope::synth::h2::frame(1, 5, 1, &grpcscope::synth::h2::trailers_block(0)));
    conv.send(Side::Server, &resp);
    let mut pcap = PcapBuilder::new(LinkType::ETHERNET);
    for (i, (ts, ip)) in conv.packets.iter().enumerate() {
        pcap.push_ip(*ts, ip);
        if i % 2 == 0 {
            pcap.push_raw(*ts, &[], 0);
        }
    }
    let path = write("jumbo", "jumbo.pcap", &pcap.finish());
    let (code, out, err) = grpcscope(&["calls", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let calls = json_lines(&out);
    assert_eq!(calls.len(), 1, "{out}");
    assert_eq!(calls[0]["grpc_status_name"], "OK");
    let lengths: Vec<u64> =
        calls[0]["requests"].as_array().unwrap().iter().map(|m| m["length"].as_u64().unwrap()).collect();
    assert_eq!(lengths, vec![8000, 16_000, 16_000, 16_000, 16_000]);
    let (_, out, _) = grpcscope(&["conns", path.to_str().unwrap()]);
    assert!(out.contains("ignored:") && out.contains("empty"), "{out}");
}

#[test]
fn timestamps_going_backwards_are_warned_of_and_decoded_in_file_order() {
    let packets = unary_packets();
    let mut pcap = PcapBuilder::new(LinkType::ETHERNET);
    for (i, p) in packets.iter().enumerate() {
        // Packet 11 is stamped a second before packet 10.
        let ts = if i == 10 { Timestamp(p.ts.0 - 1_000_000_000) } else { p.ts };
        pcap.push_raw(ts, &p.data, p.orig_len);
    }
    let path = write("backwards", "backwards.pcap", &pcap.finish());
    let (statuses, err) = calls(&path);
    assert_eq!(statuses, calls(&fixture("unary.pcap")).0);
    assert!(err.contains("backwards 1 time(s), first at packet 11"), "{err}");
}

#[test]
fn a_bad_checksum_is_counted_and_the_segment_decoded_anyway() {
    let packets = unary_packets();
    // The fixture was captured on loopback: every checksum is offloaded
    // (the pseudo-header sum only), which is not an error.
    assert!(stats_problems(&fixture("unary.pcap")).get("bad_checksum").is_none());
    // Flip a bit of the last payload byte of a data-bearing packet in the
    // middle of the calls: a segment damaged in flight, as a tap would see it.
    let with_payload: Vec<usize> = (0..packets.len()).filter(|i| packets[*i].data.len() > 66 + 20).collect();
    let victim = with_payload[with_payload.len() / 2];
    let mut pcap = PcapBuilder::new(LinkType::ETHERNET);
    for (i, p) in packets.iter().enumerate() {
        let mut data = p.data.to_vec();
        if i == victim {
            // Make the checksum a real one first, so that only the damage is wrong.
            fix_tcp_checksum(&mut data);
            *data.last_mut().unwrap() ^= 0x01;
        }
        pcap.push_raw(p.ts, &data, p.orig_len);
    }
    let path = write("checksum", "damaged.pcap", &pcap.finish());
    assert_eq!(stats_problems(&path)["bad_checksum"], 1);
    let (statuses, _) = calls(&path);
    assert_eq!(statuses.len(), 6, "every call is still decoded");
    let (_, out, _) = grpcscope(&["conns", path.to_str().unwrap()]);
    assert!(out.contains("bad_checksum: 1 segment(s)"), "{out}");
    let (_, out, _) = grpcscope(&["conns", "--format", "json", path.to_str().unwrap()]);
    let row = &json_lines(&out)[0];
    let bad = row["client_to_server"]["bad_checksums"].as_u64().unwrap()
        + row["server_to_client"]["bad_checksums"].as_u64().unwrap();
    assert_eq!(bad, 1);
}

/// Replaces the TCP checksum of an Ethernet/IPv4/TCP frame with the correct one.
fn fix_tcp_checksum(frame: &mut [u8]) {
    let ip = 14;
    let ihl = usize::from(frame[ip] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([frame[ip + 2], frame[ip + 3]]));
    let (tcp, end) = (ip + ihl, ip + total);
    let addr = |at: usize| std::net::IpAddr::from([frame[at], frame[at + 1], frame[at + 2], frame[at + 3]]);
    let (src, dst) = (addr(ip + 12), addr(ip + 16));
    frame[tcp + 16..tcp + 18].fill(0);
    let check = grpcscope::net::checksum::tcp_value(src, dst, &frame[tcp..end]);
    frame[tcp + 16..tcp + 18].copy_from_slice(&check.to_be_bytes());
}
