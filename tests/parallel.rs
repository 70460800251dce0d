//! Issue 21: `stats` on every core. One capture split across threads by
//! connection gives the figures one thread gives; several captures (named,
//! globbed, a directory) decode in parallel and add up; the other
//! commands take one capture and say so; a progress bar shows on a
//! terminal only.
mod common;

use common::*;
use grpcscope::capture::file::packets_from_bytes;
use grpcscope::capture::writer::PcapWriter;
use grpcscope::net::{decode, Decoded};
use std::path::{Path, PathBuf};

fn stats(args: &[&str]) -> String {
    let (code, out, err) = grpcscope(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

fn summary(out: &str) -> serde_json::Value {
    json_lines(out).into_iter().find(|r| r["section"] == "summary").expect("a summary line")
}

/// Every breakdown, text and JSON, is byte for byte what one thread
/// prints, with two and three threads, on fixtures of every kind
/// (proxies and their hop pairing, reconnects, TLS with keys, a capture
/// begun mid-connection, floods that hit the limits).
#[test]
fn threads_do_not_change_the_figures() {
    let every = ["method/json", "conn/json", "edge/json", "server/json", "method/text", "conn/text"];
    let some = ["method/json", "conn/json", "method/text"];
    let mut captures: Vec<(PathBuf, Vec<String>, &[&str])> = [
        "unary.pcap",
        "errors.pcap",
        "ingress.pcap",
        "haproxy_ccore.pcap",
        "proxy_retries.pcap",
        "reconnect.pcap",
        "l4_balancing.pcap",
        "mid_connection.pcap",
        "bench_seed.pcap",
        "retransmissions.pcap",
        "adversarial/out_of_order_flood.pcap.gz",
    ]
    .iter()
    .map(|f| (fixture(f), Vec::new(), &every[..]))
    .collect();
    let keys = vec!["--tls-keylog".into(), fixture("tls13.keys").display().to_string()];
    captures.push((fixture("tls13.pcap"), keys, &every[..]));
    if let Some(dir) = shared_captures("threads_do_not_change_the_figures") {
        captures.extend(shared_scenarios(&dir).into_iter().map(|(_, p)| (p, Vec::new(), &some[..])));
    }
    let mut calls = 0;
    for (path, extra, views) in &captures {
        let p = path.to_str().unwrap();
        for view in views.iter() {
            let (by, format) = view.split_once('/').unwrap();
            let run = |j: &str| {
                let mut args = vec!["stats", "--by", by, "--format", format, "-j", j, p];
                args.extend(extra.iter().map(String::as_str));
                stats(&args)
            };
            let one = run("1");
            assert_eq!(run("2"), one, "{p} --by {by} --format {format}: 2 threads");
            assert_eq!(run("3"), one, "{p} --by {by} --format {format}: 3 threads");
            if *view == "method/json" {
                calls += summary(&one)["calls"].as_u64().unwrap();
            }
        }
    }
    assert!(calls > 1_000, "the captures hold calls to split: {calls}");
}

/// Two captures: their calls, packets and connections add up, and the
/// second capture's connections are numbered after the first's.
#[test]
fn several_captures_add_up() {
    let (a, b) = (fixture("unary.pcap"), fixture("errors.pcap"));
    let one = |p: &Path| summary(&stats(&["stats", "--format", "json", p.to_str().unwrap()]));
    let (sa, sb) = (one(&a), one(&b));
    let both = stats(&["stats", "--format", "json", "--by", "conn", a.to_str().unwrap(), b.to_str().unwrap()]);
    let s = summary(&both);
    for field in ["calls", "ok", "application_errors", "packets", "tcp_packets", "established_connections"] {
        let sum = sa[field].as_u64().unwrap() + sb[field].as_u64().unwrap();
        assert_eq!(s[field].as_u64(), Some(sum), "{field}: {s}");
    }
    assert_eq!(s["calls"], 13);
    let conns: Vec<serde_json::Value> = json_lines(&both).into_iter().filter(|r| r["section"] == "conn").collect();
    assert_eq!(conns.len(), 2, "{both}");
    assert_eq!((conns[0]["conn"].as_u64(), conns[0]["calls"].as_u64()), (Some(1), Some(6)), "unary.pcap first");
    assert_eq!((conns[1]["conn"].as_u64(), conns[1]["calls"].as_u64()), (Some(2), Some(7)), "then errors.pcap");
    // -r twice is the same.
    let r = stats(&["stats", "--format", "json", "-r", a.to_str().unwrap(), "-r", b.to_str().unwrap()]);
    assert_eq!(summary(&r), s);
}

/// A quoted glob and a directory name their captures in name order; a
/// glob that matches nothing is an error that says so.
#[test]
fn globs_and_directories_name_several_captures() {
    let dir = scratch_dir("parallel-dir");
    std::fs::copy(fixture("unary.pcap"), dir.join("a.pcap")).unwrap();
    std::fs::copy(fixture("errors.pcap"), dir.join("b.pcap")).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a capture").unwrap();
    let whole = summary(&stats(&["stats", "--format", "json", dir.to_str().unwrap()]));
    assert_eq!(whole["calls"], 13, "{whole}");
    let glob = dir.join("*.pcap");
    let globbed = summary(&stats(&["stats", "--format", "json", glob.to_str().unwrap()]));
    assert_eq!(globbed, whole);
    let none = dir.join("zz*.pcap");
    let (code, _, err) = grpcscope(&["stats", none.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("no file matches"), "{err}");
    let empty = scratch_dir("parallel-empty");
    let (code, _, err) = grpcscope(&["stats", empty.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("no capture file in it"), "{err}");
}

/// Commands that print per connection or per call take one capture.
#[test]
fn other_commands_take_one_capture() {
    let (a, b) = (fixture("unary.pcap"), fixture("errors.pcap"));
    for cmd in ["calls", "conns", "frames", "doctor", "explain"] {
        let (code, out, err) = grpcscope(&[cmd, a.to_str().unwrap(), b.to_str().unwrap()]);
        assert_eq!(code, 2, "{cmd}: {out}");
        assert!(err.contains("2 captures given: only `grpcscope stats` merges several"), "{cmd}: {err}");
    }
}

/// Writes the packets of `from` for which `keep(server port)` holds.
fn split(from: &Path, to: &Path, keep: impl Fn(u16) -> bool) {
    let (packets, _) = packets_from_bytes(&std::fs::read(from).unwrap()).unwrap();
    let link = packets[0].link;
    let mut w = PcapWriter::new(Vec::new(), link, 262_144).unwrap();
    for p in &packets {
        if let Decoded::Tcp(seg) = decode(p.link, &p.data) {
            if keep(seg.src.port().min(seg.dst.port())) {
                w.write_packet(p.ts, &p.data, p.orig_len).unwrap();
            }
        }
    }
    std::fs::write(to, w.into_inner()).unwrap();
}

/// The client's side and the upstream side of a proxy, captured apart
/// (two pods), merged: the legs of each call are paired across the files
/// as in the one capture of both.
#[test]
fn hops_pair_across_captures() {
    let whole = fixture("ingress.pcap");
    let dir = scratch_dir("parallel-hops");
    let (front, back) = (dir.join("client-pod.pcap"), dir.join("server-pod.pcap"));
    split(&whole, &front, |port| port == 50082);
    split(&whole, &back, |port| port != 50082);
    let hops = |out: &str| -> Vec<(String, String, usize)> {
        json_lines(out)
            .into_iter()
            .filter(|r| r["section"] == "hop")
            .map(|r| (r["paired_by"].to_string(), r["cause"].to_string(), r["legs"].as_array().unwrap().len()))
            .collect()
    };
    let expected = hops(&stats(&["stats", "--format", "json", whole.to_str().unwrap()]));
    assert_eq!(expected.len(), 2, "ingress.pcap pairs two failed calls across nginx");
    assert!(expected.iter().all(|(_, _, legs)| *legs == 2), "{expected:?}");
    let front_only = hops(&stats(&["stats", "--format", "json", front.to_str().unwrap()]));
    assert!(front_only.iter().all(|(_, _, legs)| *legs == 1), "one side alone has one leg: {front_only:?}");
    let merged = stats(&["stats", "--format", "json", front.to_str().unwrap(), back.to_str().unwrap()]);
    assert_eq!(hops(&merged), expected);
}

/// The progress bar: on a terminal, for more than 100 MB, not with
/// --quiet, never when stderr is not a terminal. The capture is 1,600
/// UDP packets of 64 kB (read fast, decoded to nothing).
#[test]
fn a_progress_bar_on_a_terminal_only() {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        return skipped("a_progress_bar_on_a_terminal_only: no `script` (util-linux) to give it a terminal");
    }
    let dir = scratch_dir("parallel-progress");
    let path = dir.join("big.pcap");
    let mut packet = vec![0u8; 65_000];
    // IPv4, UDP between 10.0.0.1:9 and 10.0.0.2:9 (link type RAW).
    packet[..28].copy_from_slice(&[
        0x45, 0, 0xfd, 0xe8, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0, 9, 0, 9, 0xfd, 0xd4, 0, 0,
    ]);
    let mut w = PcapWriter::new(Vec::new(), grpcscope::capture::LinkType::RAW, 262_144).unwrap();
    for i in 0..1_600u32 {
        let ts = grpcscope::time::Timestamp::from_parts(1_700_000_000 + i64::from(i), 0);
        w.write_packet(ts, &packet, packet.len() as u32).unwrap();
    }
    std::fs::write(&path, w.into_inner()).unwrap();
    let bin = grpcscope_bin();
    let in_terminal = |extra: &str| {
        let cmd = format!("{} stats {extra} {}", bin.display(), path.display());
        let out = std::process::Command::new("script").args(["-qec", &cmd, "/dev/null"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = in_terminal("");
    assert!(shown.contains("reading") && shown.contains("MiB"), "a bar on a terminal: {shown}");
    assert!(shown.contains("1600 packets"), "and the statistics: {shown}");
    let quiet = in_terminal("--quiet");
    assert!(!quiet.contains("reading") && quiet.contains("1600 packets"), "--quiet: {quiet}");
    let (code, _, err) = grpcscope(&["stats", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(!err.contains("reading"), "no bar when stderr is not a terminal: {err}");
}
