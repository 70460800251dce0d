//! `--format parquet -o PATH`: where each capture's table goes, and the
//! captures decoded in parallel, one per thread.
//!
//! One capture and a PATH that is not a directory: one file at PATH.
//! Several captures (repeated `-r`, a glob, a directory), or a PATH that
//! is a directory (or ends with `/`): a Hive-partitioned directory,
//! `PATH/capture=NAME/part-0.parquet`, which DuckDB (`hive_partitioning`)
//! and Spark (`spark.read.parquet`) read as one table with a `capture`
//! column.

use super::args::CommonArgs;
use super::read::Failure;
use crate::output::parquet::{Column, Table, TableInfo};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One capture's share of the work.
#[derive(Debug, Clone)]
pub struct Job {
    /// The capture file; `None` for a live capture.
    pub source: Option<PathBuf>,
    /// The capture as the rows name it (`capture_file`).
    pub capture: String,
    /// The Parquet file to write.
    pub file: PathBuf,
}

impl Job {
    /// The table of `columns` this job writes, its directory made.
    pub fn table(&self, kind: &'static str, columns: &'static [Column]) -> Result<Table, Failure> {
        let cannot = |e: std::io::Error| Failure::BadInput(format!("cannot write {}: {e}", self.file.display()));
        if let Some(dir) = self.file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(cannot)?;
        }
        let file = std::fs::File::create(&self.file).map_err(cannot)?;
        let out: Box<dyn std::io::Write + Send> = Box::new(std::io::BufWriter::with_capacity(1 << 20, file));
        Table::new(columns, out, &TableInfo { kind, capture: self.capture.clone() }).map_err(cannot)
    }
}

/// The partition name of a capture: its file name without the capture
/// extensions, in characters every engine and file system takes.
fn partition_name(path: &Path) -> String {
    let name = path.file_name().map_or_else(|| "capture".into(), |n| n.to_string_lossy().into_owned());
    let mut stem = name.as_str();
    for ext in [".gz", ".zst", ".pcapng", ".pcap", ".cap"] {
        stem = stem.strip_suffix(ext).unwrap_or(stem);
    }
    let clean: String =
        stem.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if clean.is_empty() {
        "capture".into()
    } else {
        clean
    }
}

/// The jobs `--format parquet` has to do for `common`'s input and `-o`.
pub fn plan(common: &CommonArgs) -> Result<Vec<Job>, Failure> {
    let Some(output) = &common.output else {
        return Err(Failure::BadInput(
            "--format parquet writes files: name one with -o PATH (a directory when several captures are read), \
             e.g. `grpcscope calls --format parquet -o calls.parquet capture.pcap`"
                .into(),
        ));
    };
    let as_dir = output.is_dir() || output.to_string_lossy().ends_with('/');
    if let Some(iface) = &common.input.interface {
        let capture = format!("live {iface}");
        let file =
            if as_dir { output.join(format!("capture=live-{iface}")).join("part-0.parquet") } else { output.clone() };
        return Ok(vec![Job { source: None, capture, file }]);
    }
    let paths = common.input.paths().map_err(Failure::BadInput)?;
    if paths.iter().any(|p| p.as_os_str() == "-") && paths.len() > 1 {
        return Err(Failure::BadInput("standard input (`-`) is one capture: read it alone".into()));
    }
    if let ([one], false) = (paths.as_slice(), as_dir) {
        let capture = one.display().to_string();
        return Ok(vec![Job { source: Some(one.clone()), capture, file: output.clone() }]);
    }
    if paths.is_empty() {
        return Err(Failure::BadInput("no capture given: name one or more files, a glob or a directory".into()));
    }
    let mut taken = BTreeSet::new();
    let jobs = paths
        .into_iter()
        .map(|path| {
            let base = partition_name(&path);
            // Two captures of one name (a/x.pcap, b/x.pcap) get two partitions.
            let name = (1..)
                .map(|n| if n == 1 { base.clone() } else { format!("{base}-{n}") })
                .find(|n| taken.insert(n.clone()));
            let name = name.unwrap_or(base);
            let file = output.join(format!("capture={name}")).join("part-0.parquet");
            Job { capture: path.display().to_string(), source: Some(path), file }
        })
        .collect();
    Ok(jobs)
}

/// Runs `job` for each of `jobs`, up to the available cores at once, and
/// says on standard error what was written (unless `quiet`). The first
/// failure, in the jobs' order, is the result.
pub fn run<F>(jobs: &[Job], quiet: bool, what: &str, job: F) -> Result<(), Failure>
where
    F: Fn(&Job) -> Result<u64, Failure> + Sync,
{
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<u64, Failure>>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(j) = jobs.get(i) else { break };
                let r = job(j);
                if r.is_err() {
                    // No half-written table for an engine to trip on.
                    let _ = std::fs::remove_file(&j.file);
                }
                if let Some(slot) = results.lock().ok().as_mut().and_then(|r| r.get_mut(i)) {
                    *slot = Some(r);
                }
            });
        }
    });
    let results = results.into_inner().map_err(|_| Failure::BadInput("a decoding thread failed".into()))?;
    for (j, r) in jobs.iter().zip(results) {
        let rows = r.ok_or_else(|| Failure::BadInput(format!("{}: a decoding thread failed", j.capture)))??;
        if !quiet {
            eprintln!("grpcscope: {rows} {what} of {} written to {}", j.capture, j.file.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_drop_capture_extensions_and_odd_characters() {
        assert_eq!(partition_name(Path::new("/x/unary_ok.pcap")), "unary_ok");
        assert_eq!(partition_name(Path::new("pod a.pcap.gz")), "pod_a");
        assert_eq!(partition_name(Path::new("c=1.pcapng")), "c_1");
        assert_eq!(partition_name(Path::new(".pcap")), "capture");
    }
}
