#!/usr/bin/env bash
# Checks that the committed `simd` kernel (src/model/lstmWasm.ts) is what src/model/lstm.c and lstmGrad.c
# compile to: rebuilds it with clang and wasm-ld (Debian clang, lld; installed when missing) and
# compares the WebAssembly bytes.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "wasm-check: $*" >&2; exit 1; }

# shellcheck source=.ci/apt.sh
source .ci/apt.sh
missing=()
command -v clang >/dev/null || missing+=(clang)
command -v wasm-ld >/dev/null || missing+=(lld)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing ${missing[*]} with apt-get"
  apt_install --no-install-recommends "${missing[@]}"
fi
bash scripts/lstm-wasm.sh --check
