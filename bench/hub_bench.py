#!/usr/bin/env python3
"""Benchmark header-only reads over the network against `huggingface_hub`, both talking
to the same test Hub (examples/test_hub.rs) that adds LATENCY ms before every answer:

1. DeepSeek-V3's 163-shard release: `paramaudit inspect ID --header-only` (a fresh
   cache each run) against `huggingface_hub.get_safetensors_metadata(ID)`.
2. 1,000 repositories (one small model served under 1,000 ids): one
   `paramaudit inspect ID-0 ... ID-999 --header-only` against get_safetensors_metadata
   over the same ids from a 16-thread pool.

Usage: bench/hub_bench.py PARAMAUDIT TEST_HUB_BINARY LAYOUT_DIR SMALL_MODEL_DIR LATENCY_MS RUNS
(bench/hub.sh sets it up)
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PY_ONE = r"""
import sys
from huggingface_hub import get_safetensors_metadata
m = get_safetensors_metadata(sys.argv[1])
print(len(m.files_metadata), sum(len(f.tensors) for f in m.files_metadata.values()))
"""

PY_MANY = r"""
import sys
from concurrent.futures import ThreadPoolExecutor
from huggingface_hub import get_safetensors_metadata
ids = [f"{sys.argv[1]}-{i}" for i in range(int(sys.argv[2]))]
with ThreadPoolExecutor(16) as pool:
    metas = list(pool.map(get_safetensors_metadata, ids))
print(len(metas), sum(len(f.tensors) for m in metas for f in m.files_metadata.values()))
"""


def start_hub(binary, latency, specs, copies=0):
    args = [binary, "--latency-ms", str(latency)]
    if copies:
        args += ["--copies", str(copies)]
    proc = subprocess.Popen(args + specs, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    assert line[0] == "endpoint", line
    return proc, line[1]


def timed(argv, env, runs):
    times, out = [], ""
    for _ in range(runs):
        cache = tempfile.mkdtemp()
        e = dict(env, HF_HUB_CACHE=cache, HF_HOME=cache)
        t = time.perf_counter()
        p = subprocess.run(argv, env=e, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        shutil.rmtree(cache)
        if p.returncode != 0:
            sys.exit(f"bench: {argv[:3]} failed: {p.stderr[-2000:]}")
        out = p.stdout
    return statistics.median(times), min(times), out


def main():
    ours, hub, layout, small, latency, runs = sys.argv[1:7]
    latency, runs = int(latency), int(runs)
    env = dict(os.environ, HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    print(f"{os.cpu_count()} cores; test Hub adds {latency} ms before every answer; {runs} runs, fresh cache each")
    print(f"{'benchmark':<44} {'median s':>9} {'best s':>8}")

    proc, endpoint = start_hub(hub, latency, [f"org/deepseek-v3={layout}"])
    try:
        env["HF_ENDPOINT"] = endpoint
        a = timed([ours, "inspect", "org/deepseek-v3", "--header-only", "--quiet", "--format", "json"], env, runs)
        b = timed([sys.executable, "-c", PY_ONE, "org/deepseek-v3"], env, runs)
        print(f"{'163 shards: paramaudit --header-only':<44} {a[0]:>9.3f} {a[1]:>8.3f}")
        print(f"{'163 shards: get_safetensors_metadata':<44} {b[0]:>9.3f} {b[1]:>8.3f}")
        print(f"  huggingface_hub / paramaudit = {b[0] / a[0]:.2f}x; python read {b[2].strip()} (files, tensors)")
    finally:
        proc.kill()

    n = 1000
    proc, endpoint = start_hub(hub, latency, [f"org/tiny={small}"], copies=n)
    try:
        env["HF_ENDPOINT"] = endpoint
        ids = [f"org/tiny-{i}" for i in range(n)]
        a = timed([ours, "inspect", *ids, "--header-only", "--quiet", "--format", "jsonl"], env, max(1, runs // 2))
        b = timed([sys.executable, "-c", PY_MANY, "org/tiny", str(n)], env, max(1, runs // 2))
        print(f"{'1,000 repos: paramaudit --header-only':<44} {a[0]:>9.3f} {a[1]:>8.3f}")
        print(f"{'1,000 repos: get_safetensors_metadata x16':<44} {b[0]:>9.3f} {b[1]:>8.3f}")
        print(f"  huggingface_hub / paramaudit = {b[0] / a[0]:.2f}x; paramaudit reports: {len(a[2].splitlines())}")
    finally:
        proc.kill()


if __name__ == "__main__":
    main()
