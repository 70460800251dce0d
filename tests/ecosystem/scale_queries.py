#!/usr/bin/env python3
"""Runs docs/scale.md's queries on a Parquet calls directory, in DuckDB or in
Spark (PySpark, local mode), and prints each query's rows as JSON.

usage: scale_queries.py duckdb|spark DOCS_SCALE_MD CALLS_DIR
The queries are the ```sql blocks after `<!-- query NAME ENGINES -->` lines:
exactly the text the page shows.
"""
import json
import re
import sys


def queries(doc, engine):
    out = {}
    for m in re.finditer(r"<!-- query (\w+) ([\w ]+?) -->\s*```sql\n(.*?)```", doc, re.S):
        name, engines, sql = m.group(1), m.group(2).split(), m.group(3)
        if engine in engines:
            out[name] = sql
    return out


def plain(v):
    if isinstance(v, float):
        return round(v, 3)
    if hasattr(v, "item"):  # numpy / decimal-like
        return plain(v.item())
    return v


def run_duckdb(qs, calls_dir):
    import duckdb
    con = duckdb.connect()
    con.execute(f"CREATE VIEW calls AS SELECT * FROM read_parquet('{calls_dir}/*/*.parquet', hive_partitioning = true)")
    return {n: [[plain(v) for v in row] for row in con.sql(q).fetchall()] for n, q in qs.items()}


def run_spark(qs, calls_dir):
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master("local[2]").appName("grpcscope-scale")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
             .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    spark.read.parquet(calls_dir).createOrReplaceTempView("calls")
    out = {n: [[plain(v) for v in row] for row in spark.sql(q).collect()] for n, q in qs.items()}
    spark.stop()
    return out


def main():
    engine, doc_path, calls_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    qs = queries(open(doc_path).read(), engine)
    if not qs:
        sys.exit(f"no queries for {engine} in {doc_path}")
    result = run_duckdb(qs, calls_dir) if engine == "duckdb" else run_spark(qs, calls_dir)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
