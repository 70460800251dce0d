//! Running grpcscope under GNU time: exit status, output and peak memory.

use super::{grpcscope_bin, root, scratch_dir};
use std::path::Path;
use std::process::{Command, Stdio};

/// What one measured run left behind.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub max_rss_mb: u64,
}

/// GNU time, which reaps grpcscope itself and so reports grpcscope's own
/// peak memory. (Reaping the child here would not do: Rust spawns with
/// vfork, and Linux carries the test process's peak over into the child's.)
pub const GNU_TIME: &str = "/usr/bin/time";

/// Runs grpcscope with `args` under GNU time; `max_rss_mb` is 0 (and the
/// test says so) where GNU time is missing (.ci/run installs it).
pub fn run_measured(test: &str, args: &[&str]) -> Run {
    run_measured_into(test, args, None)
}

/// [`run_measured`] with standard output written to `stdout_file` when
/// given (output too large to hold; `stdout` is then empty).
pub fn run_measured_into(test: &str, args: &[&str], stdout_file: Option<&Path>) -> Run {
    // One directory per run: tests of one file run in parallel under the
    // same name, and one's clean-up must not take another's rss file.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = scratch_dir(&format!("{test}-run{n}"));
    let rss_path = dir.join("rss");
    let measured = Path::new(GNU_TIME).exists();
    let mut cmd = if measured {
        let mut c = Command::new(GNU_TIME);
        c.arg("-f").arg("%M").arg("-o").arg(&rss_path).arg(grpcscope_bin());
        c
    } else {
        super::skipped(&format!("memory check in {test}: {GNU_TIME} is missing (apt-get install time)"));
        Command::new(grpcscope_bin())
    };
    if let Some(f) = stdout_file {
        cmd.stdout(std::fs::File::create(f).unwrap());
    }
    let out = cmd.args(args).current_dir(root()).stdin(Stdio::null()).output().unwrap();
    // GNU time reports the peak resident set in kilobytes.
    let rss_kb: u64 = std::fs::read_to_string(&rss_path)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()))
        .unwrap_or(0);
    let _ = std::fs::remove_dir_all(&dir);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        max_rss_mb: rss_kb / 1024,
    }
}
