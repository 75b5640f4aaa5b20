#!/usr/bin/env python3
"""Benchmark `paramaudit inspect` on the full-size bert-base-uncased layout against the
alternative a user would reach for: Python `safetensors` reading the same header
(safe_open + every tensor's shape). Prints wall time (median of N runs, each a fresh
process) and peak RSS (per process, from wait4) side by side.

Usage: bench/inspect_bench.py PARAMAUDIT_BINARY MODEL_DIR [RUNS]   (bench/inspect.sh sets it up)
"""
import os
import statistics
import sys
import time

PY_READER = r"""
import sys
from safetensors import safe_open
total = 0
with safe_open(sys.argv[1], framework="numpy") as f:
    for k in f.keys():
        n = 1
        for d in f.get_slice(k).get_shape():
            n *= d
        total += n
print(total)
"""


TIME = "/usr/bin/time"


def measure(argv):
    """Run argv once; return (seconds, peak RSS in KiB, stdout bytes). Peak RSS comes from
    GNU time (Debian package `time`), which forks the command from its own small process:
    measured from Python, a child's peak would start at this interpreter's size (Linux
    carries the exec'ing process's high-water mark over). Without it, RSS is 0 (n/a)."""
    have_time = os.access(TIME, os.X_OK)
    r, w = os.pipe()
    rss_r, rss_w = os.pipe()
    cmd = [TIME, "-f", "%M", "-o", f"/dev/fd/{rss_w}", *argv] if have_time else list(argv)
    devnull = os.open(os.devnull, os.O_WRONLY)
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.close(rss_r)
        os.dup2(w, 1)
        os.dup2(devnull, 2)
        os.set_inheritable(rss_w, True)
        os.execvp(cmd[0], cmd)
    os.close(w)
    os.close(rss_w)
    os.close(devnull)
    chunks = []
    while chunk := os.read(r, 1 << 16):
        chunks.append(chunk)
    os.close(r)
    _, status, _ = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    rss = os.read(rss_r, 64).decode().strip()
    os.close(rss_r)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: {argv} failed with {status}")
    return elapsed, int(rss.splitlines()[-1]) if rss else 0, b"".join(chunks)


def bench(name, argv, runs):
    results = [measure(argv) for _ in range(runs)]
    times = sorted(r[0] for r in results)
    rss = max(r[1] for r in results)
    return name, statistics.median(times) * 1000, times[0] * 1000, rss / 1024, results[0][2]


def main():
    binary, model_dir = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    st_file = os.path.join(model_dir, "model.safetensors")
    size = os.path.getsize(st_file)
    blocks = os.stat(st_file).st_blocks * 512
    rows = [
        bench("paramaudit inspect (table)", [binary, "inspect", model_dir], runs),
        bench("paramaudit inspect --format json", [binary, "inspect", model_dir, "--format", "json"], runs),
        bench("python safetensors safe_open + shapes", [sys.executable, "-c", PY_READER, st_file], runs),
    ]
    print(f"file: {st_file}: {size:,} bytes ({blocks:,} allocated on disk), {runs} runs each")
    print(f"{'command':<42} {'median ms':>10} {'best ms':>9} {'peak RSS MiB':>13}")
    for name, median, best, rss, _ in rows:
        print(f"{name:<42} {median:>10.2f} {best:>9.2f} {rss:>13.2f}")
    py_total = int(rows[2][4].decode().strip())
    print(f"python's sum of stored elements: {py_total:,} (paramaudit's stored_elements must match)")


if __name__ == "__main__":
    main()
