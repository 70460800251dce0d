//! Issue 20 §3: names, not only addresses. Hosts are named by the
//! capture's DNS answers, a hosts file (`--names`) and kubectl's JSON
//! (`--k8s`), and conns, stats, hop reports and doctor show the names
//! beside the addresses.
mod common;

use common::*;
use grpcscope::synth::doctor::{resolved_then_called, RESOLVED_NAME};
use serde_json::Value;
use std::path::PathBuf;

/// Writes `bytes` as `name` in the test's scratch directory (made empty
/// by its first file).
fn write(dir: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let base = std::env::temp_dir().join(format!("grpcscope-test-{}-{dir}", std::process::id()));
    let dir = if base.exists() { base } else { scratch_dir(dir) };
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn run(args: &[&str]) -> String {
    let (code, out, err) = grpcscope(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

fn conn_names(args: &[&str]) -> Value {
    let mut argv = vec!["conns", "--format", "json"];
    argv.extend_from_slice(args);
    json_lines(&run(&argv)).remove(0)["names"].clone()
}

#[test]
fn dns_answers_in_the_capture_name_the_server_in_conns_and_stats() {
    let pcap = write("names-dns", "resolved.pcap", &resolved_then_called());
    let path = pcap.to_str().unwrap();
    let names = conn_names(&[path]);
    assert_eq!(names["server"]["name"], RESOLVED_NAME);
    assert_eq!(names["server"]["source"], "dns");
    assert!(names["client"].is_null(), "nothing named the client: {names}");

    let text = run(&["conns", path]);
    assert!(text.contains(&format!("channel 10.0.0.7 -> 10.0.0.2:50051 ({RESOLVED_NAME}): 1 connection(s)")), "{text}");
    assert!(
        text.contains(&format!("        names: server 10.0.0.2 = {RESOLVED_NAME} (DNS answer in the capture)")),
        "{text}"
    );

    let stats = run(&["stats", path]);
    assert!(stats.contains("\nNAMES (hosts of the connections"), "{stats}");
    assert!(
        stats.contains(&format!("10.0.0.2                 {RESOLVED_NAME} (DNS answer in the capture)")),
        "{stats}"
    );
    let rows = json_lines(&run(&["stats", "--format", "json", path]));
    let row = rows.iter().find(|r| r["section"] == "name").expect("a name row");
    assert_eq!((row["address"].as_str(), row["name"]["name"].as_str()), (Some("10.0.0.2"), Some(RESOLVED_NAME)));
    assert_eq!(rows[0]["ignored_packets"]["UDP"], 2, "DNS is read for names, not decoded as traffic: {}", rows[0]);
}

/// tshark reads the DNS answers of the same capture as naming the same
/// addresses (the one behind a CNAME by the question's name).
#[test]
fn tshark_reads_the_same_names_in_the_dns_answers() {
    if !have_tshark("tshark_reads_the_same_names_in_the_dns_answers") {
        return;
    }
    let pcap = write("names-tshark", "resolved.pcap", &resolved_then_called());
    let out = std::process::Command::new("tshark")
        .args(["-r", pcap.to_str().unwrap(), "-Y", "dns.flags.response == 1", "-T", "fields"])
        .args(["-e", "dns.qry.name", "-e", "dns.a"])
        .output()
        .unwrap();
    let theirs: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    let ours: Vec<String> = [
        grpcscope::net::dns::response(1, RESOLVED_NAME, &[], &["10.0.0.2".parse().unwrap()]),
        grpcscope::net::dns::response(2, "api.example.com", &["edge.cdn.example.net"], &["192.0.2.9".parse().unwrap()]),
    ]
    .iter()
    .flat_map(|m| grpcscope::net::dns::answers(m).unwrap())
    .map(|(name, ip)| format!("{name}\t{ip}"))
    .collect();
    assert_eq!(theirs, ours);
}

#[test]
fn a_hosts_file_wins_over_dns_and_kubernetes_over_both() {
    let pcap = write("names-files", "resolved.pcap", &resolved_then_called());
    let hosts = write("names-files", "hosts", b"# lab\n10.0.0.2 inventory-vm inventory\n10.0.0.7 checkout-vm\n");
    let k8s = write(
        "names-files",
        "cluster.json",
        br#"{"kind": "List", "items": [
            {"kind": "Pod", "metadata": {"name": "inventory-0", "namespace": "shop", "labels": {"app": "inventory"}},
             "spec": {"nodeName": "node-a"}, "status": {"podIP": "10.0.0.2"}},
            {"kind": "Service", "metadata": {"name": "inventory", "namespace": "shop"},
             "spec": {"clusterIP": "10.96.0.10", "selector": {"app": "inventory"}}}]}"#,
    );
    let (pcap, hosts, k8s) = (pcap.to_str().unwrap(), hosts.to_str().unwrap(), k8s.to_str().unwrap());
    let names = conn_names(&["--names", hosts, pcap]);
    assert_eq!(
        (names["server"]["name"].as_str(), names["server"]["source"].as_str()),
        (Some("inventory-vm"), Some("hosts"))
    );
    assert_eq!(names["client"]["name"], "checkout-vm");
    let names = conn_names(&["--names", hosts, "--k8s", k8s, pcap]);
    assert_eq!(names["server"]["name"], "inventory-0");
    assert_eq!(names["server"]["namespace"], "shop");
    assert_eq!(names["server"]["node"], "node-a");
    assert_eq!(names["server"]["services"], serde_json::json!(["inventory"]));
    assert_eq!(names["client"]["name"], "checkout-vm", "the pod list does not name the client");
}

#[test]
fn a_bad_names_file_says_where_and_what_to_give() {
    let pcap = write("names-bad", "resolved.pcap", &resolved_then_called());
    let hosts = write("names-bad", "hosts", b"10.0.0.2 fine\nbogus line\n");
    let (code, _, err) = grpcscope(&["conns", "--names", hosts.to_str().unwrap(), pcap.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("line 2: \"bogus\" is not an IP address (expected: ADDRESS NAME...)"), "{err}");
    let k8s = write("names-bad", "nodes.json", br#"{"kind": "List", "items": [{"kind": "Node"}]}"#);
    let (code, _, err) = grpcscope(&["conns", "--k8s", k8s.to_str().unwrap(), pcap.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("kubectl get pods,services -A -o json"), "{err}");
}

/// The replicas of the L4 finding by their pod names, and the legs of a
/// proxy's hop report by their hosts' names.
#[test]
fn doctor_and_hop_reports_name_the_hosts() {
    let k8s = write(
        "names-doctor",
        "cluster.json",
        br#"{"kind": "List", "items": [
            {"kind": "Pod", "metadata": {"name": "inventory-0", "namespace": "shop"}, "status": {"podIP": "127.0.0.2"}},
            {"kind": "Pod", "metadata": {"name": "inventory-1", "namespace": "shop"}, "status": {"podIP": "127.0.0.3"}},
            {"kind": "Pod", "metadata": {"name": "inventory-2", "namespace": "shop"}, "status": {"podIP": "127.0.0.4"}}]}"#,
    );
    let l4 = fixture("l4_balancing.pcap");
    let rows = json_lines(&run(&["doctor", "--format", "json", "--k8s", k8s.to_str().unwrap(), l4.to_str().unwrap()]));
    let f = &rows[1];
    assert_eq!(f["rule"], "l4_balancing");
    let named: Vec<(&str, &str)> = f["evidence"]["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["address"].as_str().unwrap(), h["name"]["name"].as_str().unwrap()))
        .collect();
    assert_eq!(named, [("127.0.0.2", "inventory-0"), ("127.0.0.3", "inventory-1"), ("127.0.0.4", "inventory-2")]);
    assert!(f["explanation"].as_str().unwrap().contains("127.0.0.2 (shop/inventory-0): 80 calls over 1 connection"));
    let text = run(&["doctor", "--k8s", k8s.to_str().unwrap(), l4.to_str().unwrap()]);
    assert!(text.contains("  host: 127.0.0.2 = shop/inventory-0 (--k8s pod); 127.0.0.3 = shop/inventory-1"), "{text}");

    let hosts = write("names-doctor", "hosts", b"127.0.0.1 proxy-host\n");
    let proxy = fixture("proxy.pcap");
    let stats = run(&["stats", "--names", hosts.to_str().unwrap(), proxy.to_str().unwrap()]);
    assert!(stats.contains(" -> 127.0.0.1:50081 (proxy-host)  UNAVAILABLE"), "{stats}");
    let rows =
        json_lines(&run(&["stats", "--format", "json", "--names", hosts.to_str().unwrap(), proxy.to_str().unwrap()]));
    let hop = rows.iter().find(|r| r["section"] == "hop").unwrap();
    assert_eq!(hop["legs"][0]["names"]["server"]["name"], "proxy-host", "{hop:#}");
}
