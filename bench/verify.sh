#!/usr/bin/env bash
# Build the release binary, write a 440 MB bert-base-layout file of random F32 values,
# install Python safetensors + numpy in a throwaway venv, and print `paramaudit verify`
# next to `openssl dgst -sha256` and the Python equivalent (wall time, peak RSS).
# Usage: bench/verify.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet
cargo run --release --quiet --example make_layout -- "$work/bert-base-random" base --random
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check safetensors numpy
"$work/venv/bin/python" bench/verify.py target/release/paramaudit "$work/bert-base-random" "$runs"
target/release/paramaudit verify "$work/bert-base-random/model.safetensors" --format json --quiet |
  python3 -c 'import json,sys; r=json.load(sys.stdin); print("paramaudit sha256:", r["files"][0]["sha256"], "tensors:", len(r["tensors"]), "passed:", r["passed"])'
