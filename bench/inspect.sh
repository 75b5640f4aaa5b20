#!/usr/bin/env bash
# Build the release binary, write the full-size bert-base-uncased layout (sparse, 440 MB
# apparent, no disk), install Python safetensors + numpy in a throwaway venv, and print
# paramaudit's wall time and peak RSS next to Python safetensors reading the same header.
# Usage: bench/inspect.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet
cargo run --release --quiet --example make_layout -- "$work/bert-base-uncased"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check safetensors numpy
"$work/venv/bin/python" bench/inspect_bench.py target/release/paramaudit "$work/bert-base-uncased" "$runs"
target/release/paramaudit inspect "$work/bert-base-uncased" --format json |
  python3 -c 'import json,sys; t=json.load(sys.stdin)["totals"]; print("paramaudit stored_elements: {:,}, parameters: {:,}".format(t["stored_elements"], t["parameters"]))'
