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

echo "== installing chromium with apt-get"
# shellcheck source=.ci/apt.sh
source "$(dirname "$0")/apt.sh"
apt_install chromium
command -v chromium >/dev/null || die "chromium still missing after apt-get install"
echo "== $(chromium --version 2>/dev/null | head -1)"
