#!/usr/bin/env bash
# Makes sure the real browser the view's tests drive exists: Debian `chromium` (at /usr/bin/chromium,
# driven by npm playwright-core; no browser download). Idempotent: with chromium in place it does
# nothing.
set -euo pipefail

die() { echo "browser-setup: $*" >&2; exit 1; }

if command -v chromium >/dev/null; then
  echo "== chromium present ($(chromium --version 2>/dev/null | head -1))"
  exit 0
fi

command -v apt-get >/dev/null || die "apt-get not found: install chromium by hand (or set CHROMIUM_PATH to a chromium binary)"
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
echo "== installing chromium with apt-get"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# Quiet on success; the whole apt output when it fails.
if ! "${sudo[@]}" apt-get update -qq >"$out" 2>&1; then cat "$out" >&2; die "apt-get update failed"; fi
if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium >"$out" 2>&1; then
  cat "$out" >&2
  die "apt-get install chromium failed"
fi
command -v chromium >/dev/null || die "chromium still missing after apt-get install"
echo "== $(chromium --version 2>/dev/null | head -1)"
