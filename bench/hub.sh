#!/usr/bin/env bash
# Header-only reads over the network: build paramaudit and the standalone test Hub
# (examples/test_hub.rs), write DeepSeek-V3's 163-shard release (sparse), install
# huggingface_hub in a throwaway venv, and print paramaudit next to
# huggingface_hub.get_safetensors_metadata against the same Hub with LATENCY ms added to
# every answer (163 shards; then 1,000 repositories).
# Usage: bench/hub.sh [RUNS] [LATENCY_MS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
latency="${2:-50}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet
cargo build --release --quiet --example make_layout --example test_hub
target/release/examples/make_layout "$work/deepseek-v3" deepseek-v3
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check huggingface_hub==2.4.0 safetensors==0.8.0
"$work/venv/bin/python" bench/hub_bench.py target/release/paramaudit target/release/examples/test_hub \
  "$work/deepseek-v3" fixtures/tiny/bert-model "$latency" "$runs"
