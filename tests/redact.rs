//! `--redact` (issue 9, part 4): no secret survives in any output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use grpcscope::capture::LinkType;
use grpcscope::synth::adversarial::open_h2;
use grpcscope::synth::h2 as h;
use grpcscope::synth::Side;
use grpcscope::time::Timestamp;
use std::path::PathBuf;

/// The secrets the capture carries, each as a raw (not Huffman) literal so
/// that its bytes also appear verbatim in the frames.
const SECRETS: &[(&str, &str)] = &[
    ("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.SECRET-JWT"),
    ("cookie", "session=SECRET-COOKIE-42"),
    ("x-api-key", "SECRET-API-KEY-7"),
    ("x-session-token", "SECRET-SESSION-9"),
];

/// Two calls with the same secrets, on one connection.
/// `test` names the scratch directory: tests run in parallel.
fn capture(test: &str) -> PathBuf {
    let client = "10.0.0.1:40000".parse().unwrap();
    let mut conv = open_h2(client, Timestamp(1_764_000_000_000_000_000), &[]);
    let mut extra: Vec<(&str, &str)> = SECRETS.to_vec();
    extra.push(("x-request-id", "visible-request-id"));
    for sid in [1u32, 3] {
        let mut req = h::frame(1, 4, sid, &h::request_block("/grpcscope.Check/Login", &extra));
        req.extend(h::frame(0, 1, sid, &h::grpc_message(false, b"\x0a\x05alice")));
        conv.send(Side::Client, &req);
        let mut resp =
            h::frame(1, 4, sid, &h::literal_block(&[(":status", "200"), ("set-cookie", "SECRET-SET-COOKIE")]));
        resp.extend(h::frame(0, 0, sid, &h::grpc_message(false, b"")));
        resp.extend(h::frame(1, 5, sid, &h::trailers_block(0)));
        conv.send(Side::Server, &resp);
    }
    conv.fin(Side::Client).fin(Side::Server);
    let path = scratch_dir(test).join("secrets.pcap");
    std::fs::write(&path, conv.to_pcap(LinkType::ETHERNET)).unwrap();
    path
}

fn run(args: &[&str]) -> String {
    let (code, out, err) = grpcscope(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out + &err
}

#[test]
fn no_secret_survives_in_any_command_or_format() {
    let path = capture("redact-all");
    let p = path.to_str().unwrap();
    // Without --redact the secrets are there: the check below can fail.
    let plain = run(&["calls", "-v", p]);
    assert!(plain.contains("SECRET-JWT") && plain.contains("SECRET-SET-COOKIE"), "{plain}");
    for args in [
        vec!["calls"],
        vec!["calls", "-v"],
        vec!["calls", "--format", "json"],
        vec!["calls", "-v", "--format", "json"],
        vec!["frames"],
        vec!["frames", "-v"],
        vec!["frames", "--format", "json"],
        vec!["frames", "-v", "--format", "json"],
        vec!["conns", "-v"],
        vec!["conns", "--format", "json"],
        vec!["stats", "--format", "json"],
    ] {
        let mut a = args.clone();
        a.extend(["--redact", p]);
        let out = run(&a);
        assert!(!out.contains("SECRET"), "{a:?} leaks a secret:\n{out}");
    }
    let out = run(&["calls", "-v", "--redact", p]);
    assert!(out.contains("authorization: <redacted 38 bytes #"), "{out}");
    assert!(out.contains("x-request-id: visible-request-id"), "what is not secret stays: {out}");
}

#[test]
fn equal_values_share_a_hash_and_a_salt_makes_runs_agree() {
    let path = capture("redact-salt");
    let p = path.to_str().unwrap();
    let auth = |out: &str| -> Vec<String> {
        json_lines(out)
            .iter()
            .map(|c| {
                let h = c["request_headers"].as_array().unwrap();
                let a = h.iter().find(|kv| kv[0] == "authorization").unwrap();
                a[1].as_str().unwrap().to_string()
            })
            .collect()
    };
    let a = auth(&run(&["calls", "--format", "json", "--redact", "--redact-salt", "INC-1", p]));
    assert_eq!(a.len(), 2);
    assert_eq!(a[0], a[1], "the same token in two calls hashes alike");
    let b = auth(&run(&["calls", "--format", "json", "--redact", "--redact-salt", "INC-1", p]));
    assert_eq!(a, b, "the same salt, the same hashes");
    let c = auth(&run(&["calls", "--format", "json", "--redact", p]));
    let d = auth(&run(&["calls", "--format", "json", "--redact", p]));
    assert_ne!(c[0], d[0], "without a salt each run has its own key");
}

#[test]
fn the_pattern_is_configurable() {
    let path = capture("redact-pattern");
    let p = path.to_str().unwrap();
    let out = run(&["calls", "-v", "--redact-headers", "^x-request-id$", p]);
    assert!(!out.contains("visible-request-id"), "{out}");
    // The fixed list stays redacted; x-session-token no longer matches.
    assert!(!out.contains("SECRET-JWT") && out.contains("SECRET-SESSION-9"), "{out}");
    let (code, _, err) = grpcscope(&["calls", "--redact-headers", "(", p]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--redact-headers"), "{err}");
}

#[test]
fn message_fields_are_redacted_by_name() {
    let f = fixture("metadata.pcap");
    let p = f.to_str().unwrap();
    let plain = run(&["calls", "-v", "--proto-path", "protos", p]);
    assert!(plain.contains("\"name\": \"Part meta-0"), "{plain}");
    let out = run(&["calls", "-v", "--proto-path", "protos", "--redact-field", "name", p]);
    assert!(!out.contains("Part meta-0"), "{out}");
    assert!(out.contains("\"name\": \"<redacted"), "{out}");
    assert!(out.contains("\"sku\": \"meta-0\""), "other fields stay: {out}");
    // Without a schema nothing names the field: the message is withheld whole.
    let out = run(&["calls", "--format", "json", "--redact-field", "name", p]);
    assert!(!out.contains("Part meta-0"), "{out}");
    assert!(out.contains("withheld by --redact-field"), "{out}");
}

/// Issue 18: `--redact-field` reaches inside grpc-status-details-bin: the
/// decoded details, the base64 value in trailers and frames, and the frame
/// bytes (the ErrorInfo's domain of errors.pcap is the secret here).
#[test]
fn redacted_fields_inside_status_details_leak_nowhere() {
    use base64::Engine;
    let p = fixture("errors.pcap");
    let p = p.to_str().unwrap();
    let secret = "inventory.fixtures";
    let plain = run(&["calls", "--format", "json", "-v", p]);
    assert!(plain.contains(secret), "the fixture carries the secret");
    let args = ["--redact-field", "domain"];
    let json = run(&[&["calls", "--format", "json", "-v"][..], &args, &[p]].concat());
    assert!(!json.contains(secret));
    let mut seen = 0;
    for c in json_lines(&json) {
        for (name, value) in
            c["trailers"].as_array().unwrap().iter().map(|t| (t[0].as_str().unwrap(), t[1].as_str().unwrap()))
        {
            if name == "grpc-status-details-bin" {
                let raw = base64::engine::general_purpose::STANDARD_NO_PAD.decode(value).unwrap();
                assert!(!String::from_utf8_lossy(&raw).contains(secret));
                seen += 1;
            }
        }
        if let Some(d) = c["status_details"]["details"].as_array() {
            for info in d.iter().filter(|x| x["@type"] == "type.googleapis.com/google.rpc.ErrorInfo") {
                assert!(info["domain"].as_str().unwrap().starts_with("<redacted"), "{info}");
                assert_eq!(info["reason"], "SKU_FORMAT", "other fields stay");
            }
        }
    }
    assert!(seen >= 4);
    for cmd in
        [&["frames", "-v"][..], &["frames", "--format", "json", "-v"], &["calls", "-v"], &["explain", "--call", "1"]]
    {
        let out = run(&[cmd, &args, &[p]].concat());
        assert!(!out.contains(secret), "{cmd:?}");
        assert!(!out.contains("aW52ZW50b3J5LmZpeHR1cmVz"), "{cmd:?}: its base64");
    }
}
