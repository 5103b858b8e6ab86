#!/usr/bin/env bash
# Makes sure the real Apache Kafka broker used by the tests can start: Java 17+, Maven, the
# broker's jars in .kafka/libs (from kafka/pom.xml, cached by a stamp) and kcat as an independent
# client. Idempotent: a second run with everything in place does nothing and takes under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
POM="$ROOT/kafka/pom.xml"
LIBS="$ROOT/.kafka/libs"
STAMP="$ROOT/.kafka/libs.stamp"

die() { echo "kafka-setup: $*" >&2; exit 1; }

# shellcheck source=.ci/apt.sh
source "$ROOT/.ci/apt.sh"

# Kafka 4.x brokers need Java 17 or newer.
if ! command -v java >/dev/null; then
  echo "== java not found: installing openjdk-17-jre-headless"
  apt_install openjdk-17-jre-headless
fi
JAVA_MAJOR=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')
[ -n "$JAVA_MAJOR" ] && [ "$JAVA_MAJOR" -ge 17 ] || die "Java 17+ required for the Kafka broker, found: $(java -version 2>&1 | head -1)"

if ! command -v mvn >/dev/null; then
  echo "== mvn not found: installing maven"
  apt_install maven
fi

if ! command -v kcat >/dev/null; then
  echo "== kcat not found: installing kcat"
  apt_install kcat
fi

# The stamp records the pom's hash and the jar list copied from it: a changed pom, a missing or an
# extra jar means the folder is refreshed.
pom_hash=$(sha256sum "$POM" | cut -d' ' -f1)
jar_list() { (cd "$LIBS" 2>/dev/null && ls -1 -- *.jar 2>/dev/null | sort) || true; }
expected_stamp() { printf '%s\n%s\n' "$pom_hash" "$(jar_list)"; }

if [ -f "$STAMP" ] && [ -d "$LIBS" ] && [ "$(cat "$STAMP")" = "$(expected_stamp)" ]; then
  echo "== kafka jars up to date in .kafka/libs ($(jar_list | wc -l) jars)"
else
  echo "== fetching the Kafka broker jars into .kafka/libs"
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
  echo "== $(jar_list | wc -l) jars, $(du -sh "$LIBS" | cut -f1) in .kafka/libs"
fi
