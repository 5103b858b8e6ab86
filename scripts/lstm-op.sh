#!/usr/bin/env bash
# Builds aemon's LSTM inference op (src/model/lstmOp.cc) for the tensorflow backend, next to the
# libtensorflow that `npm run tfjs-node:from-wheel` staged: node_modules/@tensorflow/tfjs-node/
# deps/aemon_lstm_op.node. The fused kernel scores with it when it is there (AEMON_MODEL_LSTM_OP=false turns
# it off), and with TensorFlow's BlockLSTM otherwise. Needs g++ and Node's headers (node_api.h);
# TensorFlow's C++ headers come from the wheel the library came from (the one
# scripts/tfjs-node-from-wheel.sh recorded in deps/.from-wheel, cached in .cache/tfjs-node).
# Idempotent: it rebuilds only when the source or the wheel changed.
#
#   bash scripts/lstm-op.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=.cache/tfjs-node
PKG=node_modules/@tensorflow/tfjs-node
OUT="$PKG/deps/aemon_lstm_op.node"
STAMP="$OUT.stamp"
SRC=src/model/lstmOp.cc

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'lstm-op: %s\n' "$*" >&2; exit 1; }

[ -f "$PKG/deps/lib/libtensorflow_framework.so.2" ] && [ -f "$PKG/deps/.from-wheel" ] ||
  die "no libtensorflow from a wheel in $PKG/deps: run npm run tfjs-node:from-wheel first"
# e.g. tensorflow-cpu-2.21.0: the package, then the version after the last dash.
from_wheel=$(cat "$PKG/deps/.from-wheel")
TF_WHEEL_PACKAGE=${from_wheel%-*}
TF_WHEEL_VERSION=${from_wheel##*-}
key="$from_wheel $(sha256sum "$SRC" | cut -c1-16)"
if [ "${1:-}" != --force ] && [ -f "$OUT" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$key" ]; then
  say "aemon's LSTM op is built ($OUT)"
  exit 0
fi

wheel=$(ls "$CACHE"/"${TF_WHEEL_PACKAGE//-/_}"-"$TF_WHEEL_VERSION"-*.whl 2>/dev/null | head -n1 || true)
[ -n "$wheel" ] || die "the $TF_WHEEL_PACKAGE $TF_WHEEL_VERSION wheel is not in $CACHE: run npm run tfjs-node:from-wheel first"
headers="$CACHE/$TF_WHEEL_PACKAGE-$TF_WHEEL_VERSION-cc"
if [ ! -f "$headers/.complete" ]; then
  say "unzip TensorFlow's C++ headers from the wheel"
  rm -rf "$headers"
  mkdir -p "$headers"
  unzip -q -o "$wheel" 'tensorflow/include/*' -d "$headers"
  touch "$headers/.complete"
fi

node_include=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")/include/node
[ -f "$node_include/node_api.h" ] || node_include=/usr/include/node
[ -f "$node_include/node_api.h" ] || die "Node's headers (node_api.h) not found next to $(command -v node) or in /usr/include/node"
# AVX2 and FMA where the CPU has them (Eigen's GEMM and tanh are several times faster with them).
arch=()
grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && arch=(-mavx2 -mfma)

say "g++ $SRC → $OUT"
tmp="$OUT.tmp.$$"
g++ -O3 "${arch[@]}" -fPIC -shared -std=c++17 -w \
  -D_GLIBCXX_USE_CXX11_ABI=1 -DEIGEN_MAX_ALIGN_BYTES=64 \
  -I"$headers/tensorflow/include" -I"$node_include" \
  -o "$tmp" "$SRC" \
  -L"$PKG/deps/lib" -l:libtensorflow_framework.so.2 -Wl,-rpath,'$ORIGIN/lib'
mv "$tmp" "$OUT"

# It loads into a process that runs tfjs-node, and the op runs by name.
TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-1} node -e "
  const tf = require('@tensorflow/tfjs-node');
  process.dlopen({ exports: {} }, require('path').resolve('$OUT'));
  const b = tf.backend().binding;
  const attrs = [{ name: 'steps', type: b.TF_ATTR_INT, value: 1 }, { name: 'repeat', type: b.TF_ATTR_BOOL, value: true }, { name: 'last_only', type: b.TF_ATTR_BOOL, value: true }];
  // One unit, input 1, only the candidate's kernel 1 (gates i, f, c, o), no bias: i = f = o = ½,
  // c = ½·tanh(1), h = ½·tanh(c).
  const [h] = tf.backend().executeMultipleOutputs('AemonLstmInference', attrs, [tf.ones([1, 1]), tf.tensor2d([[0, 0, 1, 0]]), tf.zeros([1, 4]), tf.zeros([4])], 1);
  const want = 0.5 * Math.tanh(0.5 * Math.tanh(1));
  if (Math.abs(h.dataSync()[0] - want) > 1e-6) { console.error('AemonLstmInference gave ' + h.dataSync()[0] + ', not ' + want); process.exit(1); }
  console.log('AemonLstmInference runs on libtensorflow ' + b.TF_Version);
"
echo "$key" >"$STAMP"
