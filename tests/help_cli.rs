//! --help with examples on every command, the man pages and the shell
//! completions (issue 10, part 4).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;

const COMMANDS: &[&str] = &["calls", "stats", "conns", "frames", "explain", "completions", "man"];

#[test]
fn every_command_has_help_with_examples_that_name_it() {
    let (code, out, _) = grpcscope(&["--help"]);
    assert_eq!(code, 0);
    for c in COMMANDS {
        assert!(out.contains(&format!("  {c} ")), "--help lists {c}:\n{out}");
        let (code, help, err) = grpcscope(&[c, "--help"]);
        assert_eq!(code, 0, "{c}: {err}");
        assert!(help.contains("Examples:"), "{c} --help has no examples:\n{help}");
        assert!(help.contains(&format!("grpcscope {c} ")), "{c}'s examples use it:\n{help}");
    }
}

#[test]
fn man_pages_are_written_for_every_command() {
    let dir = scratch_dir("man");
    let (code, _, err) = grpcscope(&["man", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let page = std::fs::read_to_string(dir.join("grpcscope.1")).unwrap();
    assert!(page.starts_with(".ie") || page.contains(".TH grpcscope 1"), "{page}");
    for c in COMMANDS {
        let page = std::fs::read_to_string(dir.join(format!("grpcscope-{c}.1"))).unwrap();
        assert!(page.contains(&format!(".TH grpcscope-{c} 1")), "{c}: {page}");
    }
    let explain = std::fs::read_to_string(dir.join("grpcscope-explain.1")).unwrap();
    assert!(explain.contains("\\-\\-call") && explain.contains("RFC"), "{explain}");
}

#[test]
fn completions_know_the_commands_and_flags() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, err) = grpcscope(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        for word in ["explain", "redact-field", "max-streams", "proto-path"] {
            assert!(out.contains(word), "{shell} completions lack {word}");
        }
    }
    let (code, _, err) = grpcscope(&["completions", "tcsh"]);
    assert_eq!(code, 2);
    assert!(err.contains("possible values"), "{err}");
}

/// Each command's `--filter` help suggests only filters that command
/// accepts: every quoted example parses for its kind of record, and the
/// examples' commands (`grpcscope conns --filter '...'`) do too.
#[test]
fn every_filter_example_in_help_parses_for_its_command() {
    use grpcscope::filter::{Filter, CALL_FIELDS, CONN_FIELDS, FRAME_FIELDS};
    for (c, fields) in
        [("calls", &CALL_FIELDS), ("stats", &CALL_FIELDS), ("frames", &FRAME_FIELDS), ("conns", &CONN_FIELDS)]
    {
        let (_, help, _) = grpcscope(&[c, "--help"]);
        // The option's own help, unwrapped, between "e.g." and "(see".
        let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let start = flat.find("that match EXPR, e.g.").or_else(|| flat.find("matches EXPR, e.g.")).expect(c);
        let end = start + flat[start..].find("(see docs/filters.md)").unwrap();
        let examples: Vec<&str> = flat[start..end].split('\'').skip(1).step_by(2).collect();
        assert!(examples.len() >= 3, "{c}: {examples:?}");
        let mut all = examples.clone();
        let marker = format!("grpcscope {c} --filter '");
        all.extend(flat.split(&marker).skip(1).filter_map(|s| s.split('\'').next()));
        for e in all {
            if let Err(err) = Filter::parse(e, fields) {
                panic!("{c} --help suggests `{e}`, which {c} refuses: {err}");
            }
        }
    }
}
