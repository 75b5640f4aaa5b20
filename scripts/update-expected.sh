#!/usr/bin/env bash
# Regenerate fixtures/expected/<fixture>.json, the stored report of every tiny fixture that
# the tests hold each fixture to with `paramaudit check`. Run after a deliberate change to
# the counting logic and review the diff like code: every changed figure must be explained.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
for dir in fixtures/tiny/*/; do
  name=$(basename "$dir")
  target/debug/paramaudit inspect "fixtures/tiny/$name" --format json > "fixtures/expected/$name.json"
  echo "fixtures/expected/$name.json" >&2
done
