//! The real binary's terminal UI, driven inside tmux: keys go in with
//! `send-keys`, the screen comes back with `capture-pane`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::tmux::{ui_command, Tmux};

#[test]
fn open_a_call_filter_on_errors_see_the_ladder_and_quit() {
    let Some(t) = Tmux::start("tui_session", &ui_command("--proto-path protos fixtures/proxy.pcap"), 120, 36) else {
        return;
    };
    t.wait_for(&["Calls 9", "no filter (9 rows)"]);
    // Open the fifth call (the proxy's 504): its detail tree has the focus.
    t.keys(&["Down", "Down", "Down", "Down", "Enter"]);
    let s = t.wait_for(&["x-request-id: rid-timeout", "status: UNAVAILABLE (HTTP 504)"]);
    // The long status line wraps under its node instead of being cut.
    assert!(s.contains("(transport: HTTP 504 instead") && s.contains("of 200 (not a gRPC server"), "{s}");
    // z zooms the detail: the whole screen is the tree, down to the response.
    t.keys(&["z"]);
    let s = t.wait_for(&["zoomed: z again", ":status: 504"]);
    assert!(!s.contains("┌ Calls") && !s.contains("┌ Bytes"), "only the detail is drawn: {s}");
    t.keys(&["z"]);
    t.wait_for(&["┌ Calls 9", "┌ Bytes"]);
    // s searches the list; n goes to the next match, wrapping around.
    t.keys(&["Tab", "Tab", "s"]); // detail, bytes, back to the list
    t.text("http 50");
    t.keys(&["Enter"]);
    t.wait_for(&["\"http 50\": row 9 of 9", "UNAVAILABLE (HTTP 502)"]);
    t.keys(&["n"]);
    t.wait_for(&["\"http 50\": row 5 of 9 (wrapped around)"]);
    // Filter on errors.
    t.keys(&["/"]);
    t.text("status != OK");
    t.keys(&["Enter"]);
    let s = t.wait_for(&["filter: status != OK  (7 match)", "Calls 7 matching status != OK"]);
    assert!(!s.contains("rid-ok"), "{s}");
    // The connections view and its ladder.
    t.keys(&["3"]);
    let s = t.wait_for(&["Connections 6", "Ladder:", "|-TCP S ---"]);
    assert!(s.contains("HEADERS[1] :path=/grpcscope.fixtures.v1.Inventory/"), "{s}");
    assert!(s.contains("reconnect of 5; refused (RST to SYN)"), "{s}");
    // A smaller window redraws at its new size: tmux crops the old screen,
    // so the key line at the bottom is back only if the UI drew again.
    t.tmux(&["resize-window", "-t", "t", "-x", "80", "-y", "24"]);
    let s = t.wait_until("the redraw at 80x24", |s| {
        s.lines().count() <= 24
            && s.lines().nth(23).is_some_and(|l| l.contains("q quit"))
            && s.contains("Connections 6")
    });
    assert!(s.lines().nth(1).is_some_and(|l| l.trim_end().ends_with('┐')), "the list's box closes at 80 columns: {s}");
    // q quits and gives the terminal back: the UI's screen is gone.
    t.keys(&["q"]);
    let s = t.wait_for(&["grpcscope exited with 0"]);
    assert!(!s.contains("Connections 6") && !s.contains('┌'), "the alternate screen was left: {s}");
}

#[test]
fn help_lists_every_key_and_any_key_closes_it() {
    let Some(t) = Tmux::start("tui_help", &ui_command("fixtures/errors.pcap"), 100, 40) else {
        return;
    };
    t.wait_for(&["no filter"]);
    t.keys(&["?"]);
    let s = t.wait_for(&[" Keys "]);
    for key in ["Tab", "PgUp", "Home", "Enter", "/", "q"] {
        assert!(s.contains(key), "{key} missing from help: {s}");
    }
    t.keys(&["Escape"]);
    // Wait for the help to close before the next key: an Escape and a `2`
    // read together are one Alt-2 to a terminal, not two keys.
    t.wait_until("the help closed", |s| !s.contains(" Keys "));
    t.keys(&["2"]);
    t.wait_for(&["Frames ", "PREFACE"]);
    t.keys(&["q"]);
    t.wait_for(&["grpcscope exited with 0"]);
}

#[test]
fn without_a_terminal_the_file_is_printed_as_calls() {
    let (code, out, err) = common::grpcscope(&["--proto-path", "protos", "fixtures/errors.pcap"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("/grpcscope.fixtures.v1.Inventory/GetPart") && out.contains("NOT_FOUND"), "{out}");
    assert!(!out.contains('\u{1b}'), "no terminal control codes in a pipe: {out:?}");
}

/// A panic in the UI still gives the terminal back: the alternate screen is
/// left, mouse reporting is off and the line discipline is cooked again.
#[test]
fn a_panic_restores_the_terminal() {
    let cmd = format!(
        "GRPCSCOPE_TUI_PANIC_TEST=1 {} fixtures/unary.pcap 2>/dev/null; echo \"exited with $?\"; \
         stty -a | tr ' ' '\\n' | grep -x -e icanon -e echo | tr '\\n' ' '; echo; sleep 30",
        common::grpcscope_bin().display()
    );
    let Some(t) = Tmux::start("tui_panic", &cmd, 100, 30) else {
        return;
    };
    let s = t.wait_for(&["exited with 101", "icanon echo"]);
    assert!(!s.contains('┌'), "the UI's screen is still there: {s}");
    assert_eq!(t.tmux(&["display-message", "-p", "-t", "t", "#{alternate_on}#{mouse_any_flag}"]).trim(), "00");
}

#[test]
fn tls_connections_say_what_is_missing_and_why_handshakes_failed() {
    let Some(t) = Tmux::start("tui_tls", &ui_command("fixtures/tls_failures.pcap"), 160, 40) else {
        return;
    };
    // Without keys: the missing calls are said in the header.
    t.wait_for(&["3 TLS conn(s) encrypted, no keys: --tls-keylog"]);
    t.keys(&["3"]);
    t.wait_for(&["Connections 5"]);
    // The third connection: a TLS 1.2 client refusing the server's CA.
    t.keys(&["Down", "Down", "Enter"]);
    let s =
        t.wait_for(&["client sent alert fatal unknown_ca", "server certificate leaf: CN=inventory.fixtures.internal"]);
    assert!(s.contains("TLS 1.2 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"), "{s}");
    t.keys(&["q"]);
    t.wait_for(&["grpcscope exited with 0"]);
}

/// Issue 18's memory cap holds for the UI too: on every adversarial
/// capture, with every view drawn, the explain and HPACK panels opened and
/// rows selected (each selection builds its detail tree), the UI's peak
/// memory stays under what the other commands are held to.
#[test]
fn every_view_of_every_adversarial_capture_stays_under_the_memory_cap() {
    const CAP_KB: u64 = 512 * 1024;
    let dir = common::fixture("adversarial");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap.gz"))
        .collect();
    files.sort();
    assert!(files.len() >= 19, "the adversarial fixtures: {files:?}");
    let scratch = common::scratch_dir("tui_memory");
    let mut peaks = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let pidfile = scratch.join(format!("{file}.pid"));
        let cmd = format!(
            "echo $$ > {}; exec {} fixtures/adversarial/{file}",
            pidfile.display(),
            common::grpcscope_bin().display()
        );
        // A server of its own per capture: a new session on a server being
        // killed can fail.
        let Some(t) = Tmux::start(&format!("tui_memory{i}"), &cmd, 80, 24) else {
            return;
        };
        t.wait_until("the capture loaded", |s| s.contains("┌ Calls") && !s.contains("loading "));
        for (key, title) in
            [("1", "┌ Calls"), ("2", "┌ Frames"), ("3", "┌ Connections"), ("4", "Stats"), ("5", "┌ Findings")]
        {
            t.keys(&[key, "e", "H", "Down", "Down", "Down", "End"]);
            t.wait_until(title, |s| s.contains(title));
        }
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
        let peak: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        peaks.push(format!("{file}: {} MB", peak / 1024));
        assert!(peak < CAP_KB, "the UI on {file} peaked at {} MB:\n{}", peak / 1024, t.screen());
        t.keys(&["q"]);
    }
    eprintln!("UI peak memory per adversarial capture:\n{}", peaks.join("\n"));
}
