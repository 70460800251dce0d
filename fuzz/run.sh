#!/usr/bin/env bash
# Runs the cargo-fuzz targets, one after another, for SECONDS each.
#
#   fuzz/run.sh SECONDS [TARGET ...]      (default: every target)
#
# New inputs go to target/fuzz-work/TARGET (the committed seeds in
# fuzz/corpus/TARGET are read, never written); a crash, leak, timeout or
# out-of-memory stops the script with the input in fuzz/artifacts/TARGET.
# Works on stable Rust: RUSTC_BOOTSTRAP lets cargo-fuzz use the sanitizer
# flags (`cargo install cargo-fuzz` first). CI runs `fuzz/run.sh 5`.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:?usage: fuzz/run.sh SECONDS [TARGET ...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
for t in "${targets[@]}"; do
    work="../target/fuzz-work/$t"
    log="../target/fuzz-work/$t.log"
    mkdir -p "$work" "corpus/$t"
    seeds=("corpus/$t")
    if [ -d "regressions/$t" ]; then seeds+=("regressions/$t"); fi
    echo "== $t: ${secs}s"
    status=0
    cargo fuzz run -O "$t" "$work" "${seeds[@]}" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E "^#[0-9]+ +DONE|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|ERROR|SUMMARY|Test unit written" "$log" | tail -8 || true
    if [ "$status" -ne 0 ]; then
        tail -40 "$log" >&2
        echo "fuzz/run.sh: $t failed (exit $status); the input is in fuzz/artifacts/$t" >&2
        exit "$status"
    fi
done
