#!/usr/bin/env bash
# The unit tests: every test file except those that start an outside component (the Kafka
# broker, Prometheus and promtool, chromium). They need only Node and node_modules, so they are
# what runs on each supported Node line (scripts/node-versions.sh) besides the full `npm test`.
#
#   bash scripts/unit-tests.sh            # runs them with the `node` on PATH
#   bash scripts/unit-tests.sh --list     # prints the files
set -euo pipefail
cd "$(dirname "$0")/.."

# Test files that start a broker, Prometheus, promtool or a browser (the full suite runs them).
COMPONENT_TESTS=(
  'test/kafka/*'
  'test/deploy/*'
  'test/dashboards/*'
  'test/cli/model-sync.test.ts'
  'test/view/live.test.ts'
  'test/view/report.test.ts'
)

files=()
for f in test/*.test.ts test/*/*.test.ts; do
  skip=
  for pattern in "${COMPONENT_TESTS[@]}"; do
    # shellcheck disable=SC2053 # the pattern is a glob on purpose
    [[ $f == $pattern ]] && skip=1 && break
  done
  [ -z "$skip" ] && files+=("$f")
done

if [ "${1:-}" = --list ]; then
  printf '%s\n' "${files[@]}"
  exit 0
fi
exec node --import tsx --test --test-concurrency=1 "$@" "${files[@]}"
