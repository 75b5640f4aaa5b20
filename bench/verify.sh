#!/usr/bin/env bash
# Build the release binary, write a 440 MB bert-base-layout file of random F32 values and
# the same model in 4 shards, install Python safetensors + numpy in a throwaway venv, and
# print `paramaudit verify` next to `openssl dgst -sha256`, `sha256sum` and the Python
# equivalent, with a warm and a cold page cache (wall time, GB/s, peak RSS).
# Usage: bench/verify.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet
cargo build --release --quiet --example make_layout
target/release/examples/make_layout "$work/bert-base-random" base --random
target/release/examples/make_layout "$work/bert-base-4-shards" base --random --shards 4
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check safetensors==0.8.0 numpy
"$work/venv/bin/python" bench/verify.py target/release/paramaudit "$work/bert-base-random" "$work/bert-base-4-shards" "$runs"
