#!/usr/bin/env python3
"""Benchmark `paramaudit verify` (sha256 of every file + a NaN/Inf/statistics scan of every
tensor) against `openssl dgst -sha256` and `sha256sum` (hashing alone) and Python
(hashlib + safetensors/numpy computing the same statistics), on:

1. one 440 MB bert-base-layout file of random F32 values;
2. the same model in 4 shards (openssl and sha256sum hash the shards one after another,
   as a user would run them).

Each command runs in a fresh process, with a warm page cache (the files read once
beforehand) and with a cold one (every file's pages dropped with
posix_fadvise(POSIX_FADV_DONTNEED) before each run). Prints median wall time, GB/s and
peak RSS (from wait4) side by side.

Usage: bench/verify.py PARAMAUDIT_BINARY SINGLE_DIR SHARDED_DIR [RUNS]   (bench/verify.sh sets it up)
"""
import glob
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(__file__))
from inspect_bench import measure  # noqa: E402

PY_VERIFY = r"""
import glob, hashlib, os, sys
import numpy as np
from safetensors.numpy import safe_open
stats = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.safetensors"))):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            h.update(chunk)
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
    print(os.path.basename(path), h.hexdigest())
print(len(stats), "tensors")
"""


def drop(files):
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)


def warm(files):
    for path in files:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def run(argv, files, runs, cold):
    times, rss, out = [], 0, b""
    for _ in range(runs):
        (drop if cold else warm)(files)
        t, r, out = measure(argv)
        times.append(t)
        rss = max(rss, r)
    return statistics.median(times), min(times), rss / 1024, out


def table(title, binary, model, runs):
    files = sorted(glob.glob(os.path.join(model, "*.safetensors")))
    size = sum(os.path.getsize(f) for f in files)
    cmds = [
        ("openssl dgst -sha256 (hash only)", ["openssl", "dgst", "-sha256", *files]),
        ("sha256sum (hash only)", ["sha256sum", *files]),
        ("paramaudit verify", [binary, "verify", model, "--format", "json", "--quiet"]),
        ("python hashlib+numpy (same stats)", [sys.executable, "-c", PY_VERIFY, model]),
    ]
    print(f"\n{title}: {len(files)} file(s), {size:,} bytes, random F32; {runs} runs, {os.cpu_count()} cores")
    print(f"{'command':<36} {'cache':<5} {'median s':>9} {'best s':>8} {'GB/s':>6} {'peak RSS MiB':>13}")
    results = {}
    for cold in (False, True):
        for name, argv in cmds:
            med, best, rss, out = run(argv, files, runs, cold)
            results[(name, cold)] = (med, out)
            cache = "cold" if cold else "warm"
            print(f"{name:<36} {cache:<5} {med:>9.3f} {best:>8.3f} {size / med / 1e9:>6.2f} {rss:>13.1f}")
    for cold in (False, True):
        base = results[("openssl dgst -sha256 (hash only)", cold)][0]
        ours = results[("paramaudit verify", cold)][0]
        py = results[("python hashlib+numpy (same stats)", cold)][0]
        print(f"{'cold' if cold else 'warm'}: verify / openssl = {ours / base:.2f}; python / verify = {py / ours:.1f}")
    print("openssl:", " ".join(l.split()[-1][:16] for l in results[("openssl dgst -sha256 (hash only)", False)][1].decode().splitlines()))


def main():
    binary, single, sharded = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    sha_ni = "sha_ni" in open("/proc/cpuinfo").read()
    print(f"machine: {os.cpu_count()} cores, SHA-NI {'yes' if sha_ni else 'no'}")
    table("one file", binary, single, runs)
    table("4 shards", binary, sharded, runs)


if __name__ == "__main__":
    main()
