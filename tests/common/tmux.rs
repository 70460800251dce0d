//! A tmux session to drive the terminal UI: keys go in with `send-keys`,
//! the screen comes back with `capture-pane`.

use std::process::Command;
use std::time::{Duration, Instant};

/// A detached tmux session on its own server socket, killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` in a `w`×`h` session, or says why the test skips.
    pub fn start(test: &str, command: &str, w: u16, h: u16) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().map(|o| !o.status.success()).unwrap_or(true) {
            super::skipped(&format!("{test}: tmux is not installed (.ci/run installs it: apt-get install tmux)"));
            return None;
        }
        let t = Tmux { socket: format!("grpcscope-{test}-{}", std::process::id()) };
        let status = Command::new("tmux")
            .args(["-L", &t.socket, "-f", "/dev/null", "new-session", "-d", "-s", "t"])
            .args(["-x", &w.to_string(), "-y", &h.to_string()])
            .arg(command)
            .env("TERM", "xterm-256color")
            .current_dir(super::root())
            .status()
            .unwrap();
        assert!(status.success(), "tmux new-session failed");
        Some(t)
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").args(["-L", &self.socket]).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Literal text (tmux would read "Enter" in it as a key name).
    pub fn text(&self, s: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", s]);
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "t"])
    }

    /// Waits until every needle is on screen; returns the screen.
    pub fn wait_for(&self, needles: &[&str]) -> String {
        self.wait_until(&format!("{needles:?}"), |s| needles.iter().all(|n| s.contains(n)))
    }

    /// Waits until the screen satisfies `ok` and has stopped changing (on a
    /// loaded machine tmux can be read halfway through a redraw); returns it.
    pub fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut previous = String::new();
        loop {
            let s = self.screen();
            if ok(&s) && s == previous {
                return s;
            }
            previous = s.clone();
            if Instant::now() > deadline {
                panic!("waited 20 s for {what}; the screen is:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).output();
    }
}

/// A shell command running grpcscope with `args`.
pub fn ui_command(args: &str) -> String {
    // The shell stays after grpcscope exits so the test can see the exit
    // status and the restored screen.
    format!("{} {args}; echo \"grpcscope exited with $?\"; sleep 30", super::grpcscope_bin().display())
}
