#!/usr/bin/env python3
"""Benchmark `paramaudit verify` on a 440 MB bert-base-layout file of random F32 values
against `openssl dgst -sha256` (hashing alone, one core) and Python (safetensors + numpy
computing the same statistics and the sha256). Each command runs in a fresh process; the
file is read once beforehand so that every run sees a warm page cache. Prints median wall
time and peak RSS (from wait4) side by side.

Usage: bench/verify.py PARAMAUDIT_BINARY MODEL_DIR [RUNS]   (bench/verify.sh sets it up)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from inspect_bench import bench  # noqa: E402

PY_VERIFY = r"""
import hashlib, sys
import numpy as np
from safetensors.numpy import safe_open
path = sys.argv[1]
h = hashlib.sha256()
with open(path, "rb") as f:
    while chunk := f.read(1 << 24):
        h.update(chunk)
stats = {}
with safe_open(path, framework="numpy") as f:
    for k in f.keys():
        a = f.get_tensor(k)
        if a.dtype.kind != "f":
            stats[k] = (a.min(), a.max())
            continue
        finite = np.isfinite(a)
        tiny = np.finfo(a.dtype).tiny
        v = a[finite].astype(np.float64)
        stats[k] = (
            int(np.isnan(a).sum()), int(np.isposinf(a).sum()), int(np.isneginf(a).sum()),
            int((a == 0).sum()), int(((np.abs(a) < tiny) & (a != 0)).sum()),
            v.min() if v.size else None, v.max() if v.size else None,
            v.mean() if v.size else None, v.std() if v.size else None,
        )
print(h.hexdigest(), len(stats))
"""


def main():
    binary, model_dir = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    st = os.path.join(model_dir, "model.safetensors")
    with open(st, "rb") as f:  # warm the page cache
        while f.read(1 << 24):
            pass
    rows = [
        bench("openssl dgst -sha256 (hash only)", ["openssl", "dgst", "-sha256", st], runs),
        bench("paramaudit verify", [binary, "verify", st, "--format", "json", "--quiet"], runs),
        bench("python safetensors+numpy (same stats + sha256)", [sys.executable, "-c", PY_VERIFY, st], runs),
    ]
    size = os.path.getsize(st)
    print(f"file: {st}: {size:,} bytes, random F32; {runs} runs each, warm page cache, {os.cpu_count()} cores")
    print(f"{'command':<48} {'median s':>9} {'best s':>8} {'MB/s':>7} {'peak RSS MiB':>13}")
    for name, median, best, rss, _ in rows:
        print(f"{name:<48} {median / 1000:>9.3f} {best / 1000:>8.3f} {size / (median / 1000) / 1e6:>7.0f} {rss:>13.1f}")
    base = rows[0][1]
    print(f"verify / openssl = {rows[1][1] / base:.2f}; python / verify = {rows[2][1] / rows[1][1]:.1f}")
    print("openssl:", rows[0][4].decode().split()[-1])
    print("python: ", rows[2][4].decode().strip())


if __name__ == "__main__":
    main()
