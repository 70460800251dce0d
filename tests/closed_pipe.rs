//! A closed pipe ends the run at once, quietly, with status 0 (issue 16):
//! `grpcscope calls --format json BIG.pcap | head -1`, as ripgrep and
//! tcpdump behave. The capture comes through standard input from a writer
//! that would send 200 MB; the test checks that grpcscope stopped reading
//! long before the end (the writer's pipe broke), not how fast it was.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// A pcap's file header and its records: the stream below repeats the
/// records (the copies are retransmissions of the first: valid, and
/// decoded as such).
fn fixture_header_and_records() -> (Vec<u8>, Vec<u8>) {
    let file = std::fs::read(common::fixture("bench_seed.pcap")).unwrap();
    let (header, records) = file.split_at(24);
    assert!(!records.is_empty());
    (header.to_vec(), records.to_vec())
}

/// The records with `secs` added to each timestamp (little-endian pcap
/// records: seconds, microseconds, captured length, original length), so
/// that time never goes backwards from one copy to the next.
fn shifted(records: &[u8], secs: u32) -> Vec<u8> {
    let mut out = records.to_vec();
    let mut at = 0;
    while at + 16 <= out.len() {
        let ts = u32::from_le_bytes(out[at..at + 4].try_into().unwrap()) + secs;
        out[at..at + 4].copy_from_slice(&ts.to_le_bytes());
        at += 16 + u32::from_le_bytes(out[at + 8..at + 12].try_into().unwrap()) as usize;
    }
    out
}

/// Runs `args` on the stream, reads one line, closes the pipe; returns
/// (exit status, stderr, whether the writer was cut off before the end).
fn first_line_then_close(args: &[&str]) -> (i32, String, bool, String) {
    let copies = 400;
    let (header, records) = fixture_header_and_records();
    let mut child = Command::new(common::grpcscope_bin())
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        if stdin.write_all(&header).is_err() {
            return true;
        }
        (0..copies).any(|i| stdin.write_all(&shifted(&records, 100 * i as u32)).is_err())
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    drop(stdout);
    let status = child.wait().unwrap();
    let cut_off = writer.join().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code().unwrap_or(-1), stderr, cut_off, line)
}

#[test]
fn every_streaming_command_stops_quietly_when_its_output_closes() {
    for args in
        [&["calls", "--format", "json"][..], &["calls"][..], &["frames"][..], &["frames", "--format", "json"][..]]
    {
        let (status, stderr, cut_off, line) = first_line_then_close(args);
        assert!(!line.is_empty(), "{args:?}: printed nothing");
        assert_eq!(status, 0, "{args:?}: exit status; stderr: {stderr}");
        assert_eq!(stderr, "", "{args:?}: nothing on stderr");
        assert!(cut_off, "{args:?}: read the whole 200 MB stream after its output closed");
    }
}

/// `conns` and `stats` print when the capture is done (they need all of
/// it), so a closed pipe cannot save reading; it must still end quietly.
#[test]
fn summaries_end_quietly_on_a_closed_pipe() {
    for cmd in ["conns", "stats"] {
        let mut child = Command::new(common::grpcscope_bin())
            .args([cmd, common::fixture("proxy.pcap").to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{cmd}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{cmd}: nothing on stderr");
    }
}

#[test]
fn completions_survive_a_closed_pipe() {
    let mut child = Command::new(common::grpcscope_bin())
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert!(line.starts_with("_grpcscope()"), "{line}");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no panic, no error");
}
