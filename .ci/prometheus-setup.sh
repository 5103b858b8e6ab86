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

command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
echo "== installing ${missing[*]} with apt-get"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# Quiet on success; the whole apt output when it fails.
if ! "${sudo[@]}" apt-get update -qq >"$out" 2>&1; then cat "$out" >&2; die "apt-get update failed"; fi
if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$out" 2>&1; then
  cat "$out" >&2
  die "apt-get install ${missing[*]} failed"
fi
# The Debian package starts a service where systemd runs; the tests never use it.
for bin in prometheus promtool docker-compose; do
  command -v "$bin" >/dev/null || die "$bin still missing after apt-get install"
done
echo "== $(prometheus --version 2>&1 | head -1); $(docker-compose version --short 2>/dev/null || docker-compose --version)"
