#!/usr/bin/env bash
# Makes sure everything `npm test` needs is on this machine; npm runs it as `pretest`.
#
#   - Debian packages: Java 17+ and Maven (for the Kafka broker's jars), kcat (an independent Kafka
#     client), prometheus and promtool, docker-compose (only for `docker-compose config`), chromium
#     (driven by playwright-core). Installed with apt-get when running as root; otherwise it stops
#     with the exact command to run.
#   - The Apache Kafka broker's jars, from kafka/pom.xml with Maven, into the git-ignored
#     .kafka/libs (refreshed when the pom or the jar list changes, recorded in a stamp).
#
# Idempotent: with everything in place it only checks, in well under a second.
# AEMON_TEST_SETUP=0 skips it (for a machine that provides the tools some other way).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
POM="$ROOT/kafka/pom.xml"
LIBS="$ROOT/.kafka/libs"
STAMP="$ROOT/.kafka/libs.stamp"

die() { echo "test-setup: $*" >&2; exit 1; }

if [ "${AEMON_TEST_SETUP:-1}" = 0 ]; then
  echo "test-setup: skipped (AEMON_TEST_SETUP=0)"
  exit 0
fi

# --- Debian packages ---------------------------------------------------------------------------
# `tool package [--no-install-recommends]`: the package that provides each command the tests run.
plain=()  # installed with their recommends (chromium's fonts)
lean=()   # installed without (prometheus would pull in exporters and a service)
need() {
  local tool=$1 pkg=$2 mode=${3:-}
  command -v "$tool" >/dev/null && return 0
  if [ "$mode" = lean ]; then
    [[ " ${lean[*]-} " == *" $pkg "* ]] || lean+=("$pkg")
  else
    [[ " ${plain[*]-} " == *" $pkg "* ]] || plain+=("$pkg")
  fi
}
need java openjdk-17-jre-headless lean
need mvn maven lean
need kcat kcat lean
need prometheus prometheus lean
need promtool prometheus lean
need docker-compose docker-compose lean
# The browser tests take CHROMIUM_PATH instead of Debian's chromium when it is set.
if [ -z "${CHROMIUM_PATH:-}" ]; then need chromium chromium; fi

if [ "${#plain[@]}" -gt 0 ] || [ "${#lean[@]}" -gt 0 ]; then
  all="${lean[*]-} ${plain[*]-}"
  all=$(echo "$all" | xargs)
  command -v apt-get >/dev/null || die "missing: $all, and apt-get is not here: install them by hand"
  if [ "$(id -u)" != 0 ]; then
    cmd="sudo apt-get update && sudo apt-get install -y $all"
    die "the tests need Debian packages that are not installed: $all
run:
  $cmd
then \`npm test\` again"
  fi
  echo "test-setup: installing $all with apt-get (once)"
  out=$(mktemp)
  apt() {
    if ! DEBIAN_FRONTEND=noninteractive apt-get "$@" >"$out" 2>&1; then
      cat "$out" >&2
      rm -f "$out"
      die "apt-get $* failed"
    fi
  }
  apt update -qq
  [ "${#lean[@]}" -eq 0 ] || apt install -y -qq --no-install-recommends "${lean[@]}"
  [ "${#plain[@]}" -eq 0 ] || apt install -y -qq "${plain[@]}"
  rm -f "$out"
  for tool in java mvn kcat prometheus promtool docker-compose; do
    command -v "$tool" >/dev/null || die "$tool still missing after apt-get install"
  done
  [ -n "${CHROMIUM_PATH:-}" ] || command -v chromium >/dev/null || die "chromium still missing after apt-get install"
fi

# Kafka 4.x brokers need Java 17 or newer. `java -version` costs a JVM start (~0.1 s), so the
# answer is kept beside the jars' stamp, keyed by the java binary's path and change time.
java_bin=$(readlink -f "$(command -v java)")
java_key="$java_bin $(stat -c %Y "$java_bin")"
JAVA_STAMP="$ROOT/.kafka/java.stamp"
if [ ! -f "$JAVA_STAMP" ] || [ "$(cat "$JAVA_STAMP")" != "$java_key" ]; then
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')
  [ -n "$major" ] && [ "$major" -ge 17 ] ||
    die "Java 17+ is needed for the Kafka broker, found: $(java -version 2>&1 | head -1)"
  mkdir -p "$ROOT/.kafka"
  echo "$java_key" >"$JAVA_STAMP"
fi

# --- Kafka broker jars -------------------------------------------------------------------------
# The stamp records the pom's hash and the jar list copied from it: a changed pom, a missing or an
# extra jar means the folder is refreshed.
pom_hash=$(sha256sum "$POM" | cut -d' ' -f1)
jar_list() { (cd "$LIBS" 2>/dev/null && ls -1 -- *.jar 2>/dev/null | sort) || true; }
expected_stamp() { printf '%s\n%s\n' "$pom_hash" "$(jar_list)"; }

if [ -f "$STAMP" ] && [ -d "$LIBS" ] && [ "$(cat "$STAMP")" = "$(expected_stamp)" ]; then
  echo "test-setup: kafka jars, kcat, prometheus, promtool, docker-compose and chromium in place"
  exit 0
fi

echo "test-setup: fetching the Kafka broker jars into .kafka/libs (Maven Central, once)"
mkdir -p "$ROOT/.kafka"
tmp=$(mktemp -d "$ROOT/.kafka/libs.tmp.XXXXXX")
trap 'rm -rf "$tmp" "$tmp.log"' EXIT
# Maven's output is shown only when it fails (even -q prints colour codes).
if ! mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
  cat "$tmp.log" >&2
  die "mvn dependency:copy-dependencies failed (is Maven Central reachable?)"
fi
for jar in kafka_2.13-4.1.1.jar slf4j-api-2.0.17.jar slf4j-simple-2.0.17.jar; do
  [ -f "$tmp/$jar" ] || die "mvn did not produce $jar"
done
rm -rf "$LIBS" "$STAMP"
mv "$tmp" "$LIBS"
rm -f "$tmp.log"
trap - EXIT
expected_stamp >"$STAMP"
echo "test-setup: $(jar_list | wc -l) jars, $(du -sh "$LIBS" | cut -f1) in .kafka/libs"
