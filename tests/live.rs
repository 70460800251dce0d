//! Issue 7: live capture. These tests capture real traffic of real tonic
//! peers (examples/fixturegen in helper modes), so they need root or
//! CAP_NET_RAW; CI runs as root. They skip, saying why, otherwise.
mod common;

use common::tmux::{ui_command, Tmux};
use common::*;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn fixturegen() -> PathBuf {
    grpcscope_bin().parent().unwrap().join("examples/fixturegen")
}

/// Live tests need root, the example binary, and a usable loopback.
fn can_capture(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        skipped(&format!("{test}: live capture needs root or CAP_NET_RAW (CI runs as root)"));
        return false;
    }
    if !fixturegen().exists() {
        skipped(&format!("{test}: {} not built (cargo test builds it)", fixturegen().display()));
        return false;
    }
    true
}

/// A port unlikely to clash between concurrently running tests.
fn port(offset: u16) -> u16 {
    41_000 + (std::process::id() % 1000) as u16 * 10 + offset
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server(addr: &str, netns: Option<&str>) -> Killed {
    let mut cmd = netns_cmd(netns, fixturegen().to_str().unwrap());
    cmd.args(["serve", addr]);
    let child = Killed(cmd.spawn().unwrap());
    std::thread::sleep(Duration::from_millis(400));
    child
}

fn netns_cmd(netns: Option<&str>, program: &str) -> Command {
    match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, program]);
            c
        }
        None => Command::new(program),
    }
}

/// Starts grpcscope and waits for its "capturing on" line.
fn start_grpcscope(args: &[&str], netns: Option<&str>) -> (Child, BufReader<std::process::ChildStderr>) {
    let mut cmd = netns_cmd(netns, grpcscope_bin().to_str().unwrap());
    let mut child = cmd.args(args).current_dir(root()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("capturing on"), "grpcscope did not start: {line}");
    (child, err)
}

fn interrupt(child: &Child) {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
}

fn finish(child: Child, mut err: BufReader<std::process::ChildStderr>) -> (i32, String, String) {
    let mut rest = String::new();
    let out = child.wait_with_output().unwrap();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), rest)
}

fn call(addr: &str, n: usize, netns: Option<&str>) {
    let status =
        netns_cmd(netns, fixturegen().to_str().unwrap()).args(["call", addr, &n.to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn live_calls_on_loopback_and_the_w_file() {
    if !can_capture("live_calls_on_loopback_and_the_w_file") {
        return;
    }
    let p = port(0);
    let addr = format!("127.0.0.1:{p}");
    let _srv = server(&addr, None);
    let dir = scratch_dir("live-lo");
    let w = dir.join("ticket.pcap");
    let bpf = format!("tcp port {p}");
    let (gs, err) = start_grpcscope(
        &["calls", "-i", "lo", "-f", &bpf, "--format", "json", "--proto-path", "protos", "-w", w.to_str().unwrap()],
        None,
    );
    call(&addr, 3, None);
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&gs);
    let (code, out, stderr) = finish(gs, err);
    assert_eq!(code, 0, "{stderr}");
    let calls = json_lines(&out);
    assert_eq!(calls.len(), 4, "{out}");
    let skus: Vec<&str> = calls.iter().map(|c| c["requests"][0]["json"]["sku"].as_str().unwrap()).collect();
    assert_eq!(skus, ["sku-0", "sku-1", "sku-2", "missing-1"]);
    assert!(calls[..3].iter().all(|c| c["grpc_status_name"] == "OK"));
    assert_eq!(
        (calls[3]["grpc_status_name"].as_str(), calls[3]["error_origin"].as_str()),
        (Some("NOT_FOUND"), Some("application"))
    );
    assert!(calls.iter().all(|c| c["method"] == "/grpcscope.fixtures.v1.Inventory/GetPart"));
    assert!(stderr.contains("0 dropped by the kernel"), "{stderr}");
    // The -w file holds the same traffic: grpcscope decodes the same calls...
    let (code, from_file, _) = grpcscope(&["calls", "--format", "json", "--proto-path", "protos", w.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(json_lines(&from_file), calls);
    // ...and tshark reads every packet of it.
    let captured: u64 = stderr.split(" packets captured").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
    if have_tshark("live_calls_on_loopback_and_the_w_file (tshark part)") {
        let frames = tshark(&["-r", w.to_str().unwrap(), "-T", "fields", "-e", "frame.number"]);
        assert_eq!(frames.lines().count() as u64, captured);
    }
}

#[test]
fn count_duration_and_an_open_call_at_ctrl_c() {
    if !can_capture("count_duration_and_an_open_call_at_ctrl_c") {
        return;
    }
    let p = port(1);
    let addr = format!("127.0.0.1:{p}");
    let _srv = server(&addr, None);
    let bpf = format!("tcp port {p}");
    // -c: stops by itself after 5 packets.
    let (gs, err) = start_grpcscope(&["frames", "-i", "lo", "-f", &bpf, "-c", "5", "--format", "json"], None);
    call(&addr, 2, None);
    let (code, _, stderr) = finish(gs, err);
    assert_eq!(code, 0);
    assert!(stderr.contains("5 packets captured"), "{stderr}");
    // --duration: stops by itself.
    let t0 = Instant::now();
    let (gs, err) = start_grpcscope(&["conns", "-i", "lo", "-f", &bpf, "--duration", "0.5"], None);
    let (code, _, _) = finish(gs, err);
    assert_eq!(code, 0);
    assert!(t0.elapsed() < Duration::from_secs(5));
    // Live text says its calls come in the order they end (issue 22).
    let (gs, err) = start_grpcscope(&["calls", "-i", "lo", "-f", &bpf, "--duration", "1.5"], None);
    call(&addr, 1, None);
    let (code, out, _) = finish(gs, err);
    assert_eq!(code, 0);
    assert!(
        out.lines().next().is_some_and(|h| h.ends_with("FIRST REQUEST  (live: each call prints when it ends)")),
        "{out}"
    );
    // Ctrl-C while a call waits for its answer: printed, marked incomplete.
    let (gs, err) = start_grpcscope(&["calls", "-i", "lo", "-f", &bpf, "--format", "json"], None);
    let slow = Killed(Command::new(fixturegen()).args(["slow", &addr]).spawn().unwrap());
    std::thread::sleep(Duration::from_millis(800));
    interrupt(&gs);
    let (code, out, _) = finish(gs, err);
    drop(slow);
    assert_eq!(code, 0);
    let calls = json_lines(&out);
    assert_eq!(calls.len(), 1, "{out}");
    assert_eq!((calls[0]["complete"].as_bool(), calls[0]["end"].is_null()), (Some(false), true));
    assert!(calls[0]["notes"].as_array().unwrap().iter().any(|n| n["code"] == "incomplete"));
}

#[test]
fn periodic_statistics() {
    if !can_capture("periodic_statistics") {
        return;
    }
    let p = port(2);
    let addr = format!("127.0.0.1:{p}");
    let _srv = server(&addr, None);
    let bpf = format!("tcp port {p}");
    let (gs, err) = start_grpcscope(&["stats", "-i", "lo", "-f", &bpf, "--interval", "0.3", "--duration", "1.5"], None);
    call(&addr, 2, None);
    let (code, out, _) = finish(gs, err);
    assert_eq!(code, 0);
    assert!(out.matches("--- ").count() >= 2, "statistics every interval: {out}");
    assert!(
        out.lines().filter(|l| l.starts_with("--- ")).all(|l| l.contains(" (since ")),
        "cumulative, and says so: {out}"
    );
    assert!(
        out.trim_end().lines().any(|l| l.starts_with("3 calls: 2 ok, 1 application errors")),
        "and at the end: {out}"
    );
}

#[test]
fn per_interval_statistics_count_each_interval_alone() {
    if !can_capture("per_interval_statistics_count_each_interval_alone") {
        return;
    }
    let p = port(5);
    let addr = format!("127.0.0.1:{p}");
    let _srv = server(&addr, None);
    let bpf = format!("tcp port {p}");
    let args = ["stats", "-i", "lo", "-f", &bpf, "--interval", "0.4", "--per-interval", "--duration", "2"];
    let (gs, err) = start_grpcscope(&args, None);
    call(&addr, 2, None);
    let (code, out, _) = finish(gs, err);
    assert_eq!(code, 0);
    let heads: Vec<&str> = out.lines().filter(|l| l.starts_with("--- ")).collect();
    assert!(heads.len() >= 2 && heads.iter().all(|l| l.contains(" (the last 0.4s)")), "{out}");
    // The three calls are counted in the interval they ended in, and only there.
    let counted: u64 = out.lines().filter_map(|l| l.split_once(" calls: ")?.0.parse::<u64>().ok()).sum();
    assert_eq!(counted, 3, "{out}");
}

#[test]
fn permission_errors_say_what_is_missing() {
    if !can_capture("permission_errors_say_what_is_missing") {
        return;
    }
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            grpcscope_bin().to_str().unwrap(),
            "calls",
            "-i",
            "lo",
        ])
        .output();
    let Ok(out) = out else {
        skipped("permission_errors_say_what_is_missing: setpriv (util-linux) is not available");
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not permitted to capture on lo")
            && err.contains("CAP_NET_RAW")
            && err.contains("setcap")
            && err.contains("NET_RAW"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            grpcscope_bin().to_str().unwrap(),
            "calls",
            "-i",
            "lo",
            "--promisc",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("CAP_NET_ADMIN"));
}

#[test]
fn privileges_are_dropped_after_opening() {
    if !can_capture("privileges_are_dropped_after_opening") {
        return;
    }
    let p = port(3);
    let addr = format!("127.0.0.1:{p}");
    let _srv = server(&addr, None);
    let bpf = format!("tcp port {p}");
    let (gs, err) = start_grpcscope(&["calls", "-i", "lo", "-f", &bpf, "-Z", "nobody", "--format", "json"], None);
    let pid = gs.id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid_line.split_whitespace().skip(1).all(|u| u == "65534"), "{uid_line}");
    call(&addr, 1, None);
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&gs);
    let (code, out, _) = finish(gs, err);
    assert_eq!(code, 0);
    assert_eq!(json_lines(&out).len(), 2, "capture goes on after the switch");
}

/// A network namespace with a veth pair: the pod of docs/debug-pod.md.
struct Pod {
    name: String,
}

impl Pod {
    fn create(tag: &str) -> Option<Pod> {
        let name = format!("gs-{tag}-{}", std::process::id() % 100_000);
        let host = format!("vh{}", std::process::id() % 100_000);
        let pod = format!("vp{}", std::process::id() % 100_000);
        let net = format!("10.{}.{}", 200 + (std::process::id() % 50), (std::process::id() / 50) % 250);
        let steps: Vec<Vec<String>> = vec![
            vec!["netns".into(), "add".into(), name.clone()],
            vec![
                "link".into(),
                "add".into(),
                host.clone(),
                "type".into(),
                "veth".into(),
                "peer".into(),
                "name".into(),
                pod.clone(),
            ],
            vec!["link".into(), "set".into(), pod.clone(), "netns".into(), name.clone()],
            vec!["addr".into(), "add".into(), format!("{net}.1/24"), "dev".into(), host.clone()],
            vec!["link".into(), "set".into(), host.clone(), "up".into()],
            vec![
                "netns".into(),
                "exec".into(),
                name.clone(),
                "ip".into(),
                "addr".into(),
                "add".into(),
                format!("{net}.2/24"),
                "dev".into(),
                pod.clone(),
            ],
            vec![
                "netns".into(),
                "exec".into(),
                name.clone(),
                "ip".into(),
                "link".into(),
                "set".into(),
                pod.clone(),
                "up".into(),
            ],
            vec![
                "netns".into(),
                "exec".into(),
                name.clone(),
                "ip".into(),
                "link".into(),
                "set".into(),
                "lo".into(),
                "up".into(),
            ],
        ];
        let p = Pod { name };
        for s in steps {
            let ok = Command::new("ip").args(&s).status().is_ok_and(|st| st.success());
            if !ok {
                skipped(&format!("a network namespace cannot be built here (ip {})", s.join(" ")));
                return None;
            }
        }
        std::env::set_var("GS_POD_NET", &net);
        std::env::set_var("GS_POD_IF", &pod);
        Some(p)
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

#[test]
fn a_network_namespace_stands_in_for_the_pod() {
    if !can_capture("a_network_namespace_stands_in_for_the_pod") {
        return;
    }
    let Some(pod) = Pod::create("pod") else { return };
    let net = std::env::var("GS_POD_NET").unwrap();
    let pod_if = std::env::var("GS_POD_IF").unwrap();
    let ns = Some(pod.name.as_str());
    // The app listens in the pod; the debug container shares its netns.
    let _app = server("0.0.0.0:50051", ns);
    let dir = scratch_dir("pod");
    let w = dir.join("pod.pcap");
    // Traffic from outside the pod arrives on its interface...
    let (gs, err) = start_grpcscope(
        &["calls", "-i", &pod_if, "-f", "tcp port 50051", "--format", "json", "-w", w.to_str().unwrap()],
        ns,
    );
    call(&format!("{net}.2:50051"), 2, None);
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&gs);
    let (code, out, stderr) = finish(gs, err);
    assert_eq!(code, 0, "{stderr}");
    let calls = json_lines(&out);
    assert_eq!(calls.len(), 3, "{out}");
    assert_eq!(calls[0]["conn"]["server"], format!("{net}.2:50051"));
    // ...and a sidecar talking to the app inside the pod uses lo.
    let (gs, err) = start_grpcscope(&["calls", "-i", "lo", "-f", "tcp port 50051", "--format", "json"], ns);
    call("127.0.0.1:50051", 1, ns);
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&gs);
    let (_, out, _) = finish(gs, err);
    assert_eq!(json_lines(&out).len(), 2);
    // The -w file (brought back with `kubectl cp`) decodes the same calls outside.
    let (_, from_file, _) = grpcscope(&["calls", "--format", "json", w.to_str().unwrap()]);
    assert_eq!(json_lines(&from_file), calls);
}

#[test]
fn the_ui_on_live_traffic_follows_pauses_and_counts_drops() {
    if !can_capture("the_ui_on_live_traffic_follows_pauses_and_counts_drops") {
        return;
    }
    let p = port(4);
    let addr = format!("127.0.0.1:{p}");
    let _srv = server(&addr, None);
    let cmd = ui_command(&format!("-i lo -f 'tcp port {p}' --proto-path protos"));
    let Some(t) = Tmux::start("tui_live", &cmd, 140, 40) else { return };
    t.wait_for(&["LIVE lo |", "following"]);
    call(&addr, 3, None);
    // Rows appear as calls end; follow keeps the newest selected.
    let s = t.wait_for(&["Calls 4 ", "sku (1): \"missing-1\"", "| 0 dropped"]);
    assert!(s.contains("NOT_FOUND"), "{s}");
    // Paused: new calls are kept, not shown, until resumed.
    t.keys(&["p"]);
    t.wait_for(&["PAUSED"]);
    call(&addr, 3, None);
    std::thread::sleep(Duration::from_millis(500));
    assert!(t.screen().contains("Calls 4 "), "{}", t.screen());
    t.keys(&["p"]);
    t.wait_for(&["Calls 8 "]);
    // A call the server answers after 5 s keeps its connection open: the
    // Connections view lists it while it is, and its final record after.
    let mut slow = netns_cmd(None, fixturegen().to_str().unwrap()).args(["slow", &addr]).spawn().unwrap();
    t.keys(&["3"]);
    let s = t.wait_for(&["Connections 3 ", "open now (last packet"]);
    assert!(s.contains(&format!("127.0.0.1:{p}")), "{s}");
    slow.wait().unwrap();
    t.wait_until("the slow connection's end", |s| s.contains("Connections 3 ") && !s.contains("open now"));
    // Quitting prints the counters on the restored terminal.
    t.keys(&["q"]);
    let s = t.wait_for(&["grpcscope exited with 0"]);
    assert!(s.contains("0 dropped by the kernel"), "{s}");
}

#[test]
fn live_tls_follows_a_key_log_written_after_the_records() {
    if !can_capture("live_tls_follows_a_key_log_written_after_the_records") {
        return;
    }
    // Timing on a loaded machine (CI runs the live tests side by side with
    // fresh captures through nginx and HAProxy) once lost this scenario's
    // handshake or keys: up to three tries, each on its own port, every
    // failure printed; three failures fail the test.
    let mut failures = Vec::new();
    for offset in [7, 6, 9] {
        match live_tls_attempt(port(offset)) {
            Ok(()) => return,
            Err(why) => {
                eprintln!("live_tls_follows_a_key_log_written_after_the_records: try on port {}: {why}", port(offset));
                failures.push(why);
            }
        }
    }
    panic!("three tries failed:\n{}", failures.join("\n---\n"));
}

/// One run of the scenario above on port `p`: what went wrong, if anything.
fn live_tls_attempt(p: u16) -> Result<(), String> {
    let dir = scratch_dir(&format!("live-tls-{p}"));
    let keys = dir.join("keys.log");
    std::fs::write(&keys, "").unwrap();
    let bpf = format!("tcp port {p}");
    let with_keys = dir.join("ticket.pcapng");
    let (gs, err) = start_grpcscope(
        &[
            "calls",
            "-i",
            "lo",
            "-f",
            &bpf,
            "--format",
            "json",
            "--proto-path",
            "protos",
            "--tls-keylog",
            keys.to_str().unwrap(),
            "-w",
            with_keys.to_str().unwrap(),
            "--write-keys",
        ],
        None,
    );
    // Three calls whose keys reach the file only after them, then one after.
    let status =
        Command::new(fixturegen()).args(["tls-live", &p.to_string(), keys.to_str().unwrap(), "3"]).status().unwrap();
    if !status.success() {
        interrupt(&gs);
        let _ = finish(gs, err);
        return Err(format!("fixturegen tls-live {p} failed: {status}"));
    }
    std::thread::sleep(Duration::from_millis(500));
    interrupt(&gs);
    let (code, out, stderr) = finish(gs, err);
    if code != 0 {
        return Err(format!("exit {code}: {stderr}"));
    }
    let calls = json_lines(&out);
    let mut skus: Vec<&str> = calls.iter().map(|c| c["requests"][0]["json"]["sku"].as_str().unwrap_or("?")).collect();
    skus.sort();
    if skus != ["after-keys", "live-tls-0", "live-tls-1", "live-tls-2"] {
        return Err(format!("calls {skus:?}\n{out}\n{stderr}"));
    }
    if !calls.iter().all(|c| c["grpc_status_name"] == "OK") {
        return Err(format!("not all OK: {out}"));
    }
    if stderr.contains("no keys") {
        return Err(format!("a connection was not decrypted: {stderr}"));
    }
    // The -w file carries the keys it was given (--write-keys): it decodes
    // alone. (Here the keys came after the records they decrypt, and so do
    // their Decryption Secrets Blocks: tshark applies a block only to the
    // packets after it; grpcscope holds the records until it has the keys.)
    let (code, from_file, err) =
        grpcscope(&["calls", "--format", "json", "--proto-path", "protos", with_keys.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json_lines(&from_file).len(), 4, "{from_file}\n{err}");
    assert!(!err.contains("no keys"), "{err}");
    Ok(())
}

#[test]
fn the_w_file_holds_no_keys_unless_asked() {
    if !can_capture("the_w_file_holds_no_keys_unless_asked") {
        return;
    }
    let p = port(8);
    let dir = scratch_dir("live-tls-nokeys");
    let keys = dir.join("keys.log");
    std::fs::write(&keys, "").unwrap();
    let w = dir.join("ticket.pcap");
    let bpf = format!("tcp port {p}");
    let (gs, err) = start_grpcscope(
        &["calls", "-i", "lo", "-f", &bpf, "--tls-keylog", keys.to_str().unwrap(), "-w", w.to_str().unwrap()],
        None,
    );
    let status =
        Command::new(fixturegen()).args(["tls-live", &p.to_string(), keys.to_str().unwrap(), "1"]).status().unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(500));
    interrupt(&gs);
    let (code, _, stderr) = finish(gs, err);
    assert_eq!(code, 0, "{stderr}");
    let bytes = std::fs::read(&w).unwrap();
    assert_eq!(bytes[..4], [0x4d, 0x3c, 0xb2, 0xa1], "a nanosecond pcap, not pcapng");
    let secret = std::fs::read_to_string(&keys).unwrap();
    let one = secret.split_whitespace().nth(2).unwrap().to_string();
    assert!(!String::from_utf8_lossy(&bytes).contains(&one), "no secret in the -w file");
    let (_, _, err) = grpcscope(&["calls", w.to_str().unwrap()]);
    assert!(err.contains("encrypted, no keys"), "{err}");
}

/// Runs fixturegen's `scenarios` with real peers, writing their captures
/// into `dir` instead of fixtures/. The scenarios' fixed ports lie in
/// Linux's ephemeral range, where another test's outgoing connection may
/// hold one for a moment: a scenario that could not start gets two more
/// tries, alone.
fn regenerate(scenarios: &[&str], dir: &std::path::Path) {
    let run =
        |names: &[&str]| Command::new(fixturegen()).args(names).env("GRPCSCOPE_FIXTURE_DIR", dir).output().unwrap();
    if run(scenarios).status.success() {
        return;
    }
    for name in scenarios {
        let mut out = run(&[name]);
        for _ in 0..2 {
            if out.status.success() {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
            out = run(&[name]);
        }
        assert!(out.status.success(), "fixturegen {name}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// `severity:rule` of each finding of `doctor --format json ARGS`, and the
/// calls examined.
fn doctor_rules(args: &[&str]) -> (Vec<String>, u64) {
    let mut argv = vec!["doctor", "--format", "json"];
    argv.extend_from_slice(args);
    let (code, out, err) = grpcscope(&argv);
    assert_eq!(code, 0, "{err}");
    rules_of(&out)
}

fn rules_of(json: &str) -> (Vec<String>, u64) {
    let rows = json_lines(json);
    let calls = rows.first().and_then(|r| r["calls"].as_u64()).unwrap_or(0);
    let mut rules: Vec<String> = rows
        .iter()
        .skip(1)
        .map(|f| format!("{}:{}", f["severity"].as_str().unwrap(), f["rule"].as_str().unwrap()))
        .collect();
    rules.sort();
    (rules, calls)
}

/// `doctor -i`: findings from live traffic of real peers (a tonic client
/// pinging every 200 ms), the same as from the file of that traffic.
#[test]
fn doctor_live_finds_what_the_file_of_the_same_traffic_shows() {
    if !can_capture("doctor_live_finds_what_the_file_of_the_same_traffic_shows") {
        return;
    }
    let dir = scratch_dir("doctor-live");
    let (live, err) = start_grpcscope(&["doctor", "-i", "lo", "-f", "tcp port 50078", "--format", "json"], None);
    regenerate(&["keepalive"], &dir);
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&live);
    let (code, out, err) = finish(live, err);
    assert_eq!(code, 0, "{err}");
    let (live_rules, live_calls) = rules_of(&out);
    assert_eq!(live_rules, ["warning:keepalive_too_frequent"], "{out}");
    assert_eq!(live_calls, 3);
    let file = dir.join("keepalive.pcap");
    assert_eq!(doctor_rules(&[file.to_str().unwrap()]), (live_rules, 3));
}

/// The fixtures made through real nginx and HAProxy (and against a C-core
/// server), made again here: a fresh capture of the same peers gives the
/// committed one's findings.
#[test]
fn fresh_captures_through_real_nginx_and_haproxy_give_the_fixtures_findings() {
    let test = "fresh_captures_through_real_nginx_and_haproxy_give_the_fixtures_findings";
    if !can_capture(test) {
        return;
    }
    for proxy in ["nginx", "haproxy"] {
        if Command::new(proxy).arg("-v").output().is_err() {
            return skipped(&format!("{test}: {proxy} is not installed (apt-get install nginx-light haproxy)"));
        }
    }
    let grpcio = Command::new("python3").args(["-c", "import grpc"]).status().is_ok_and(|s| s.success());
    if !grpcio {
        return skipped(&format!("{test}: Python's grpcio is not installed (python3 -m pip install grpcio)"));
    }
    let dir = scratch_dir("fresh-fixtures");
    // Real peers keep real time: on a loaded machine a timing-sensitive
    // scenario (a 100 ms deadline against a 300 ms proxy timeout) may come
    // out otherwise, so each gets three tries to match.
    let scenarios = [
        "proxy",
        "ingress",
        "haproxy",
        "l4_balancing",
        "retries",
        "proxy_retries",
        "slow_handshake",
        "encodings",
        "goaway_error",
        "ccore_keepalive",
        "ccore_late_status",
        "haproxy_ccore",
        "proxy_tls_upstream",
    ];
    regenerate(&scenarios, &dir);
    for name in scenarios {
        let fresh = dir.join(format!("{name}.pcap"));
        let committed = doctor_rules(&[fixture(&format!("{name}.pcap")).to_str().unwrap()]);
        assert!(!committed.0.is_empty(), "{name}: no finding in the committed fixture");
        let mut got = doctor_rules(&[fresh.to_str().unwrap()]);
        for _ in 1..3 {
            if got == committed {
                break;
            }
            regenerate(&[name], &dir);
            got = doctor_rules(&[fresh.to_str().unwrap()]);
        }
        let (_, text, _) = grpcscope(&["doctor", fresh.to_str().unwrap()]);
        assert_eq!(got, committed, "{name}, three fresh captures, the last:\n{text}");
    }
}

#[test]
fn live_calls_stream_to_an_otlp_collector_as_they_end() {
    let test = "live_calls_stream_to_an_otlp_collector_as_they_end";
    if !can_capture(test) {
        return;
    }
    let Some(rx) = common::otlp::Receiver::start(test, &[]) else { return };
    let p = port(7);
    let addr = format!("127.0.0.1:{p}");
    let _srv = server(&addr, None);
    let (bpf, url) = (format!("tcp port {p}"), format!("http://127.0.0.1:{}", rx.grpc));
    let args = ["calls", "-i", "lo", "-f", &bpf, "--otlp", &url, "--otlp-protocol", "grpc", "--proto-path", "protos"];
    let (gs, err) = start_grpcscope(&args, None);
    call(&addr, 3, None);
    // A batch waits a second for company, then goes: before the capture
    // ends (with room for a loaded machine).
    std::thread::sleep(Duration::from_millis(4000));
    let stopped = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    interrupt(&gs);
    let (code, _, stderr) = finish(gs, err);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&format!("4 span(s) exported to {url}")), "{stderr}");
    let (spans, _) = rx.stop();
    assert_eq!(spans.len(), 4);
    for s in &spans {
        assert!(s["received_at"].as_f64().unwrap() < stopped, "a span arrived only at the end: {s}");
        assert_eq!(s["attributes"]["grpcscope.capture"], "live lo");
    }
    let statuses: Vec<&str> =
        spans.iter().map(|s| s["attributes"]["rpc.response.status_code"].as_str().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "OK").count(), 3, "{statuses:?}");
}
