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
 * z[r] = x[r] + h[r] · recurrent for the R rows of a block, `cols` columns at a time from column j
 * while they fit in g; returns the first column left. Each weight vector loaded serves all R rows,
 * and the R × cols / 4 accumulators stay in registers: V8 has 15 vector registers on x64, and one
 * accumulator more spills to the stack, where every k adds a store-to-load round trip.
 */
static inline __attribute__((always_inline)) int recurrent_columns(const int R, const int cols, int j, const float **x,
                                                                   const float *h, int padded, const float *recurrent,
                                                                   int units, float *z, int zStride) {
  const int g = 4 * units;
  for (; j + cols <= g; j += cols) {
    v128_t a[R][cols / 4];
    for (int r = 0; r < R; r++)
      for (int q = 0; q < cols / 4; q++) a[r][q] = wasm_v128_load(x[r] + j + 4 * q);
    for (int k = 0; k < units; k++) {
      const float *row = recurrent + k * g + j;
      v128_t hk[R];
      for (int r = 0; r < R; r++) hk[r] = splat(h[r * padded + k]);
      for (int q = 0; q < cols / 4; q++) {
        const v128_t w = wasm_v128_load(row + 4 * q);
        for (int r = 0; r < R; r++) a[r][q] = wasm_f32x4_add(a[r][q], wasm_f32x4_mul(hk[r], w));
      }
    }
    for (int r = 0; r < R; r++)
      for (int q = 0; q < cols / 4; q++) wasm_v128_store(z + r * zStride + j + 4 * q, a[r][q]);
  }
  return j;
}

/*
 * Sequences b .. b + R − 1 of lstm() below, stepped together; R is a constant at each call, so
 * the arrays over rows are registers. scratch: R × (4u + 4 + 2 × round_up(u, 4)) floats.
 */
static inline __attribute__((always_inline)) void lstm_rows(const int R, const float *xp, int seqStride,
                                                            int stepStride, const float *recurrent, int units, int b,
                                                            int steps, float *out, int allSteps, float *scratch) {
  const int padded = (units + 3) & ~3;
  const int zStride = 4 * units + 4;
  float *z = scratch;
  float *h = scratch + R * zStride;
  float *c = h + R * padded;
  for (int j = 0; j < R * padded; j++) h[j] = c[j] = 0.0f;
  for (int t = 0; t < steps; t++) {
    const float *x[R];
    for (int r = 0; r < R; r++) x[r] = xp + (b + r) * seqStride + t * stepStride;
    /* 2 rows × 16 columns or 1 × 16 is 8 accumulators; g = 4u is a multiple of 4 for the rest. */
    int j = recurrent_columns(R, 16, 0, x, h, padded, recurrent, units, z, zStride);
    recurrent_columns(R, 4, j, x, h, padded, recurrent, units, z, zStride);
    /* Gate blocks start at multiples of u: with u not a multiple of 4 the last vector reads into
     * the next block (or z's 4 spare floats) and writes padding lanes of h and c only. The rows
     * go through the gates together: each gate is a long chain of dependent steps (exp's
     * polynomial, a division), and R × 4 independent chains keep the vector units busy. */
    for (j = 0; j < units; j += 4) {
      v128_t in[R], forget[R], cell[R], outGate[R], cNew[R];
      for (int r = 0; r < R; r++) {
        const float *zr = z + r * zStride + j;
        in[r] = sigmoid4(wasm_v128_load(zr));
        forget[r] = sigmoid4(wasm_v128_load(zr + units));
        cell[r] = tanh4(wasm_v128_load(zr + 2 * units));
        outGate[r] = sigmoid4(wasm_v128_load(zr + 3 * units));
      }
      for (int r = 0; r < R; r++) {
        float *cr = c + r * padded + j;
        cNew[r] = wasm_f32x4_add(wasm_f32x4_mul(forget[r], wasm_v128_load(cr)), wasm_f32x4_mul(in[r], cell[r]));
        wasm_v128_store(cr, cNew[r]);
      }
      for (int r = 0; r < R; r++) wasm_v128_store(h + r * padded + j, wasm_f32x4_mul(outGate[r], tanh4(cNew[r])));
    }
    if (allSteps || t == steps - 1) {
      for (int r = 0; r < R; r++) {
        float *dst = out + (allSteps ? ((b + r) * steps + t) * units : (b + r) * units);
        for (int k = 0; k < units; k++) dst[k] = h[r * padded + k];
      }
    }
  }
}

/*
 * One LSTM layer from zero state over `steps` steps of `batch` sequences. The input projection of
 * sequence b at step t (bias included, [4u]) is at xp + b * seqStride + t * stepStride; a
 * stepStride of 0 reads the same projection at every step (the decoder after RepeatVector).
 * Writes every step's h to out [batch, steps, u] when allSteps, else the last one to [batch, u].
 * Sequences go two at a time, so that each recurrent weight vector loaded is used for both; an
 * odd batch's last one goes alone. scratch: lstm_scratch(u) floats; lanes past u in it hold
 * values nothing reads.
 */
EXPORT("lstm")
void lstm(const float *xp, int seqStride, int stepStride, const float *recurrent, int units, int batch, int steps,
          float *out, int allSteps, float *scratch) {
  int b = 0;
  for (; b + 2 <= batch; b += 2) lstm_rows(2, xp, seqStride, stepStride, recurrent, units, b, steps, out, allSteps, scratch);
  if (b < batch) lstm_rows(1, xp, seqStride, stepStride, recurrent, units, b, steps, out, allSteps, scratch);
}

/* The floats of scratch lstm() needs for `units`: its z, h and c for two rows. */
EXPORT("lstm_scratch")
int lstm_scratch(int units) { return 2 * (4 * units + 4 + 2 * ((units + 3) & ~3)); }
