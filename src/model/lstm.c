/*
 * aemon's `simd` scoring kernel (docs/performance.md#scoring-kernels): the LSTM autoencoder's inference forward pass
 * as WebAssembly SIMD, for backends without TensorFlow's BlockLSTM. tfjs-layers runs about twenty
 * tfjs ops per step, and on the wasm backend each slice or split copies its whole input tensor out
 * of the heap; here a step is one pass over two batch rows with the weights in cache.
 *
 * Layouts are tfjs-layers' own, row-major float32: an LSTM kernel [in, 4u], recurrent kernel
 * [u, 4u] and bias [4u] with the gate columns in the order i, f, c, o; Dense kernel [u, out].
 * Gates: i, f, o = sigmoid, c~ = tanh (recurrentActivation 'sigmoid', activation 'tanh').
 *
 * Built by scripts/lstm-wasm.sh (clang --target=wasm32 -msimd128) into src/model/lstmWasm.ts.
 * No libc: exp is Cephes' expf polynomial, within about 2 ulp of the true value.
 */
#include "lstmSimd.h"

/* Rows r0 .. r0 + R − 1 of project() below; R is a constant at each call. */
static inline __attribute__((always_inline)) void project_rows(const int R, const float *in, int r0, int inDim,
                                                              const float *w, const float *bias, float *out,
                                                              int outDim) {
  const float *x[R];
  for (int r = 0; r < R; r++) x[r] = in + (r0 + r) * inDim;
  int j = 0;
  for (; j + 4 <= outDim; j += 4) {
    v128_t acc[R];
    for (int r = 0; r < R; r++) acc[r] = wasm_v128_load(bias + j);
    for (int k = 0; k < inDim; k++) {
      const v128_t wk = wasm_v128_load(w + k * outDim + j);
      for (int r = 0; r < R; r++) acc[r] = wasm_f32x4_add(acc[r], wasm_f32x4_mul(splat(x[r][k]), wk));
    }
    for (int r = 0; r < R; r++) wasm_v128_store(out + (r0 + r) * outDim + j, acc[r]);
  }
  for (; j < outDim; j++) {
    float acc[R];
    for (int r = 0; r < R; r++) acc[r] = bias[j];
    for (int k = 0; k < inDim; k++) {
      const float wk = w[k * outDim + j];
      for (int r = 0; r < R; r++) acc[r] += x[r][k] * wk;
    }
    for (int r = 0; r < R; r++) out[(r0 + r) * outDim + j] = acc[r];
  }
}

/*
 * out[r, j] = bias[j] + sum_k in[r, k] * w[k, j] for r < rows: the decoder's input projection,
 * once per window (RepeatVector feeds it the same vector at every step), or the TimeDistributed
 * Dense. lstm() projects the other layers' inputs inside its steps. Four rows at a time: with
 * a Dense of one or a few outputs a row is one chain of dependent additions, and four of them
 * overlap.
 */
EXPORT("project")
void project(const float *in, int rows, int inDim, const float *w, const float *bias, float *out, int outDim) {
  int r = 0;
  for (; r + 4 <= rows; r += 4) project_rows(4, in, r, inDim, w, bias, out, outDim);
  for (; r < rows; r++) project_rows(1, in, r, inDim, w, bias, out, outDim);
}

/* a[r] += v[r] · w[:, j .. j + cols) for the R rows of a block, w having `dim` rows of g floats. */
static inline __attribute__((always_inline)) void accumulate(const int R, const int cols, v128_t a[R][cols / 4],
                                                            const float *const *v, int dim, const float *w, int g,
                                                            int j) {
  for (int k = 0; k < dim; k++) {
    const float *row = w + k * g + j;
    v128_t vk[R];
    for (int r = 0; r < R; r++) vk[r] = splat(v[r][k]);
    for (int q = 0; q < cols / 4; q++) {
      const v128_t wq = wasm_v128_load(row + 4 * q);
      for (int r = 0; r < R; r++) a[r][q] = wasm_f32x4_add(a[r][q], wasm_f32x4_mul(vk[r], wq));
    }
  }
}

/*
 * z[r] = x[r] + in[r] · kernel + h[r] · recurrent for the R rows of a block (summed in that
 * order, as project() and then the recurrence would), `cols` columns at a time from column j
 * while they fit in g; returns the first column left. Each weight vector loaded serves all R
 * rows, and the R × cols / 4 accumulators stay in registers: V8 has 15 vector registers on x64,
 * and one accumulator more spills to the stack, where every k adds a store-to-load round trip.
 */
static inline __attribute__((always_inline)) int step_columns(const int R, const int cols, int j, const float *const *x,
                                                              const float *const *in, int inDim, const float *kernel,
                                                              const float *const *h, const float *recurrent, int units,
                                                              float *z, int zStride) {
  const int g = 4 * units;
  for (; j + cols <= g; j += cols) {
    v128_t a[R][cols / 4];
    for (int r = 0; r < R; r++)
      for (int q = 0; q < cols / 4; q++) a[r][q] = wasm_v128_load(x[r] + j + 4 * q);
    accumulate(R, cols, a, in, inDim, kernel, g, j);
    accumulate(R, cols, a, h, units, recurrent, g, j);
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
                                                            int stepStride, const float *input, int inDim,
                                                            const float *kernel, const float *recurrent, int units,
                                                            int b, int steps, float *out, int allSteps,
                                                            float *scratch) {
  const int padded = (units + 3) & ~3;
  const int zStride = 4 * units + 4;
  float *z = scratch;
  float *h = scratch + R * zStride;
  float *c = h + R * padded;
  for (int j = 0; j < R * padded; j++) h[j] = c[j] = 0.0f;
  const float *hr[R];
  for (int r = 0; r < R; r++) hr[r] = h + r * padded;
  for (int t = 0; t < steps; t++) {
    const float *x[R], *inRow[R];
    for (int r = 0; r < R; r++) {
      x[r] = xp + (b + r) * seqStride + t * stepStride;
      inRow[r] = input + ((b + r) * steps + t) * inDim;
    }
    /* 2 rows × 16 columns or 1 × 16 is 8 accumulators; g = 4u is a multiple of 4 for the rest. */
    int j = step_columns(R, 16, 0, x, inRow, inDim, kernel, hr, recurrent, units, z, zStride);
    step_columns(R, 4, j, x, inRow, inDim, kernel, hr, recurrent, units, z, zStride);
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
        for (int k = 0; k < units; k++) dst[k] = hr[r][k];
      }
    }
  }
}

/*
 * One LSTM layer from zero state over `steps` steps of `batch` sequences, z = x + in · kernel +
 * h · recurrent at each step. x is at xp + b * seqStride + t * stepStride for sequence b at step
 * t ([4u]): the layer's bias with both strides 0, or the decoder's input projection done once
 * per window (seqStride 4u, stepStride 0: RepeatVector feeds it the same vector at every step).
 * in is the layer's input at that step, input [batch, steps, inDim] against kernel [inDim, 4u];
 * inDim 0 adds nothing. Projecting the input inside the step saves writing and reading back
 * steps × 4u floats per sequence (8 MB for a chunk of 256 windows of M0), which was most of what
 * a separate projection of all steps cost.
 * Writes every step's h to out [batch, steps, u] when allSteps, else the last one to [batch, u].
 * Sequences go two at a time, so that each weight vector loaded is used for both; an odd
 * batch's last one goes alone. scratch: lstm_scratch(u) floats; lanes past u in it hold values
 * nothing reads.
 */
EXPORT("lstm")
void lstm(const float *xp, int seqStride, int stepStride, const float *input, int inDim, const float *kernel,
          const float *recurrent, int units, int batch, int steps, float *out, int allSteps, float *scratch) {
  int b = 0;
  for (; b + 2 <= batch; b += 2)
    lstm_rows(2, xp, seqStride, stepStride, input, inDim, kernel, recurrent, units, b, steps, out, allSteps, scratch);
  if (b < batch)
    lstm_rows(1, xp, seqStride, stepStride, input, inDim, kernel, recurrent, units, b, steps, out, allSteps, scratch);
}

/* The floats of scratch lstm() needs for `units`: its z, h and c for two rows. */
EXPORT("lstm_scratch")
int lstm_scratch(int units) { return 2 * (4 * units + 4 + 2 * ((units + 3) & ~3)); }
