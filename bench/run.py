#!/usr/bin/env python3
"""Whole-command benchmarks of grpcscope (issue 8; see docs/performance.md).

    python3 bench/run.py                 # the full run: 60 MB, 1 GB, a million SYNs
    python3 bench/run.py --smoke         # seconds: tiny capture, every step once (CI)
    python3 bench/run.py --live          # also the live replay onto a veth pair (root)

GRPCSCOPE_BIN=PATH measures another grpcscope binary (an older build, to
compare in one run).

Every capture is generated on demand by examples/benchgen.rs (the
bench_seed fixture replayed) into --dir, never committed. For each command
it reports wall time, CPU time, packets/s, MB/s and peak RSS (the kernel's
ru_maxrss of the child); tshark runs on the same capture in the same run and
the ratio is printed beside it. Nothing here asserts a time: the smoke mode
checks only that every step runs and produces output.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get('GRPCSCOPE_BIN') or os.path.join(ROOT, 'target', 'release', 'grpcscope')
BENCHGEN = os.path.join(ROOT, "target", "release", "examples", "benchgen")
ADVERSARIAL = os.path.join(ROOT, "target", "release", "examples", "adversarial")
PROTOS = os.path.join(ROOT, "protos")
SERVER_PORT = 50071

COMMANDS = [
    ("stats -j 1", ["stats", "--format", "json", "-j", "1"]),
    ("stats -j 2", ["stats", "--format", "json", "-j", "2"]),
    ("conns", ["conns", "--format", "json"]),
    ("frames", ["frames", "--format", "json"]),
    ("calls --format json", ["calls", "--format", "json", "--proto-path", PROTOS]),
    ("calls (text)", ["calls", "--proto-path", PROTOS]),
]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def build():
    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "grpcscope", "--example", "benchgen",
                    "--example", "adversarial"], cwd=ROOT, check=True)


def generate(path, calls, rate):
    out = subprocess.run([BENCHGEN, "--calls", str(calls), "--rate", str(rate), "-o", path],
                         check=True, capture_output=True, text=True).stdout.strip()
    m = re.search(r"(\d+) calls on (\d+) connections .* (\d+) packets, ([\d.]+) MB", out)
    return {"path": path, "calls": int(m[1]), "connections": int(m[2]), "packets": int(m[3]),
            "mb": float(m[4]), "file_mb": os.path.getsize(path) / 1e6, "generator": out}


def measure(argv, stdout=subprocess.DEVNULL):
    """Runs argv; wall seconds, CPU seconds, peak RSS (MB), exit status, stdout if asked."""
    t0 = time.monotonic()
    # stderr goes to a file: reading two pipes one after the other can
    # deadlock when the child fills the second while we wait on the first.
    with tempfile.TemporaryFile() as errf:
        p = subprocess.Popen(argv, stdout=stdout, stderr=errf)
        out = p.stdout.read() if stdout == subprocess.PIPE else b""
        _, status, ru = os.wait4(p.pid, 0)
        errf.seek(0)
        err = errf.read()
    wall = time.monotonic() - t0
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_mb": ru.ru_maxrss / 1024,
            "status": os.waitstatus_to_exitcode(status), "stdout": out, "stderr": err.decode(errors="replace")}


def tshark_argv(capture):
    return ["tshark", "-r", capture, "-d", f"tcp.port=={SERVER_PORT},http2",
            "-o", f'uat:protobuf_search_paths:"{PROTOS}","TRUE"', "-o", "protobuf.preload_protos:TRUE",
            "-Y", "grpc", "-T", "fields", "-e", "grpc.message_length"]


def run_commands(cap, with_tshark, repeat):
    rows = []
    for name, args in COMMANDS:
        best = None
        for _ in range(repeat):
            r = measure([BIN, *args, cap["path"]])
            if r["status"] != 0:
                raise SystemExit(f"grpcscope {name} failed on {cap['path']}: {r['stderr']}")
            if best is None or r["wall"] < best["wall"]:
                best = r
        best["name"] = name
        rows.append(best)
    tshark = None
    if with_tshark and shutil.which("tshark"):
        r = measure(tshark_argv(cap["path"]), stdout=subprocess.PIPE)
        r["messages"] = len(r["stdout"].splitlines())
        if r["status"] != 0:
            raise SystemExit(f"tshark failed: {r['stderr']}")
        tshark = r
    return rows, tshark


def print_table(cap, rows, tshark):
    print(f"\n### {os.path.basename(cap['path'])}: {cap['calls']:,} calls, {cap['packets']:,} packets, "
          f"{cap['mb']:.1f} MB of packets ({cap['file_mb']:.1f} MB file), {cap['connections']:,} connections\n")
    print("| command | wall s | CPU s | packets/s | MB/s | peak RSS MB | vs tshark |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows + ([dict(tshark, name="tshark -Y grpc -T fields -e grpc.message_length")] if tshark else []):
        ratio = f"{tshark['wall'] / r['wall']:.0f}x" if tshark and r is not tshark and "tshark" not in r["name"] else ""
        print(f"| {r['name']} | {r['wall']:.2f} | {r['cpu']:.2f} | {cap['packets'] / r['wall']:,.0f} | "
              f"{cap['mb'] / r['wall']:.0f} | {r['rss_mb']:.0f} | {ratio} |")
    if tshark:
        print(f"\ntshark printed {tshark['messages']:,} message lengths.")


def several_files(cap, repeat):
    """`stats` over two captures at once (the same file named twice), on
    one thread and on two: what merging costs, and how it scales."""
    rows = []
    for j in ("1", "2"):
        best = None
        for _ in range(repeat):
            r = measure([BIN, "stats", "--format", "json", "-j", j, cap["path"], cap["path"]])
            if r["status"] != 0:
                raise SystemExit(f"grpcscope stats of two files failed: {r['stderr']}")
            best = r if best is None or r["wall"] < best["wall"] else best
        best["name"] = f"stats -j {j} (two files)"
        rows.append(best)
    print(f"\n### Two captures at once: {os.path.basename(cap['path'])} twice ({2 * cap['packets']:,} packets)\n")
    print("| command | wall s | CPU s | packets/s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['name']} | {r['wall']:.2f} | {r['cpu']:.2f} | {2 * cap['packets'] / r['wall']:,.0f} | "
              f"{r['rss_mb']:.0f} |")


def syn_flood(directory, n, repeat):
    """`conns` on a capture of `n` unanswered SYNs (then one call), and
    tshark's TCP conversation table of the same capture."""
    path = os.path.join(directory, f"syn-flood-{n}.pcap")
    if not os.path.exists(path):
        subprocess.run([ADVERSARIAL, "--syn-flood", str(n), path], check=True)
    rows = []
    for name, args in [("conns", ["conns"]), ("conns --format json", ["conns", "--format", "json"]),
                       ("stats", ["stats", "--format", "json"])]:
        best = None
        for _ in range(repeat):
            r = measure([BIN, *args, path])
            if r["status"] != 0:
                raise SystemExit(f"grpcscope {name} failed on the SYN flood: {r['stderr']}")
            best = r if best is None or r["wall"] < best["wall"] else best
        best["name"] = name
        rows.append(best)
    if shutil.which("tshark"):
        r = measure(["tshark", "-r", path, "-q", "-z", "conv,tcp"])
        r["name"] = "tshark -q -z conv,tcp"
        rows.append(r)
    print(f"\n### {os.path.basename(path)}: {n:,} SYNs from distinct ports, then one call "
          f"({os.path.getsize(path) / 1e6:.0f} MB)\n")
    print("| command | wall s | CPU s | peak RSS MB |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['name']} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['rss_mb']:.0f} |")


def tmux(sock, *args):
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True).stdout


def tui_first_rows(cap):
    """Seconds from launch until the calls list shows its first row, then
    whether a key press is answered while the capture still loads."""
    if not shutil.which("tmux"):
        log("tmux missing: TUI measurement skipped (apt-get install tmux)")
        return None
    sock = f"grpcscope-bench-{os.getpid()}"
    cmd = f"{BIN} --proto-path {PROTOS} {cap['path']}; sleep 600"
    t0 = time.monotonic()
    subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-s", "b", "-x", "160", "-y", "45",
                    cmd], check=True, env=dict(os.environ, TERM="xterm-256color"))
    result = {"first_rows": None, "key_answered": None, "loaded": None, "rss_mb": None}
    try:
        while time.monotonic() - t0 < 60:
            screen = tmux(sock, "capture-pane", "-p", "-t", "b")
            if "Inventory/" in screen:
                result["first_rows"] = time.monotonic() - t0
                break
            time.sleep(0.01)
        # While it loads: move down one row and time until the screen moves.
        before = tmux(sock, "capture-pane", "-p", "-t", "b")
        k0 = time.monotonic()
        tmux(sock, "send-keys", "-t", "b", "j")
        while time.monotonic() - k0 < 10:
            if tmux(sock, "capture-pane", "-p", "-t", "b") != before:
                result["key_answered"] = time.monotonic() - k0
                break
            time.sleep(0.005)
        pid = tmux(sock, "list-panes", "-t", "b", "-F", "#{pane_pid}").strip()
        while time.monotonic() - t0 < 600:
            screen = tmux(sock, "capture-pane", "-p", "-t", "b")
            if "loading" not in screen.lower():
                result["loaded"] = time.monotonic() - t0
                break
            time.sleep(0.2)
        try:
            # The pane runs a shell; grpcscope is its child.
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                pid = (f.read().split() or [pid])[0]
            with open(f"/proc/{pid}/status") as f:
                m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
                result["rss_mb"] = int(m[1]) / 1024 if m else None
        except OSError:
            pass
    finally:
        tmux(sock, "kill-server")
    return result


def live_replay(cap, rates, seconds_per_step):
    """Replays `cap` onto a veth pair with tcpreplay at each rate (calls/s)
    while `grpcscope stats -i` captures in another network namespace."""
    if os.geteuid() != 0 or not shutil.which("tcpreplay"):
        log("live replay needs root and tcpreplay (apt-get install tcpreplay): skipped")
        return None
    ns, a, b = "gsbench", "gsb0", "gsb1"
    sh = lambda *c: subprocess.run(c, check=False, capture_output=True)
    sh("ip", "netns", "del", ns)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b, "netns", ns], check=True)
        subprocess.run(["ip", "link", "set", a, "up", "mtu", "65535"], check=True)
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", b, "up", "mtu", "65535"], check=True)
        per_call = cap["packets"] / cap["calls"]
        results = []
        for rate in rates:
            pps = int(rate * per_call)
            limit = cap["packets"] if rate == 0 else int(min(cap["packets"], pps * seconds_per_step))
            calls_sent = int(limit / per_call)
            listen = subprocess.Popen(
                ["ip", "netns", "exec", ns, BIN, "stats", "-i", b, "--format", "json", "-B", str(256 << 20),
                 "--duration", str(seconds_per_step + 4)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(1.5)
            rep = ["tcpreplay", "-i", a, "--limit", str(limit)]
            rep += ["--topspeed"] if rate == 0 else ["--pps", str(pps)]
            replay = subprocess.run(rep + [cap["path"]], capture_output=True, text=True)
            out, err = listen.communicate()
            summary = next((json.loads(l) for l in out.splitlines() if '"section":"summary"' in l), {})
            m = re.search(r"(\d+) packets captured, (\d+) received by the filter, (\d+) dropped by the kernel, "
                          r"(\d+) dropped by the interface", err)
            achieved = re.search(r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps", replay.stdout)
            row = {"target_calls_per_s": rate or "topspeed", "packets_sent": limit, "calls_sent": calls_sent,
                   "replay_pps": float(achieved[1]) if achieved else None,
                   "captured": int(m[1]) if m else None, "kernel_dropped": int(m[3]) if m else None,
                   "if_dropped": int(m[4]) if m else None, "calls_seen": summary.get("calls")}
            row["achieved_calls_per_s"] = row["replay_pps"] / per_call if row["replay_pps"] else None
            results.append(row)
            log(f"live: {row}")
        return results
    finally:
        sh("ip", "link", "del", a)
        sh("ip", "netns", "del", ns)


def print_live(rows):
    print("\n### Live: tcpreplay onto a veth pair, `grpcscope stats -i` in another namespace\n")
    print("| target calls/s | achieved calls/s | packets sent | captured | kernel drops | calls decoded / sent |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ach = f"{r['achieved_calls_per_s']:,.0f}" if r["achieved_calls_per_s"] else "?"
        tgt = r["target_calls_per_s"] if isinstance(r["target_calls_per_s"], str) else f"{r['target_calls_per_s']:,}"
        print(f"| {tgt} | {ach} | {r['packets_sent']:,} | {r['captured']} | {r['kernel_dropped']} | "
              f"{r['calls_seen']} / {r['calls_sent']:,} |")
    clean = [r for r in rows if r["kernel_dropped"] == 0 and r["achieved_calls_per_s"]]
    if clean:
        print(f"\nHighest rate with zero kernel drops: {max(r['achieved_calls_per_s'] for r in clean):,.0f} calls/s")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny capture, one run of each step (CI)")
    ap.add_argument("--live", action="store_true", help="also replay onto a veth pair (root, tcpreplay)")
    ap.add_argument("--dir", default="/tmp/grpcscope-bench", help="where generated captures go")
    ap.add_argument("--repeat", type=int, default=3, help="runs per command; the fastest is kept")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--tshark-1gb", action="store_true", help="also run tshark on the 1 GB capture (10 minutes, 12 GB)")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    if not a.no_build:
        build()
    if a.smoke:
        sizes = [("smoke", 3000)]
        a.repeat = 1
    else:
        sizes = [("60MB", 120_000), ("1GB", 2_200_000)]
    print(f"# grpcscope benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs")
    caps = {}
    for label, calls in sizes:
        path = os.path.join(a.dir, f"bench-{label}.pcap")
        log(f"generating {path} ({calls:,} calls)")
        caps[label] = cap = generate(path, calls, 60_000)
        # tshark takes ~30 s per 100k calls (and 1 GB of memory per 200k):
        # beside the 1 GB capture only when asked.
        rows, tshark = run_commands(cap, with_tshark=label != "1GB" or a.tshark_1gb, repeat=a.repeat)
        print_table(cap, rows, tshark)
        sys.stdout.flush()
    first = caps[sizes[0][0]]
    several_files(first, a.repeat)
    syn_flood(a.dir, 10_000 if a.smoke else 1_000_000, a.repeat)
    sys.stdout.flush()
    biggest = caps[sizes[-1][0]]
    tui = tui_first_rows(biggest)
    if tui:
        print(f"\n### TUI on {os.path.basename(biggest['path'])}\n")
        fmt = lambda v, unit: f"{v:.2f} {unit}" if isinstance(v, float) else "not seen"
        print(f"- first call rows on screen: {fmt(tui['first_rows'], 's')} after launch")
        print(f"- a key press (j) answered while loading: {fmt(tui['key_answered'], 's')}")
        print(f"- whole capture loaded: {fmt(tui['loaded'], 's')}; peak RSS {tui['rss_mb'] or 0:.0f} MB")
    if a.live:
        cap = caps.get("60MB") or biggest
        rates = [20_000] if a.smoke else [20_000, 40_000, 60_000, 80_000, 100_000, 0]
        rows = live_replay(cap, rates, 2 if a.smoke else 4)
        if rows:
            print_live(rows)
    if not a.smoke:
        return
    # Smoke: every command ran (exit 0 checked above) and produced output.
    r = measure([BIN, "stats", "--format", "json", caps["smoke"]["path"]], stdout=subprocess.PIPE)
    summary = json.loads(r["stdout"].splitlines()[0])
    if summary.get("calls") != caps["smoke"]["calls"]:
        raise SystemExit(f"smoke: stats saw {summary.get('calls')} calls, generator wrote {caps['smoke']['calls']}")
    log("bench smoke: ok")


if __name__ == "__main__":
    main()
