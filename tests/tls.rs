//! Issue 19: TLS decrypted with key logs, and described without them, on
//! the shared corpus's grpc-js capture over TLS 1.3 (AES-256-GCM).
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs grpcscope with SSLKEYLOGFILE set to `env_keylog` (or unset).
fn run(args: &[&str], env_keylog: Option<&Path>) -> (i32, String, String) {
    let mut cmd = Command::new(common::grpcscope_bin());
    cmd.args(args).current_dir(common::root()).env_remove("SSLKEYLOGFILE");
    if let Some(k) = env_keylog {
        cmd.env("SSLKEYLOGFILE", k);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn scenario(test: &str) -> Option<(PathBuf, PathBuf, PathBuf, String)> {
    let dir = common::shared_captures(test)?;
    let protos = dir.join("protos").to_string_lossy().into_owned();
    Some((dir.join("tls_keylog.pcap"), dir.join("tls_keylog.pcapng"), dir.join("tls_keylog.keys"), protos))
}

fn methods(calls: &[serde_json::Value]) -> Vec<String> {
    calls.iter().map(|c| c["method"].as_str().unwrap_or("?").to_string()).collect()
}

fn conn(path: &Path, extra: &[&str]) -> serde_json::Value {
    let p = path.to_str().unwrap();
    let (code, out, err) = run(&[&["conns", "--format", "json"], extra, &[p]].concat(), None);
    assert_eq!(code, 0, "{err}");
    common::json_lines(&out).into_iter().next().expect("one connection")
}

#[test]
fn the_keys_inside_a_pcapng_a_key_log_flag_and_sslkeylogfile_decrypt_the_same_calls() {
    let Some((pcap, pcapng, keys, protos)) = scenario("tls_decrypts_three_ways") else { return };
    let (p, n, k) = (pcap.to_str().unwrap(), pcapng.to_str().unwrap(), keys.to_str().unwrap());
    let args = ["calls", "--format", "json", "--proto-path", &protos];
    let (c1, inside, e1) = run(&[&args[..], &[n]].concat(), None);
    let (c2, flag, e2) = run(&[&args[..], &["--tls-keylog", k, p]].concat(), None);
    let (c3, env, e3) = run(&[&args[..], &[p]].concat(), Some(&keys));
    assert_eq!((c1, c2, c3), (0, 0, 0), "{e1}{e2}{e3}");
    let inside = common::json_lines(&inside);
    assert_eq!(inside.len(), 24, "the truth has 24 calls");
    assert_eq!(methods(&inside), methods(&common::json_lines(&flag)));
    assert_eq!(methods(&inside), methods(&common::json_lines(&env)));
    let chat = inside.iter().find(|c| c["method"] == "/demo.shop.v1.Cart/Chat").unwrap();
    assert_eq!(chat["requests"][0]["json"]["text"], "secret 0 🔑", "{chat}");
    assert!(e1.is_empty() && e2.is_empty(), "no note when everything was decrypted: {e1}{e2}");

    let tls = &conn(&pcapng, &[])["tls"];
    assert_eq!(tls["version"], "TLS 1.3");
    assert_eq!(tls["cipher_suite"], "TLS_AES_256_GCM_SHA384");
    assert_eq!(tls["server_name"], "shop.demo.internal");
    assert_eq!(tls["alpn"], "h2", "ALPN chosen, read from the decrypted EncryptedExtensions");
    assert_eq!(tls["decryption"], "decrypted");
    assert_eq!(tls["auth_failures"], 0);
    // TLS 1.3 alerts are encrypted: decrypted, they are named.
    let (_, text, _) = run(&["conns", n], None);
    assert!(text.contains("client sent alert warning close_notify: an orderly close"), "{text}");
}

#[test]
fn without_keys_the_connection_is_described_and_the_missing_calls_are_said() {
    let Some((pcap, _, _, protos)) = scenario("tls_without_keys") else { return };
    let p = pcap.to_str().unwrap();
    let (code, out, err) = run(&["calls", "--proto-path", &protos, p], None);
    assert_eq!(code, 0);
    assert!(!out.contains("/demo.shop"), "nothing decoded without keys: {out}");
    assert!(err.contains("1 connection(s) encrypted, no keys") && err.contains("--tls-keylog"), "{err}");
    let tls = &conn(&pcap, &[])["tls"];
    assert_eq!(tls["decryption"], "no_key");
    assert_eq!(tls["server_name"], "shop.demo.internal");
    assert_eq!(tls["alpn"], serde_json::Value::Null, "TLS 1.3 says the chosen ALPN only encrypted");
    assert_eq!(tls["alpn_offered"][0], "h2");
    assert_eq!(tls["client_random"].as_str().map(str::len), Some(8));
    assert!(tls["app_records"][0].as_u64().unwrap() > 10 && tls["app_records"][1].as_u64().unwrap() > 10, "{tls}");
    let (_, text, _) = run(&["conns", p], None);
    assert!(text.contains("encrypted: no key for client random"), "{text}");
}

#[test]
fn a_wrong_key_is_an_authentication_failure_not_garbage() {
    let Some((pcap, _, keys, _)) = scenario("tls_wrong_key") else { return };
    let dir = common::scratch_dir("tls_wrong_key");
    // Every secret with its last hex digit changed.
    let wrong: String = std::fs::read_to_string(&keys)
        .unwrap()
        .lines()
        .map(|l| {
            let mut l = l.to_string();
            let last = l.pop().map_or('0', |c| if c == '0' { '1' } else { '0' });
            format!("{l}{last}\n")
        })
        .collect();
    let bad = dir.join("wrong.keys");
    std::fs::write(&bad, wrong).unwrap();
    let b = bad.to_str().unwrap();
    let tls = conn(&pcap, &["--tls-keylog", b])["tls"].clone();
    assert_eq!(tls["decryption"], "authentication_failed", "{tls}");
    assert!(tls["auth_failures"].as_u64().unwrap() > 0);
    let (code, frames, _) = run(&["frames", "--tls-keylog", b, pcap.to_str().unwrap()], None);
    assert_eq!(code, 0);
    assert!(!frames.contains("HEADERS") && !frames.contains("DATA"), "no frame from undecrypted bytes: {frames}");
}

#[test]
fn secrets_never_reach_any_output() {
    let Some((_, pcapng, keys, protos)) = scenario("tls_secrets_never_printed") else { return };
    let n = pcapng.to_str().unwrap();
    let secrets: Vec<String> = std::fs::read_to_string(&keys)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_lowercase))
        .collect();
    assert!(secrets.len() >= 4);
    let runs: [&[&str]; 6] = [
        &["calls", "-v", "--proto-path", &protos, n],
        &["calls", "--format", "json", "--proto-path", &protos, n],
        &["conns", "--format", "json", n],
        &["conns", n],
        &["frames", "-v", n],
        &["explain", n],
    ];
    for args in runs {
        let (code, out, err) = run(args, None);
        assert_eq!(code, 0, "{args:?}: {err}");
        let all = (out + &err).to_lowercase();
        for s in &secrets {
            assert!(!all.contains(&s[..32]), "{args:?} printed a secret");
        }
    }
}

// The project's own fixtures (examples/fixturegen/tls.rs): tonic over
// rustls, with the client's key log beside each capture.

fn fixture_conns(name: &str, keys: bool) -> Vec<serde_json::Value> {
    let pcap = common::fixture(&format!("{name}.pcap"));
    let keylog = common::fixture(&format!("{name}.keys"));
    let mut args = vec!["conns", "--format", "json"];
    if keys {
        args.extend(["--tls-keylog", keylog.to_str().unwrap()]);
    }
    args.push(pcap.to_str().unwrap());
    let (code, out, err) = run(&args, None);
    assert_eq!(code, 0, "{err}");
    common::json_lines(&out)
}

fn fixture_calls(name: &str) -> Vec<serde_json::Value> {
    let pcap = common::fixture(&format!("{name}.pcap"));
    let keylog = common::fixture(&format!("{name}.keys"));
    let args = [
        "calls",
        "--format",
        "json",
        "--proto-path",
        "protos",
        "--tls-keylog",
        keylog.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ];
    let (code, out, err) = run(&args, None);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "everything decrypted, nothing to say: {err}");
    common::json_lines(&out)
}

fn skus(calls: &[serde_json::Value]) -> Vec<String> {
    calls.iter().map(|c| c["requests"][0]["json"]["sku"].as_str().unwrap_or("?").to_string()).collect()
}

/// The SKUs fixturegen's `three_calls` asks for under each tag, in order.
fn three_each(tags: &[&str]) -> Vec<String> {
    tags.iter().flat_map(|t| [format!("{t}-0"), format!("{t}-1"), format!("missing-{t}")]).collect()
}

fn field<'a>(conns: &'a [serde_json::Value], key: &str) -> Vec<&'a serde_json::Value> {
    conns.iter().map(|c| &c["tls"][key]).collect()
}

#[test]
fn tls13_every_suite_a_hello_retry_and_a_key_update_decrypt() {
    let calls = fixture_calls("tls13");
    assert_eq!(skus(&calls), three_each(&["aes128", "aes256", "rekeyed", "chacha"]));
    let statuses: Vec<_> = calls.iter().map(|c| c["grpc_status_name"].as_str().unwrap_or("?")).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "NOT_FOUND").count(), 4, "{statuses:?}");
    assert_eq!(calls[6]["responses"][0]["json"]["sku"], "rekeyed-0", "a response after the KeyUpdate decodes");

    let conns = fixture_conns("tls13", true);
    let suites: Vec<_> = field(&conns, "cipher_suite").into_iter().cloned().collect();
    assert_eq!(suites, ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]);
    let json = |v: Vec<&serde_json::Value>| serde_json::Value::Array(v.into_iter().cloned().collect());
    assert_eq!(json(field(&conns, "hello_retry")), serde_json::json!([true, false, false]));
    // The client's KeyUpdate asks the server to update too: one each way.
    assert_eq!(json(field(&conns, "key_updates")), serde_json::json!([0, 2, 0]));
    assert!(field(&conns, "decryption").iter().all(|d| **d == "decrypted"), "{conns:?}");
    assert!(field(&conns, "server_name").iter().all(|d| **d == "inventory.fixtures.internal"));
    assert!(field(&conns, "alpn").iter().all(|d| **d == "h2"));
}

#[test]
fn tls12_every_ecdhe_suite_with_extended_master_secret_decrypts() {
    let calls = fixture_calls("tls12");
    assert_eq!(skus(&calls), three_each(&["aes128", "aes256", "chacha"]));
    let conns = fixture_conns("tls12", true);
    assert!(field(&conns, "version").iter().all(|v| **v == "TLS 1.2"));
    let suites: Vec<_> = field(&conns, "cipher_suite").into_iter().cloned().collect();
    assert_eq!(
        suites,
        [
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        ]
    );
    // Without keys, TLS 1.2 shows the chosen ALPN in the clear.
    let plain = fixture_conns("tls12", false);
    assert!(field(&plain, "alpn").iter().all(|d| **d == "h2"));
    assert!(field(&plain, "decryption").iter().all(|d| **d == "no_key"));
}

#[test]
fn failed_mtls_handshakes_name_their_alert_with_and_without_keys() {
    // Without keys: only TLS 1.2's alerts are in the clear, and its certificates.
    let plain = fixture_conns("tls_failures", false);
    assert_eq!(plain.len(), 5);
    assert_eq!(plain[2]["tls"]["alerts"][0]["description"], "unknown_ca");
    assert_eq!(plain[2]["tls"]["alerts"][0]["from"], "client");
    assert_eq!(plain[2]["why_ended"], "client sent TLS alert unknown_ca; then FIN by client");
    assert!(plain[0]["tls"]["alerts"].as_array().unwrap().is_empty(), "TLS 1.3 alerts are encrypted");
    // What is left is an inference, marked as one; the good connection gets none.
    let why = plain[0]["why_ended"].as_str().unwrap();
    assert!(
        why.starts_with("closed after only 2/2 encrypted records c/s: the TLS handshake probably failed (inferred;"),
        "{why}"
    );
    assert!(!plain[3]["why_ended"].as_str().unwrap().contains("inferred"), "{}", plain[3]["why_ended"]);
    assert!(plain[0]["tls"]["server_certificates"].as_array().unwrap().is_empty(), "and so are its certificates");
    let leaf = &plain[2]["tls"]["server_certificates"][0];
    assert_eq!(leaf["subject"], "CN=inventory.fixtures.internal");
    assert_eq!(leaf["issuer"], "CN=grpcscope fixtures CA");
    assert_eq!(leaf["san"][0], "DNS:inventory.fixtures.internal");
    assert_eq!(leaf["validity"], "valid");
    // The server whose certificate expired in 2021, and the client that said so.
    let stale = &plain[4];
    assert_eq!(stale["tls"]["server_certificates"][0]["validity"], "expired");
    assert_eq!(stale["tls"]["server_certificates"][0]["not_after"], 1_609_459_200, "2021-01-01");
    assert_eq!(stale["why_ended"], "client sent TLS alert certificate_expired; then FIN by client");

    let keyed = fixture_conns("tls_failures", true);
    assert_eq!(keyed[0]["tls"]["alerts"][0]["description"], "certificate_required");
    assert_eq!(keyed[0]["tls"]["alerts"][0]["from"], "server");
    assert!(keyed[0]["why_ended"].as_str().unwrap().starts_with("server sent TLS alert certificate_required"));
    assert_eq!(keyed[0]["tls"]["server_certificates"][0]["subject"], "CN=inventory.fixtures.internal", "decrypted");
    assert_eq!(keyed[1]["tls"]["alerts"][0]["description"], "unknown_ca");
    assert_eq!(keyed[1]["tls"]["alerts"][0]["from"], "client");
    assert_eq!(keyed[3]["tls"]["decryption"], "decrypted");
    assert_eq!(keyed[3]["tls"]["client_certificates"][0]["subject"], "CN=checkout", "the mTLS client's, decrypted");

    // The channel counts its failed handshakes: those whose alert could be read.
    let (_, text, _) = run(&["conns", "fixtures/tls_failures.pcap"], None);
    assert!(text.contains("127.0.0.1:50074: 4 connection(s), 4 established, 3 reconnect(s), 0 failed attempt(s), 1 failed TLS handshake(s)"), "{text}");
    let (_, text, _) =
        run(&["conns", "--tls-keylog", "fixtures/tls_failures.keys", "fixtures/tls_failures.pcap"], None);
    assert!(text.contains("0 failed attempt(s), 3 failed TLS handshake(s)"), "{text}");

    let calls = fixture_calls("tls_failures");
    assert_eq!(skus(&calls), ["mtls-1"], "only the client with a certificate got a call through");

    let (code, out, _) =
        run(&["stats", "--tls-keylog", "fixtures/tls_failures.keys", "fixtures/tls_failures.pcap"], None);
    assert_eq!(code, 0);
    assert!(
        out.contains(
            "5 TLS connection(s): 3 decrypted, 0 encrypted without keys; fatal TLS alerts: client sent \
             certificate_expired x1, client sent unknown_ca x2, server sent certificate_required x1"
        ),
        "{out}"
    );
}

#[test]
fn explain_narrates_the_handshake_in_order_with_the_labels_of_its_secrets() {
    let keys = common::fixture("tls13.keys");
    let pcap = common::fixture("tls13.pcap");
    let args = ["explain", "--tls-keylog", keys.to_str().unwrap(), "--conn", "1", pcap.to_str().unwrap()];
    let (code, text, err) = run(&args, None);
    assert_eq!(code, 0, "{err}");
    let order = [
        "C->S  TLS ClientHello",
        "S->C  TLS HelloRetryRequest",
        "S->C  TLS ServerHello",
        "S->C  TLS keys from SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "S->C  TLS EncryptedExtensions (decrypted)",
        "S->C  TLS Certificate (decrypted)",
        "S->C  TLS Finished (decrypted)",
        "S->C  TLS keys from SERVER_TRAFFIC_SECRET_0",
        "C->S  TLS keys from CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "C->S  TLS Finished (decrypted)",
        "C->S  TLS keys from CLIENT_TRAFFIC_SECRET_0",
        "C->S  HTTP/2 client preface",
    ];
    let at: Vec<usize> = order.iter().map(|s| text.find(s).unwrap_or_else(|| panic!("no {s:?} in:\n{text}"))).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "out of order: {at:?}");
    assert!(text.contains("CN=inventory.fixtures.internal"), "the decrypted certificate is named");

    let args = ["explain", "--tls-keylog", keys.to_str().unwrap(), "--conn", "2", pcap.to_str().unwrap()];
    let (_, text, _) = run(&args, None);
    assert_eq!(text.matches("TLS KeyUpdate (decrypted)").count(), 2, "the client's, then the server's answer");

    // Without keys, only what is in the clear: TLS 1.2's whole handshake up
    // to ChangeCipherSpec, and its alert.
    let pcap = common::fixture("tls_failures.pcap");
    let (_, text, _) = run(&["explain", "--conn", "5", pcap.to_str().unwrap()], None);
    for s in ["TLS ServerHello", "TLS Certificate", "TLS ServerKeyExchange", "TLS ServerHelloDone"] {
        assert!(text.contains(s), "no {s:?} in:\n{text}");
    }
    assert!(text.contains("C->S  TLS alert fatal certificate_expired"), "{text}");
    assert!(!text.contains("(decrypted)"), "{text}");
}

/// Each direction's TCP byte stream as tshark reassembles it (by relative
/// sequence number), with the packet each byte came in: an oracle for where
/// grpcscope says a decrypted frame's records were captured.
type Streams = std::collections::HashMap<(u64, bool), Vec<Option<(u8, u64)>>>;

fn tshark_streams(pcap: &Path, server_port: u16) -> Streams {
    let p = pcap.to_str().unwrap();
    let text = common::tshark(&[
        "-r",
        p,
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "tcp.stream",
        "-e",
        "tcp.dstport",
        "-e",
        "tcp.seq",
        "-e",
        "tcp.payload",
        "-Y",
        "tcp.len > 0",
    ]);
    let mut out = Streams::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (packet, stream, to_server, seq) = (
            f[0].parse::<u64>().unwrap(),
            f[1].parse::<u64>().unwrap(),
            f[2] == server_port.to_string(),
            f[3].parse::<u64>().unwrap(),
        );
        let bytes: Vec<u8> =
            (0..f[4].len() / 2).map(|i| u8::from_str_radix(&f[4][2 * i..2 * i + 2], 16).unwrap()).collect();
        let s = out.entry((stream + 1, to_server)).or_default();
        // Relative sequence numbers start at 1 after the SYN: byte 0 is seq 1.
        let at = (seq - 1) as usize;
        if s.len() < at + bytes.len() {
            s.resize(at + bytes.len(), None);
        }
        for (i, b) in bytes.iter().enumerate() {
            s[at + i].get_or_insert((*b, packet));
        }
    }
    out
}

type Carriers = Vec<std::sync::Arc<grpcscope::exchange::Carrier>>;

/// Frames of a decrypted capture (connection, direction, decrypted range),
/// with the TLS records that carried them.
#[derive(Default)]
struct Carried(Vec<(u64, grpcscope::tcp::Dir, u64, u64, Carriers)>);

impl grpcscope::analysis::Sink for Carried {
    fn h2_event(&mut self, ev: &grpcscope::h2::H2Event) -> grpcscope::analysis::Flow {
        if let grpcscope::h2::H2Event::Frame(f) = ev {
            let end = f.offset + 9 + u64::from(f.header.length);
            self.0.push((f.conn, f.dir, f.offset, end, f.carriers.clone()));
        }
        grpcscope::analysis::CONTINUE
    }
}

#[test]
fn every_decrypted_frame_points_at_the_captured_records_that_carried_it() {
    if !common::have_tshark("every_decrypted_frame_points_at_the_captured_records_that_carried_it") {
        return;
    }
    for (name, port) in [("tls13", 50072u16), ("tls12", 50073)] {
        let pcap = common::fixture(&format!("{name}.pcap"));
        let mut cfg = grpcscope::analysis::PipelineConfig::new();
        cfg.keep_tls_records = true;
        cfg.tls_keys.add_text(&std::fs::read_to_string(common::fixture(&format!("{name}.keys"))).unwrap());
        let mut cap = grpcscope::capture::FileCapture::open(&pcap).unwrap();
        let mut p = grpcscope::analysis::Pipeline::new(cfg, Carried::default());
        while let Some(pkt) = cap.next_packet() {
            let _ = p.packet(&pkt);
        }
        p.finish();
        let streams = tshark_streams(&pcap, port);
        let frames = &p.sink.0;
        assert!(frames.len() > 50, "{name}: {} frames decrypted", frames.len());
        let mut records = 0;
        let mut plain_at = std::collections::BTreeSet::new();
        for (conn, dir, start, end, carriers) in frames {
            assert!(!carriers.is_empty(), "{name} conn {conn}: a decrypted frame with no record");
            // Together the records hold every byte of the frame, in order.
            assert!(carriers.first().unwrap().plain.start <= *start && carriers.last().unwrap().plain.end >= *end);
            assert!(carriers.windows(2).all(|w| w[0].plain.end == w[1].plain.start && w[0].seq < w[1].seq));
            let stream = &streams[&(*conn, *dir == grpcscope::tcp::Dir::ToServer)];
            for c in carriers {
                let at = c.span.offset as usize;
                let captured: Vec<u8> = stream[at..at + c.span.len as usize].iter().map(|b| b.unwrap().0).collect();
                assert_eq!(c.captured_bytes.as_deref(), Some(&captured[..]), "{name} conn {conn} record {}", c.seq);
                assert_eq!((captured[0], captured[1]), (23, 3), "an application_data record's header");
                assert_eq!(u16::from_be_bytes([captured[3], captured[4]]) as u64 + 5, c.span.len);
                // Its packets are those tshark saw its first and last bytes in.
                assert_eq!(c.first_packet, stream[at].unwrap().1, "{name} conn {conn} record {}", c.seq);
                assert_eq!(c.span.packet, stream[at + c.span.len as usize - 1].unwrap().1);
                // Plaintext sits after the header (and TLS 1.2's explicit nonce).
                plain_at.insert(c.plain_at);
                assert_eq!(c.captured(c.plain.start), Some(c.span.offset + u64::from(c.plain_at)));
                records += 1;
            }
        }
        assert!(records >= frames.len() / 4, "{name}: {records} records for {} frames", frames.len());
        // TLS 1.2's AES-GCM records carry an 8-byte explicit nonce; its
        // ChaCha20 records and all of TLS 1.3's do not.
        let expect: Vec<u32> = if name == "tls12" { vec![5, 13] } else { vec![5] };
        assert_eq!(plain_at.into_iter().collect::<Vec<_>>(), expect, "{name}");
    }
}
