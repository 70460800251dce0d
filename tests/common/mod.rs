//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

pub mod measure;
pub mod otlp;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Says why a test (or a check in one) is skipped: `SKIP ...` on standard
/// error, and the test counts as passed. Where skipping is not allowed
/// (`GRPCSCOPE_NO_SKIP` set, as `.ci/run` does) it fails instead: CI must
/// run everything it was set up to run.
pub fn skipped(why: &str) {
    eprintln!("SKIP {why}");
    if std::env::var_os("GRPCSCOPE_NO_SKIP").is_some() {
        panic!("GRPCSCOPE_NO_SKIP is set, so this may not be skipped: {why}");
    }
}

/// `../shared/captures` (or `$GRPCSCOPE_SHARED/captures`) when present;
/// otherwise prints why the calling test is skipped and returns `None`.
pub fn shared_captures(test: &str) -> Option<PathBuf> {
    let base = std::env::var_os("GRPCSCOPE_SHARED").map(PathBuf::from).unwrap_or_else(|| root().join("../shared"));
    let dir = base.join("captures");
    if dir.join("README.md").exists() {
        Some(dir)
    } else {
        skipped(&format!(
            "{test}: the shared capture corpus is not at {} (set GRPCSCOPE_SHARED to its parent)",
            dir.display()
        ));
        None
    }
}

/// Every capture in the shared corpus, with its scenario name.
pub fn shared_scenarios(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        for ext in [".pcap.gz", ".pcapng", ".pcap"] {
            if let Some(stem) = name.strip_suffix(ext) {
                out.push((stem.to_string(), p.clone()));
                break;
            }
        }
    }
    out.sort();
    out
}

/// The scenario's `meta.json`.
pub fn meta(dir: &Path, scenario: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(format!("{scenario}.meta.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Whether tshark can be run; prints why the calling test is skipped if not.
pub fn have_tshark(test: &str) -> bool {
    let ok = Command::new("tshark").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        skipped(&format!("{test}: tshark is not installed (.ci/run installs it: apt-get install tshark)"));
    }
    ok
}

/// Runs tshark with `args`, returning its standard output.
pub fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark").args(args).output().expect("run tshark");
    assert!(out.status.success(), "tshark {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Path of the built grpcscope binary.
pub fn grpcscope_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_grpcscope"))
}

/// Runs the grpcscope binary; returns (status code, stdout, stderr).
pub fn grpcscope(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(grpcscope_bin()).args(args).current_dir(root()).output().expect("run grpcscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Parses JSON Lines.
pub fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

/// A fresh scratch directory for one test.
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("grpcscope-test-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fixture of the project's own.
pub fn fixture(name: &str) -> PathBuf {
    root().join("fixtures").join(name)
}

/// Runs the grpcscope binary with `stdin` piped in.
pub fn grpcscope_stdin(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(grpcscope_bin())
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}
