//! `--format parquet`: the shared corpus written as partitioned tables, read
//! back by DuckDB and compared with the JSON Lines row by row; docs/scale.md's
//! queries run in DuckDB and in Spark (PySpark local mode) with the same
//! answers; docs/parquet.md's column lists are the writer's own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use grpcscope::output::parquet::{calls, conns, doc_rows, frames};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether `python3` imports `module`; says why the test is skipped if not.
fn python_has(test: &str, module: &str, how: &str) -> bool {
    let ok = Command::new("python3").args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success());
    if !ok {
        skipped(&format!("{test}: Python's {module} is not installed ({how}; .ci/run installs it)"));
    }
    ok
}

/// Whether Java runs (Spark needs it).
fn have_java(test: &str) -> bool {
    let ok = Command::new("java").arg("-version").output().is_ok_and(|o| o.status.success());
    if !ok {
        skipped(&format!("{test}: no Java for Spark (apt-get install openjdk-17-jre-headless; .ci/run installs it)"));
    }
    ok
}

fn python(script: &str, args: &[&Path]) -> (bool, String, String) {
    let out = Command::new("python3")
        .arg(root().join("tests/ecosystem").join(script))
        .args(args)
        .output()
        .expect("python3 runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// The shared corpus's .pcap captures (one name each: the partitions).
fn corpus_pcaps(dir: &Path) -> Vec<(String, PathBuf)> {
    shared_scenarios(dir).into_iter().filter(|(_, p)| p.extension().is_some_and(|e| e == "pcap")).collect()
}

#[test]
fn docs_list_every_column_of_every_table_as_the_writer_declares_it() {
    let doc = std::fs::read_to_string(root().join("docs/parquet.md")).unwrap();
    for (table, columns) in [("calls", calls::COLUMNS), ("frames", frames::COLUMNS), ("conns", conns::COLUMNS)] {
        let section = doc.split(&format!("### {table}\n")).nth(1).unwrap_or_else(|| panic!("no ### {table}"));
        let section = section.split("\n### ").next().unwrap();
        let documented: Vec<&str> = section.lines().filter(|l| l.starts_with("| `")).collect();
        assert_eq!(documented, doc_rows(columns), "docs/parquet.md's {table} table is not the writer's");
    }
    assert!(doc.contains("## Schema version 1"));
    assert_eq!(grpcscope::output::parquet::SCHEMA_VERSION, 1, "a new version needs docs/parquet.md's changes");
}

#[test]
fn duckdb_reads_back_every_call_frame_and_connection_of_the_corpus() {
    let test = "duckdb_reads_back_every_call_frame_and_connection_of_the_corpus";
    let Some(dir) = shared_captures(test) else { return };
    if !python_has(test, "duckdb", "python3 -m pip install duckdb") {
        return;
    }
    let scratch = scratch_dir("parquet-duckdb");
    let (lake, json) = (scratch.join("lake"), scratch.join("json"));
    std::fs::create_dir_all(&json).unwrap();
    let pcaps = corpus_pcaps(&dir);
    let protos = dir.join("protos");
    for kind in ["calls", "frames", "conns"] {
        let out = lake.join(kind);
        let mut args = vec![kind, "-q", "--format", "parquet", "-o", out.to_str().unwrap()];
        if kind == "calls" {
            args.extend(["--proto-path", protos.to_str().unwrap()]);
        }
        args.extend(pcaps.iter().map(|(_, p)| p.to_str().unwrap()));
        let (code, _, err) = grpcscope(&args);
        assert_eq!(code, 0, "{kind}: {err}");
        for (name, pcap) in &pcaps {
            let mut args = vec![kind, "-q", "--format", "json"];
            if kind == "calls" {
                args.extend(["--proto-path", protos.to_str().unwrap()]);
            }
            args.push(pcap.to_str().unwrap());
            let (code, text, err) = grpcscope(&args);
            assert_eq!(code, 0, "{name} {kind}: {err}");
            std::fs::write(json.join(format!("{name}.{kind}.jsonl")), text).unwrap();
            assert!(lake.join(kind).join(format!("capture={name}")).join("part-0.parquet").is_file(), "{name} {kind}");
        }
    }
    let (ok, report, err) = python("check_parquet.py", &[&lake, &json]);
    assert!(ok, "{report}{err}");
    // Every call of the corpus: the JSON's count, not one fewer.
    let calls: usize = pcaps
        .iter()
        .map(|(n, _)| std::fs::read_to_string(json.join(format!("{n}.calls.jsonl"))).unwrap().lines().count())
        .sum();
    assert!(calls > 700, "{calls}");
    assert!(report.contains(&format!("checked {calls} calls, ")), "{report}");
}

#[test]
fn the_scale_guides_queries_give_the_same_answers_in_duckdb_and_spark() {
    let test = "the_scale_guides_queries_give_the_same_answers_in_duckdb_and_spark";
    let Some(dir) = shared_captures(test) else { return };
    if !python_has(test, "duckdb", "python3 -m pip install duckdb")
        || !python_has(test, "pyspark", "python3 -m pip install pyspark")
        || !have_java(test)
    {
        return;
    }
    let scratch = scratch_dir("parquet-scale");
    let lake = scratch.join("calls");
    let protos = dir.join("protos");
    let mut args = vec!["calls", "-q", "--format", "parquet", "-o", lake.to_str().unwrap()];
    args.extend(["--proto-path", protos.to_str().unwrap()]);
    let pcaps = corpus_pcaps(&dir);
    args.extend(pcaps.iter().map(|(_, p)| p.to_str().unwrap()));
    let proxy = fixture("proxy.pcap");
    args.push(proxy.to_str().unwrap());
    let (code, _, err) = grpcscope(&args);
    assert_eq!(code, 0, "{err}");
    let doc = root().join("docs/scale.md");
    let run = |engine: &str| {
        let out = Command::new("python3")
            .arg(root().join("tests/ecosystem/scale_queries.py"))
            .args([Path::new(engine), &doc, &lake])
            .output()
            .expect("python3 runs");
        assert!(out.status.success(), "{engine}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let (duck, spark) = (run("duckdb"), run("spark"));
    assert_eq!(duck, spark, "DuckDB and Spark disagree");
    for q in ["errors_by_origin", "p99_per_edge", "failing_hop"] {
        assert!(!duck[q].as_array().unwrap().is_empty(), "{q} found nothing");
    }
    // The proxy fixture: which hop failed, request by request.
    let hops: Vec<(String, String, String)> = duck["failing_hop"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r[0] == "proxy")
        .map(|r| (r[1].as_str().unwrap().into(), r[2].as_str().unwrap().into(), r[3].as_str().unwrap().into()))
        .collect();
    let want = [
        ("rid-deadline", "127.0.0.1:50081", "application"),
        ("rid-down", "127.0.0.1:50080", "transport"),
        ("rid-notfound", "127.0.0.1:50081", "application"),
        ("rid-timeout", "127.0.0.1:50081", "transport"),
    ];
    let want: Vec<(String, String, String)> =
        want.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    assert_eq!(hops, want);
    // Application errors of the corpus's GetItem calls, as `calls` counts them.
    let by_origin = duck["errors_by_origin"].as_array().unwrap();
    assert!(
        by_origin.iter().any(|r| r[0] == "/demo.shop.v1.Catalog/GetItem" && r[1] == "application" && r[2] == 24),
        "{by_origin:?}"
    );
}

#[test]
fn one_capture_makes_one_file_and_a_filter_chooses_its_rows() {
    let test = "one_capture_makes_one_file_and_a_filter_chooses_its_rows";
    if !python_has(test, "duckdb", "python3 -m pip install duckdb") {
        return;
    }
    let out = scratch_dir("parquet-one").join("failed.parquet");
    let (code, _, err) = grpcscope(&[
        "calls",
        "--format",
        "parquet",
        "--filter",
        "status != OK",
        "-o",
        out.to_str().unwrap(),
        fixture("proxy.pcap").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("calls of "), "{err}");
    let sql = format!(
        "import duckdb; print(duckdb.sql(\"SELECT count(*), count(DISTINCT request_id), min(call_number) FROM '{}' \").fetchall())",
        out.display()
    );
    let o = Command::new("python3").args(["-c", &sql]).output().unwrap();
    // 9 calls, 2 OK: 7 rows, of 4 failed requests; the first failed call is the third.
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[(7, 4, 3)]", "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn parquet_needs_a_path_and_a_command_that_writes_tables() {
    let pcap = fixture("errors.pcap");
    let (code, _, err) = grpcscope(&["calls", "--format", "parquet", pcap.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("--format parquet writes files: name one with -o PATH"), "{err}");
    let (code, _, err) = grpcscope(&["stats", "--format", "parquet", "-o", "/tmp/x.parquet", pcap.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("Parquet tables are written by `calls`, `frames` and `conns`"), "{err}");
}
