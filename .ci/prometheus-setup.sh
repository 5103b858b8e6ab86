#!/usr/bin/env bash
# Makes sure the real Prometheus tools used by the tests exist: prometheus and promtool (Debian
# `prometheus`, 2.42 on bookworm) and docker-compose v1 (Debian `docker-compose`, only for
# `docker-compose config`; images cannot be pulled here). Idempotent: with the binaries in place
# it does nothing. No Prometheus service is started: the tests run their own on free ports.
set -euo pipefail

die() { echo "prometheus-setup: $*" >&2; exit 1; }

missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
# promtool ships in the same package as prometheus.
command -v promtool >/dev/null || { [[ " ${missing[*]-} " == *" prometheus "* ]] || missing+=(prometheus); }
command -v docker-compose >/dev/null || missing+=(docker-compose)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "== prometheus, promtool and docker-compose present ($(prometheus --version 2>&1 | head -1))"
  exit 0
fi

echo "== installing ${missing[*]} with apt-get"
# shellcheck source=.ci/apt.sh
source "$(dirname "$0")/apt.sh"
apt_install --no-install-recommends "${missing[@]}"
# The Debian package starts a service where systemd runs; the tests never use it.
for bin in prometheus promtool docker-compose; do
  command -v "$bin" >/dev/null || die "$bin still missing after apt-get install"
done
echo "== $(prometheus --version 2>&1 | head -1); $(docker-compose version --short 2>/dev/null || docker-compose --version)"
