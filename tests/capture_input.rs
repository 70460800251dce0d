//! Issue 2: every way of handing grpcscope a capture gives the same answer,
//! and bad input gets one clear line.
mod common;

use common::*;
use grpcscope::capture::file::packets_from_bytes;
use grpcscope::capture::pcapng::{encode_enhanced_packet, encode_section};
use grpcscope::capture::writer::PcapWriter;
use grpcscope::capture::LinkType;
use std::io::Write;

fn conns_json(path: &std::path::Path) -> String {
    let (code, out, err) = grpcscope(&["conns", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "unexpected stderr: {err}");
    out
}

#[test]
fn reconnect_fixture_has_three_connections_and_two_refused_attempts() {
    let out = conns_json(&fixture("reconnect.pcap"));
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 5);
    let ids: Vec<u64> = rows.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    let refused: Vec<u64> =
        rows.iter().filter(|r| r["end"]["kind"] == "refused").map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(refused, vec![2, 4]);
    for r in rows.iter().filter(|r| r["end"]["kind"] != "refused") {
        assert_eq!(r["server"], "127.0.0.1:50066");
        assert!(r["handshake"]["rtt_ms"].as_f64().unwrap() > 0.0);
        assert_eq!(r["end_text"], "FIN by client, then RST by client");
        assert!(r["client_to_server"]["bytes"].as_u64().unwrap() > 300);
    }
}

#[test]
fn gzip_zstd_pcapng_nanoseconds_and_stdin_all_agree() {
    let original = fixture("unary.pcap");
    let bytes = std::fs::read(&original).unwrap();
    let expected = conns_json(&original);
    let dir = scratch_dir("formats");

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&bytes).unwrap();
    let gz_path = dir.join("renamed.bin"); // detected by magic, not by name
    std::fs::write(&gz_path, gz.finish().unwrap()).unwrap();
    assert_eq!(conns_json(&gz_path), expected);

    let zst_path = dir.join("unary.pcap.zst");
    std::fs::write(&zst_path, zstd::encode_all(&bytes[..], 3).unwrap()).unwrap();
    assert_eq!(conns_json(&zst_path), expected);

    let (packets, _) = packets_from_bytes(&bytes).unwrap();
    // pcapng with two interfaces of different link types: packets alternate between them.
    let mut ng = encode_section(&[(LinkType::ETHERNET, 9), (LinkType::RAW, 6)]);
    for (i, p) in packets.iter().enumerate() {
        if i % 2 == 0 {
            ng.extend(encode_enhanced_packet(0, p.ts.0 as u64, &p.data, p.orig_len));
        } else {
            let ip = &p.data[14..];
            ng.extend(encode_enhanced_packet(1, (p.ts.0 / 1000) as u64, ip, ip.len() as u32));
        }
    }
    let ng_path = dir.join("mixed.pcapng");
    std::fs::write(&ng_path, &ng).unwrap();
    assert_eq!(conns_json(&ng_path), expected);

    let (code, out, err) = grpcscope_stdin(&["conns", "--format", "json", "-"], &bytes);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, expected);
    let (_, out_r, _) = grpcscope(&["conns", "--format", "json", "-r", original.to_str().unwrap()]);
    assert_eq!(out_r, expected);
}

#[test]
fn every_link_type_gives_the_same_connections() {
    let bytes = std::fs::read(fixture("streaming.pcap")).unwrap();
    let (packets, _) = packets_from_bytes(&bytes).unwrap();
    let expected = conns_json(&fixture("streaming.pcap"));
    let dir = scratch_dir("links");
    let links = [
        ("sll", LinkType::LINUX_SLL),
        ("sll2", LinkType::LINUX_SLL2),
        ("null", LinkType::NULL),
        ("loop", LinkType::LOOP),
        ("raw", LinkType::RAW),
        ("qinq", LinkType::ETHERNET),
    ];
    for (name, link) in links {
        let wrap = |ip: &[u8]| match name {
            "qinq" => grpcscope::synth::with_vlans(&[10, 20], ip),
            "raw" => ip.to_vec(),
            _ => grpcscope::synth::with_link(link, ip),
        };
        let path = dir.join(format!("{name}.pcap"));
        let mut w = PcapWriter::new(std::fs::File::create(&path).unwrap(), link, 262_144).unwrap();
        for p in &packets {
            let data = wrap(&p.data[14..]);
            w.write_packet(p.ts, &data, data.len() as u32).unwrap();
        }
        w.flush().unwrap();
        drop(w);
        assert_eq!(conns_json(&path), expected, "{name}");
    }
}

#[test]
fn a_file_that_is_not_a_capture_gets_one_error_line_and_status_2() {
    let dir = scratch_dir("notcap");
    let path = dir.join("notes.txt");
    std::fs::write(&path, "these are my notes\n").unwrap();
    let (code, out, err) = grpcscope(&["conns", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("notes.txt") && err.contains("not a capture file") && err.contains("expected pcap or pcapng"),
        "{err}"
    );

    let (code, _, err) = grpcscope(&["conns", "/no/such/file.pcap"]);
    assert_eq!(code, 2);
    assert!(err.contains("/no/such/file.pcap") && err.contains("cannot open"), "{err}");
}

#[test]
fn a_capture_cut_mid_record_decodes_what_came_before_and_warns() {
    let bytes = std::fs::read(fixture("unary.pcap")).unwrap();
    let dir = scratch_dir("cut");
    let path = dir.join("cut.pcap");
    std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
    let (code, out, err) = grpcscope(&["conns", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(json_lines(&out).len(), 1);
    assert!(err.contains("warning") && err.contains("middle of a record") && err.contains("cut.pcap"), "{err}");
}

#[test]
fn snaplen_cut_packets_are_counted_as_gaps_not_panics() {
    let bytes = std::fs::read(fixture("unary.pcap")).unwrap();
    let (packets, _) = packets_from_bytes(&bytes).unwrap();
    let dir = scratch_dir("snaplen");
    let path = dir.join("snap96.pcap");
    let mut w = PcapWriter::new(std::fs::File::create(&path).unwrap(), LinkType::ETHERNET, 96).unwrap();
    for p in &packets {
        let keep = p.data.len().min(96);
        w.write_packet(p.ts, &p.data[..keep], p.orig_len).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let rows = json_lines(&conns_json(&path));
    let full = json_lines(&conns_json(&fixture("unary.pcap")));
    assert_eq!(rows[0]["client_to_server"]["packets"], full[0]["client_to_server"]["packets"]);
    assert!(rows[0]["server_to_client"]["truncated"].as_u64().unwrap() > 0);
    let total = |r: &serde_json::Value, d: &str| r[d]["bytes"].as_u64().unwrap() + r[d]["gap_bytes"].as_u64().unwrap();
    assert_eq!(total(&rows[0], "server_to_client"), full[0]["server_to_client"]["bytes"].as_u64().unwrap());
}

#[test]
fn non_tcp_traffic_is_counted_and_ignored() {
    let bytes = std::fs::read(fixture("unary.pcap")).unwrap();
    let (packets, _) = packets_from_bytes(&bytes).unwrap();
    let dir = scratch_dir("nontcp");
    let path = dir.join("mixed.pcap");
    let mut w = PcapWriter::new(std::fs::File::create(&path).unwrap(), LinkType::ETHERNET, 262_144).unwrap();
    let mut udp = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(5353, 5353).write(&mut udp, b"mdns").unwrap();
    let arp = [[0xffu8; 6].as_slice(), &[2, 0, 0, 0, 0, 1], &[0x08, 0x06], &[0u8; 28]].concat();
    for (i, p) in packets.iter().enumerate() {
        w.write_packet(p.ts, &p.data, p.orig_len).unwrap();
        if i == 3 {
            w.write_packet(p.ts, &udp, udp.len() as u32).unwrap();
            w.write_packet(p.ts, &arp, arp.len() as u32).unwrap();
        }
    }
    w.flush().unwrap();
    drop(w);
    assert_eq!(conns_json(&path), conns_json(&fixture("unary.pcap")));
    let (_, text, _) = grpcscope(&["conns", path.to_str().unwrap()]);
    let footer = text.lines().last().unwrap();
    assert!(footer.contains("ignored: 1 ARP, 1 UDP"), "{footer}");
    assert!(footer.starts_with("1 connection(s);"), "{footer}");
}

/// Issue 18: a compressed capture cut short (an interrupted upload) warns and
/// decodes what is there, whichever the compression, exactly as a cut pcap.
#[test]
fn truncated_gzip_and_zstd_both_warn_and_decode_the_prefix() {
    // Large enough for several zstd blocks: a block cut short is lost whole.
    let bytes = std::fs::read(fixture("bench_seed.pcap")).unwrap();
    let dir = scratch_dir("truncated-compressed");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    gz.write_all(&bytes).unwrap();
    // Stored, not compressed: cutting at a fraction cuts the capture at about that fraction.
    let gz = gz.finish().unwrap();
    let zst = zstd::stream::encode_all(&bytes[..], -5).unwrap();
    let mut counts = Vec::new();
    for (name, data) in [("cut.pcap.gz", gz), ("cut.pcap.zst", zst)] {
        let path = dir.join(name);
        std::fs::write(&path, &data[..data.len() * 3 / 4]).unwrap();
        let (code, out, err) = grpcscope(&["calls", "--format", "json", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{name}: {err}");
        assert!(err.contains("warning") && err.contains("every packet before it was read"), "{name}: {err}");
        counts.push(json_lines(&out).len());
    }
    assert!(counts.iter().all(|n| *n >= 100), "{counts:?}");
}
