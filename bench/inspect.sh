#!/usr/bin/env bash
# Build the release binary, write the full-size layouts (sparse: headers are real, data
# regions are holes, no disk), install Python safetensors in a throwaway venv, and print
# `paramaudit inspect` next to Python safetensors reading the same headers:
# bert-base-uncased, Qwen3-30B-A3B (16 shards, 18,867 tensors), DeepSeek-V3's release
# (163 shards, 46,183 tensors) and a synthetic 1T-parameter decoder (1,000 shards).
# Usage: bench/inspect.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet
cargo build --release --quiet --example make_layout
for m in base qwen3-30b-a3b deepseek-v3 1t; do
  dir="$work/$m"; [ "$m" = base ] && dir="$work/bert-base"
  target/release/examples/make_layout "$dir" "$m"
done
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check safetensors==0.8.0 numpy
"$work/venv/bin/python" bench/inspect_scale.py target/release/paramaudit "$work" "$runs"
