#!/usr/bin/env bash
# Builds @tensorflow/tfjs-node against the libtensorflow inside TensorFlow's pip wheel, for machines
# where its own install cannot download libtensorflow (firewalls, CI without that host). The wheel
# (tensorflow-cpu on PyPI) ships the same C API: libtensorflow_cc.so.2 exports every TF_/TFE_
# function the binding uses. See docs/performance.md#tfjs-node-without-its-download.
#
# Idempotent: a second run that finds a working build only verifies it. Run it again after
# `npm ci`, which drops tfjs-node (its install script fails here); the wheel stays cached in
# .cache/tfjs-node, so that rerun takes seconds. package.json and package-lock.json are not changed.
#
#   npm run tfjs-node:from-wheel            # or: bash scripts/tfjs-node-from-wheel.sh [--force]
#   TF_WHEEL_VERSION=2.21.0 TF_WHEEL_PACKAGE=tensorflow-cpu   (defaults)
set -euo pipefail
cd "$(dirname "$0")/.."

TFJS_NODE_VERSION=4.22.0
TF_WHEEL_VERSION=${TF_WHEEL_VERSION:-2.21.0}
TF_WHEEL_PACKAGE=${TF_WHEEL_PACKAGE:-tensorflow-cpu}
CACHE=.cache/tfjs-node
PKG=node_modules/@tensorflow/tfjs-node
STAMP="$PKG/deps/.from-wheel"
FORCE=${1:-}

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'tfjs-node-from-wheel: %s\n' "$*" >&2; exit 1; }

# Loads tfjs-node in a fresh node and checks that the tensorflow backend is active.
verify() {
  TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-1} node -e "
    const tf = require('@tensorflow/tfjs-node');
    const backend = tf.getBackend();
    if (backend !== 'tensorflow') { console.error('tfjs-node loaded, but the backend is ' + backend); process.exit(1); }
    const sum = tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])).dataSync();
    if (sum[0] !== 4 || sum[1] !== 6) { console.error('tensorflow computed ' + sum); process.exit(1); }
    console.log('tfjs-node ' + tf.version['tfjs-node'] + ' on libtensorflow ' + tf.backend().binding.TF_Version + ': backend ' + backend);
  "
}

[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || die "only Linux x86_64 is supported (the ${TF_WHEEL_PACKAGE} wheel's platform), not $(uname -s)-$(uname -m)"

if [ "$FORCE" != --force ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$TF_WHEEL_PACKAGE-$TF_WHEEL_VERSION" ] && verify 2>/dev/null; then
  say "already built from the $TF_WHEEL_PACKAGE $TF_WHEEL_VERSION wheel (--force rebuilds)"
  exit 0
fi

# 1. The wheel, downloaded once. Any CPython tag carries the same libraries: pin one so the local
#    Python's version does not matter.
mkdir -p "$CACHE"
wheel=$(ls "$CACHE"/"${TF_WHEEL_PACKAGE//-/_}"-"$TF_WHEEL_VERSION"-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$wheel" ]; then
  say "pip download $TF_WHEEL_PACKAGE==$TF_WHEEL_VERSION (~275 MB, no dependencies)"
  command -v python3 >/dev/null || die "python3 with pip is needed to download the wheel"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_27_x86_64 --platform manylinux2014_x86_64 \
    -d "$CACHE" "$TF_WHEEL_PACKAGE==$TF_WHEEL_VERSION"
  wheel=$(ls "$CACHE"/"${TF_WHEEL_PACKAGE//-/_}"-"$TF_WHEEL_VERSION"-*.whl | head -n1)
fi
say "wheel: $wheel"

# 2. Only what the binding needs: two shared libraries and the C API headers (2 MB of the
#    wheel's 290 MB include tree; `g++ -MM` on the binding lists them).
unpacked="$CACHE/$TF_WHEEL_PACKAGE-$TF_WHEEL_VERSION"
if [ ! -f "$unpacked/.complete" ]; then
  say "unzip the C API from the wheel"
  rm -rf "$unpacked"
  mkdir -p "$unpacked"
  unzip -q -o "$wheel" -d "$unpacked" \
    'tensorflow/libtensorflow_cc.so.2' 'tensorflow/libtensorflow_framework.so.2' \
    'tensorflow/include/tensorflow/c/*' 'tensorflow/include/tensorflow/core/platform/*' \
    'tensorflow/include/tsl/*' 'tensorflow/include/xla/tsl/c/*'
  touch "$unpacked/.complete"
fi

# 3. The package itself, without its install script (which would try the download). `npm ci`
#    leaves no trace of it when that script fails, so it is usually missing here.
installed=$(node -p "try { require('./$PKG/package.json').version } catch { '' }")
if [ "$installed" != "$TFJS_NODE_VERSION" ]; then
  say "npm install --no-save @tensorflow/tfjs-node@$TFJS_NODE_VERSION --ignore-scripts"
  npm install --no-save --ignore-scripts --no-audit --no-fund "@tensorflow/tfjs-node@$TFJS_NODE_VERSION" >&2
fi

# 4. deps/ as the install script would have left it. The ….so.2.9.1 names are what it checks
#    (libtensorflow 2.9.1 is what tfjs-node 4.22 downloads); the .so names are what the linker
#    wants. Hard links when the cache is on the same disk: the libraries are ~850 MB.
say "stage deps/include and deps/lib in $PKG"
rm -rf "$PKG/deps"
mkdir -p "$PKG/deps/lib"
cp -r "$unpacked/tensorflow/include" "$PKG/deps/include"
for lib in libtensorflow_cc.so.2 libtensorflow_framework.so.2; do
  ln -f "$unpacked/tensorflow/$lib" "$PKG/deps/lib/$lib" 2>/dev/null || cp "$unpacked/tensorflow/$lib" "$PKG/deps/lib/$lib"
done
(
  cd "$PKG/deps/lib"
  ln -sf libtensorflow_cc.so.2 libtensorflow.so
  ln -sf libtensorflow_framework.so.2 libtensorflow_framework.so
  ln -sf libtensorflow_cc.so.2 libtensorflow.so.2.9.1
  ln -sf libtensorflow_framework.so.2 libtensorflow_framework.so.2.9.1
)

# 5. Compile the addon (the prebuilt-addon download fails fast, then node-gyp builds it).
say "npm rebuild @tensorflow/tfjs-node (compiles the addon)"
npm rebuild @tensorflow/tfjs-node --foreground-scripts >&2

verify || die "the build finished but tfjs-node does not load on the tensorflow backend"
echo "$TF_WHEEL_PACKAGE-$TF_WHEEL_VERSION" >"$STAMP"
