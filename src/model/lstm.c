/*
 * aemon's `simd` scoring kernel (docs/performance.md#scoring-kernels): the LSTM autoencoder's inference forward pass
 * as WebAssembly SIMD, for backends without TensorFlow's BlockLSTM. tfjs-layers runs about twenty
 * tfjs ops per step, and on the wasm backend each slice or split copies its whole input tensor out
 * of the heap; here a step is one loop over a batch row with the weights in cache.
 *
 * Layouts are tfjs-layers' own, row-major float32: an LSTM kernel [in, 4u], recurrent kernel
 * [u, 4u] and bias [4u] with the gate columns in the order i, f, c, o; Dense kernel [u, out].
 * Gates: i, f, o = sigmoid, c~ = tanh (recurrentActivation 'sigmoid', activation 'tanh').
 *
 * Built by scripts/lstm-wasm.sh (clang --target=wasm32 -msimd128) into src/model/lstmWasm.ts.
 * No libc: exp is Cephes' expf polynomial, within about 2 ulp of the true value.
 */
#include "lstmSimd.h"

/*
 * out[r, j] = bias[j] + sum_k in[r, k] * w[k, j] for r < rows: an LSTM's input projection for
 * every step at once, the decoder's once per window (RepeatVector feeds it the same vector at
 * every step), or the TimeDistributed Dense.
 */
EXPORT("project")
void project(const float *in, int rows, int inDim, const float *w, const float *bias, float *out, int outDim) {
  for (int r = 0; r < rows; r++) {
    const float *x = in + r * inDim;
    float *y = out + r * outDim;
    int j = 0;
    for (; j + 4 <= outDim; j += 4) {
      v128_t acc = wasm_v128_load(bias + j);
      for (int k = 0; k < inDim; k++) {
        acc = wasm_f32x4_add(acc, wasm_f32x4_mul(splat(x[k]), wasm_v128_load(w + k * outDim + j)));
      }
      wasm_v128_store(y + j, acc);
    }
    for (; j < outDim; j++) {
      float acc = bias[j];
      for (int k = 0; k < inDim; k++) acc += x[k] * w[k * outDim + j];
      y[j] = acc;
    }
  }
}

/*
 * One LSTM layer from zero state over `steps` steps of `batch` sequences. The input projection of
 * sequence b at step t (bias included, [4u]) is at xp + b * seqStride + t * stepStride; a
 * stepStride of 0 reads the same projection at every step (the decoder after RepeatVector).
 * Writes every step's h to out [batch, steps, u] when allSteps, else the last one to [batch, u].
 * scratch: 4u + 4 + 2 * round_up(u, 4) floats; lanes past u in it hold values nothing reads.
 */
EXPORT("lstm")
void lstm(const float *xp, int seqStride, int stepStride, const float *recurrent, int units, int batch, int steps,
          float *out, int allSteps, float *scratch) {
  const int g = 4 * units;
  const int padded = (units + 3) & ~3;
  float *z = scratch;
  float *h = scratch + g + 4;
  float *c = h + padded;
  for (int b = 0; b < batch; b++) {
    for (int j = 0; j < padded; j++) h[j] = c[j] = 0.0f;
    for (int t = 0; t < steps; t++) {
      const float *x = xp + b * seqStride + t * stepStride;
      int j = 0;
      /* z = x + h · recurrent, 32 columns at a time so the accumulators stay in registers. */
      for (; j + 32 <= g; j += 32) {
        v128_t a0 = wasm_v128_load(x + j), a1 = wasm_v128_load(x + j + 4);
        v128_t a2 = wasm_v128_load(x + j + 8), a3 = wasm_v128_load(x + j + 12);
        v128_t a4 = wasm_v128_load(x + j + 16), a5 = wasm_v128_load(x + j + 20);
        v128_t a6 = wasm_v128_load(x + j + 24), a7 = wasm_v128_load(x + j + 28);
        for (int k = 0; k < units; k++) {
          const v128_t hk = splat(h[k]);
          const float *row = recurrent + k * g + j;
          a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(hk, wasm_v128_load(row)));
          a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(hk, wasm_v128_load(row + 4)));
          a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(hk, wasm_v128_load(row + 8)));
          a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(hk, wasm_v128_load(row + 12)));
          a4 = wasm_f32x4_add(a4, wasm_f32x4_mul(hk, wasm_v128_load(row + 16)));
          a5 = wasm_f32x4_add(a5, wasm_f32x4_mul(hk, wasm_v128_load(row + 20)));
          a6 = wasm_f32x4_add(a6, wasm_f32x4_mul(hk, wasm_v128_load(row + 24)));
          a7 = wasm_f32x4_add(a7, wasm_f32x4_mul(hk, wasm_v128_load(row + 28)));
        }
        wasm_v128_store(z + j, a0);
        wasm_v128_store(z + j + 4, a1);
        wasm_v128_store(z + j + 8, a2);
        wasm_v128_store(z + j + 12, a3);
        wasm_v128_store(z + j + 16, a4);
        wasm_v128_store(z + j + 20, a5);
        wasm_v128_store(z + j + 24, a6);
        wasm_v128_store(z + j + 28, a7);
      }
      /* g = 4u is a multiple of 4. */
      for (; j < g; j += 4) {
        v128_t a = wasm_v128_load(x + j);
        for (int k = 0; k < units; k++) a = wasm_f32x4_add(a, wasm_f32x4_mul(splat(h[k]), wasm_v128_load(recurrent + k * g + j)));
        wasm_v128_store(z + j, a);
      }
      /* Gate blocks start at multiples of u: with u not a multiple of 4 the last vector reads into
       * the next block (or z's 4 spare floats) and writes padding lanes of h and c only. */
      for (j = 0; j < units; j += 4) {
        const v128_t in = sigmoid4(wasm_v128_load(z + j));
        const v128_t forget = sigmoid4(wasm_v128_load(z + units + j));
        const v128_t cell = tanh4(wasm_v128_load(z + 2 * units + j));
        const v128_t outGate = sigmoid4(wasm_v128_load(z + 3 * units + j));
        const v128_t cNew = wasm_f32x4_add(wasm_f32x4_mul(forget, wasm_v128_load(c + j)), wasm_f32x4_mul(in, cell));
        wasm_v128_store(c + j, cNew);
        wasm_v128_store(h + j, wasm_f32x4_mul(outGate, tanh4(cNew)));
      }
      if (allSteps || t == steps - 1) {
        float *dst = out + (allSteps ? (b * steps + t) * units : b * units);
        for (int k = 0; k < units; k++) dst[k] = h[k];
      }
    }
  }
}
