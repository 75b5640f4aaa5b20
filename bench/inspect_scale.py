#!/usr/bin/env python3
"""Benchmark `paramaudit inspect` at scale against Python `safetensors` reading the same
headers (safe_open + every tensor's shape, over every shard): the full-size bert-base
layout, DeepSeek-V3's 163-shard release, Qwen3-30B-A3B in 16 shards and a synthetic
1-trillion-parameter decoder in 1,000 shards. Each command runs in a fresh process;
median and best wall time over RUNS, peak RSS from wait4. `paramaudit --version` is the
process-start baseline: bert-base's "work after start" is inspect minus it; both run
5 x RUNS times, since the difference is a fraction of a millisecond.

Usage: bench/inspect_scale.py PARAMAUDIT_BINARY LAYOUTS_DIR [RUNS]   (bench/inspect.sh sets it up)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from inspect_bench import bench  # noqa: E402

PY_READER = r"""
import glob, os, sys
from safetensors import safe_open
total = n = 0
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.safetensors"))):
    with safe_open(path, framework="numpy") as f:
        for k in f.keys():
            s = 1
            for d in f.get_slice(k).get_shape():
                s *= d
            total += s
            n += 1
print(n, total)
"""


def main():
    binary, root = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    print(f"{os.cpu_count()} cores; {runs} runs of each command, warm page cache")
    version = bench("paramaudit --version", [binary, "--version"], runs * 5)
    print(f"{'layout':<16} {'command':<34} {'median ms':>10} {'best ms':>9} {'peak RSS MiB':>13}")
    print(f"{'-':<16} {version[0]:<34} {version[1]:>10.2f} {version[2]:>9.2f} {version[3]:>13.2f}")
    for name in ["bert-base", "qwen3-30b-a3b", "deepseek-v3", "1t"]:
        d = os.path.join(root, name)
        files = len([f for f in os.listdir(d) if f.endswith(".safetensors")])
        n = runs * 5 if name == "bert-base" else runs
        ours = bench("paramaudit inspect", [binary, "inspect", d], n)
        ours_json = bench("paramaudit inspect --format json", [binary, "inspect", d, "--format", "json"], runs)
        py = bench("python safetensors safe_open+shapes", [sys.executable, "-c", PY_READER, d], runs)
        for row in (ours, ours_json, py):
            print(f"{name:<16} {row[0]:<34} {row[1]:>10.2f} {row[2]:>9.2f} {row[3]:>13.2f}")
        tensors, total = py[4].decode().split()
        per = (ours[1] - version[1]) * 1000 / int(tensors)
        print(f"{name:<16} {files} files, {int(tensors):,} tensors, {int(total):,} stored elements; "
              f"python/paramaudit = {py[1] / ours[1]:.2f}x; work after start {ours[1] - version[1]:.2f} ms "
              f"= {per:.3f} us/tensor")


if __name__ == "__main__":
    main()
