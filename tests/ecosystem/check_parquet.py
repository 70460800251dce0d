#!/usr/bin/env python3
"""Reads grpcscope's Parquet tables back with DuckDB and compares them with
the JSON Lines of the same captures, row by row.

usage: check_parquet.py LAKE JSON_DIR
LAKE holds calls/, frames/ and conns/ (capture=NAME/part-0.parquet each);
JSON_DIR holds NAME.calls.jsonl, NAME.frames.jsonl and NAME.conns.jsonl.
Prints one line per problem (exit 1), or what was checked.
"""
import json
import os
import sys

import duckdb


def jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def micros(ts):
    return None if ts is None else round(ts * 1e6)


def check(problems, where, got, want):
    if got != want:
        problems.append(f"{where}: parquet has {got!r}, JSON {want!r}")


def table(con, lake, kind):
    return con.sql(f"SELECT * FROM read_parquet('{lake}/{kind}/*/*.parquet', hive_partitioning = true)")


def rows_by_capture(rel, order):
    cols = rel.columns
    out = {}
    for r in rel.order(order).fetchall():
        d = dict(zip(cols, r))
        out.setdefault(d["capture"], []).append(d)
    return out


def epoch_micros(v):
    """A DuckDB timestamp with time zone as microseconds since the epoch."""
    if v is None:
        return None
    import datetime
    return round((v - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds() * 1e6)


def check_calls(problems, con, lake, json_dir, names):
    rel = table(con, lake, "calls").select(
        "capture, call_number, conn_id, stream_id, client, server, server_port, method, authority, "
        "epoch_us(start_ts) AS start_us, epoch_us(end_ts) AS end_us, duration_ms, http_status, grpc_status, "
        "grpc_status_name, grpc_message, error_origin, complete, request_messages, response_messages, "
        "request_bytes, response_bytes, requests, responses, request_headers, trailers, notes, timeout_ms, "
        "request_id")
    by = rows_by_capture(rel, "capture, call_number")
    checked = 0
    for name in names:
        want = jsonl(os.path.join(json_dir, f"{name}.calls.jsonl"))
        got = by.get(name, [])
        check(problems, f"{name} calls", len(got), len(want))
        for i, (g, w) in enumerate(zip(got, want)):
            at = f"{name} call {i + 1}"
            check(problems, f"{at} call_number", g["call_number"], i + 1)
            pairs = [
                ("conn_id", w["conn"]["id"]), ("stream_id", w["stream_id"]), ("client", w["conn"]["client"]),
                ("server", w["conn"]["server"]), ("method", w["method"]), ("authority", w["authority"]),
                ("start_us", micros(w["start"])), ("end_us", micros(w["end"])),
                ("http_status", w["http_status"]), ("grpc_status", w["grpc_status"]),
                ("grpc_status_name", w["grpc_status_name"]), ("grpc_message", w["grpc_message"]),
                ("error_origin", w["error_origin"]), ("complete", w["complete"]),
                ("request_messages", len(w["requests"])), ("response_messages", len(w["responses"])),
                ("request_bytes", w["request_bytes"]), ("response_bytes", w["response_bytes"]),
                ("timeout_ms", w["timeout_ms"]),
            ]
            for col, value in pairs:
                check(problems, f"{at} {col}", g[col], value)
            check(problems, f"{at} duration_ms", g["duration_ms"] is None, w["duration_ms"] is None)
            if w["duration_ms"] is not None and abs(g["duration_ms"] - w["duration_ms"]) > 1e-9:
                problems.append(f"{at} duration_ms: {g['duration_ms']} vs {w['duration_ms']}")
            for col in ("requests", "responses", "request_headers", "trailers", "notes"):
                check(problems, f"{at} {col}", json.loads(g[col]), w[col])
            rid = next((v for n, v in w["request_headers"] if n == "x-request-id"), None)
            check(problems, f"{at} request_id", g["request_id"], rid)
            port = int(w["conn"]["server"].rsplit(":", 1)[1])
            check(problems, f"{at} server_port", g["server_port"], port)
            checked += 1
    return checked


def check_frames(problems, con, lake, json_dir, names):
    rel = table(con, lake, "frames").select(
        "capture, record, conn_id, dir, epoch_us(ts) AS ts_us, packet, stream_id, type, flags_raw, length, "
        "error_code, lost_bytes, row_number() OVER (PARTITION BY capture) AS n")
    # Rows keep the order they were written in: compare in file order.
    by = {}
    for r in rel.fetchall():
        d = dict(zip(rel.columns, r))
        by.setdefault(d["capture"], []).append(d)
    checked = 0
    for name in names:
        want = jsonl(os.path.join(json_dir, f"{name}.frames.jsonl"))
        got = by.get(name, [])
        check(problems, f"{name} frames", len(got), len(want))
        for i, (g, w) in enumerate(zip(got, want)):
            at = f"{name} frame record {i + 1}"
            check(problems, f"{at} conn", g["conn_id"], w["conn"])
            check(problems, f"{at} dir", g["dir"], w["dir"])
            check(problems, f"{at} ts", g["ts_us"], micros(w["ts"]))
            check(problems, f"{at} type", g["type"], w["type"])
            if "lost_bytes" in w:
                check(problems, f"{at} lost", (g["record"], g["lost_bytes"]), ("lost", w["lost_bytes"]))
            elif w["type"] == "PREFACE":
                check(problems, f"{at} preface", (g["record"], g["packet"]), ("preface", w["packet"]))
            else:
                check(problems, f"{at} record", g["record"], "frame")
                for col, key in (("packet", "packet"), ("stream_id", "stream_id"), ("flags_raw", "flags_raw"),
                                 ("length", "length")):
                    check(problems, f"{at} {col}", g[col], w[key])
                code = w.get("error_code")
                check(problems, f"{at} error_code", g["error_code"], code)
            checked += 1
    return checked


def check_conns(problems, con, lake, json_dir, names):
    rel = table(con, lake, "conns").select(
        "capture, conn_id, client, server, epoch_us(first_ts) AS first_us, end_reason, reconnect_of, calls, "
        "calls_transport_error, bytes_to_server, bytes_to_client, protocol")
    by = rows_by_capture(rel, "capture, conn_id")
    checked = 0
    for name in names:
        want = sorted(jsonl(os.path.join(json_dir, f"{name}.conns.jsonl")), key=lambda c: c["id"])
        got = by.get(name, [])
        check(problems, f"{name} conns", len(got), len(want))
        for g, w in zip(got, want):
            at = f"{name} conn {w['id']}"
            pairs = [("conn_id", w["id"]), ("client", w["client"]), ("server", w["server"]),
                     ("first_us", micros(w["first_ts"])), ("end_reason", w["end"]["kind"]),
                     ("reconnect_of", w["reconnect_of"]), ("calls", w["calls"]["total"]),
                     ("calls_transport_error", w["calls"]["transport"]),
                     ("bytes_to_server", w["client_to_server"]["bytes"]),
                     ("bytes_to_client", w["server_to_client"]["bytes"]), ("protocol", w["protocol"])]
            for col, value in pairs:
                check(problems, f"{at} {col}", g[col], value)
            checked += 1
    return checked


def main():
    lake, json_dir = sys.argv[1], sys.argv[2]
    names = sorted(f[: -len(".calls.jsonl")] for f in os.listdir(json_dir) if f.endswith(".calls.jsonl"))
    con = duckdb.connect()
    problems = []
    counts = (check_calls(problems, con, lake, json_dir, names), check_frames(problems, con, lake, json_dir, names),
              check_conns(problems, con, lake, json_dir, names))
    # The files say what they are.
    meta = dict(con.sql(f"SELECT decode(key), decode(value) FROM parquet_kv_metadata('{lake}/calls/*/*.parquet') "
                        "WHERE decode(key) = 'grpcscope.schema_version' LIMIT 1").fetchall())
    check(problems, "schema version", meta.get("grpcscope.schema_version"), "1")
    for p in problems[:50]:
        print(p)
    print(f"checked {counts[0]} calls, {counts[1]} frame records, {counts[2]} connections of {len(names)} captures")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
