#!/usr/bin/env bash
# Run every test: fetch the real MiniLM weights (verified by sha256), check formatting and
# lints, then the unit and integration tests. This is the README's test command and what
# CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-minilm.sh
cargo fmt --all --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
