//! The guides never go stale (issue 10, part 3): every ```console block in
//! docs/incident.md, docs/workshop.md and docs/tls.md is run and its output compared.
//!
//! In a block, a line starting with `$ ` is a command (run by `sh` in the
//! project root, with the built grpcscope first on PATH); the lines after
//! it, up to the next command, are its expected output. A line `...`
//! stands for any number of lines; trailing spaces do not count.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use std::process::Command;

/// A command of a guide and the output it promises.
struct Example {
    line: usize,
    command: String,
    expected: Vec<String>,
}

/// The examples of a markdown file's ```console blocks.
fn examples(markdown: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let mut in_block = false;
    for (i, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block && line.trim() == "```console";
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(cmd) = line.strip_prefix("$ ") {
            out.push(Example { line: i + 1, command: cmd.to_string(), expected: Vec::new() });
        } else if let Some(ex) = out.last_mut() {
            ex.expected.push(line.trim_end().to_string());
        }
    }
    out
}

/// Whether `actual` matches `expected`, where `...` matches any lines.
fn matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e == "..." => (0..=actual.len()).any(|skip| matches(rest, &actual[skip..])),
        Some((e, rest)) => actual.first().is_some_and(|a| a.trim_end() == e.trim_end()) && matches(rest, &actual[1..]),
    }
}

fn run(command: &str) -> String {
    let bin_dir = grpcscope_bin().parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(root())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "`{command}` failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn check_guide(name: &str, at_least: usize) {
    let text = std::fs::read_to_string(root().join("docs").join(name)).unwrap();
    let examples = examples(&text);
    assert!(examples.len() >= at_least, "{name}: {} examples", examples.len());
    let mut failures = Vec::new();
    for ex in &examples {
        assert!(ex.command.starts_with("grpcscope "), "{name}:{}: a guide's commands are grpcscope's", ex.line);
        let actual = run(&ex.command);
        let mut lines: Vec<&str> = actual.lines().collect();
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        let mut expected = ex.expected.clone();
        while expected.last().is_some_and(|l| l.is_empty()) {
            expected.pop();
        }
        if !matches(&expected, &lines) {
            failures.push(format!("{name}:{}: `{}` printed:\n{actual}", ex.line, ex.command));
        }
    }
    assert!(failures.is_empty(), "{} example(s) out of date:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_matcher_understands_ellipses() {
    let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(matches(&e(&["a", "...", "d"]), &["a", "b", "c", "d"]));
    assert!(matches(&e(&["a", "...", "d"]), &["a", "d"]));
    assert!(!matches(&e(&["a", "...", "d"]), &["a", "b"]));
    assert!(!matches(&e(&["a", "b"]), &["a", "b", "c"]));
    assert!(matches(&e(&["a  "]), &["a"]));
}

#[test]
fn the_incident_guide_is_current() {
    check_guide("incident.md", 5);
}

#[test]
fn the_tls_guide_is_current() {
    check_guide("tls.md", 4);
}

#[test]
fn the_workshop_guide_is_current() {
    check_guide("workshop.md", 7);
}
