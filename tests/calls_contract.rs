//! docs/calls-jsonl.md must stay in step with the shared contract, and the
//! output must carry every key the contract names.
mod common;

use common::*;

fn contract_keys(text: &str) -> Vec<String> {
    text.lines().filter_map(|l| l.strip_prefix("| `")).filter_map(|l| l.split('`').next()).map(str::to_string).collect()
}

#[test]
fn docs_copy_of_the_contract_is_in_step() {
    let ours = std::fs::read_to_string(root().join("docs/calls-jsonl.md")).unwrap();
    let Some(dir) = shared_captures("docs_copy_of_the_contract_is_in_step") else { return };
    let shared = std::fs::read_to_string(dir.join("../contract/calls-jsonl.md")).unwrap();
    assert!(ours.starts_with(shared.trim_end()), "docs/calls-jsonl.md must begin with the shared contract, unchanged");
}

#[test]
fn every_contract_key_is_in_the_output() {
    let doc = std::fs::read_to_string(root().join("docs/calls-jsonl.md")).unwrap();
    let contract = doc.split("## What grpcscope adds").next().unwrap();
    let keys = contract_keys(contract);
    assert!(keys.len() > 20, "{keys:?}");
    let (code, out, _) =
        grpcscope(&["calls", "--format", "json", "--proto-path", "protos", fixture("errors.pcap").to_str().unwrap()]);
    assert_eq!(code, 0);
    for call in json_lines(&out) {
        let obj = call.as_object().unwrap();
        let msg_keys = ["ts", "compressed", "length", "type", "json", "fields", "error"];
        for k in keys.iter().filter(|k| !msg_keys.contains(&k.as_str())) {
            assert!(obj.contains_key(k.as_str()), "call record lacks {k}");
        }
        for m in obj["requests"].as_array().unwrap() {
            for k in msg_keys {
                assert!(m.get(k).is_some(), "message record lacks {k}");
            }
        }
    }
}
