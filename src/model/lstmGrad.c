/*
 * The `simd` kernel's training half (docs/performance.md#training-kernels): a forward pass that keeps
 * what backpropagation through time needs, and the backward pass of the LSTM autoencoder's layers.
 * The arithmetic of a step is lstm.c's; layouts are the same (tfjs-layers' own, gate columns
 * i, f, c, o), and every array is row-major over [batch, steps, ...].
 *
 * Backward, per LSTM step (h = o·tanh c, c = f·c_prev + i·c~):
 *   dc = dc_next + dh·o·(1 − tanh² c)
 *   dz_i = dc·c~·i(1 − i)   dz_f = dc·c_prev·f(1 − f)   dz_c = dc·i·(1 − c~²)   dz_o = dh·tanh c·o(1 − o)
 *   dc_next = dc·f          dh_prev = R · dz
 * The weight gradients are then sums of outer products over all steps at once (grad_at_b).
 */
#include "lstmSimd.h"

static inline float sigmoid1(float x) { return wasm_f32x4_extract_lane(sigmoid4(splat(x)), 0); }
static inline float tanh1(float x) { return wasm_f32x4_extract_lane(tanh4(splat(x)), 0); }

/*
 * One LSTM layer from zero state, as lstm() in lstm.c, keeping per step and sequence the
 * activated gates [4u] (i, f, c~, o), the cell c [u], tanh c [u] and h [u].
 */
EXPORT("lstm_train")
void lstm_train(const float *xp, int seqStride, int stepStride, const float *recurrent, int units, int batch,
                int steps, float *gates, float *cs, float *tcs, float *hs) {
  const int g = 4 * units;
  for (int b = 0; b < batch; b++) {
    for (int t = 0; t < steps; t++) {
      const int at = b * steps + t;
      const float *x = xp + b * seqStride + t * stepStride;
      float *z = gates + at * g;
      for (int j = 0; j < g; j += 4) wasm_v128_store(z + j, wasm_v128_load(x + j));
      if (t > 0) {
        const float *h = hs + (at - 1) * units;
        for (int k = 0; k < units; k++) {
          const v128_t hk = splat(h[k]);
          const float *row = recurrent + k * g;
          for (int j = 0; j < g; j += 4)
            wasm_v128_store(z + j, wasm_f32x4_add(wasm_v128_load(z + j), wasm_f32x4_mul(hk, wasm_v128_load(row + j))));
        }
      }
      const float *cPrev = t > 0 ? cs + (at - 1) * units : 0;
      float *c = cs + at * units, *tc = tcs + at * units, *h = hs + at * units;
      int j = 0;
      for (; j + 4 <= units; j += 4) {
        const v128_t in = sigmoid4(wasm_v128_load(z + j));
        const v128_t forget = sigmoid4(wasm_v128_load(z + units + j));
        const v128_t cell = tanh4(wasm_v128_load(z + 2 * units + j));
        const v128_t out = sigmoid4(wasm_v128_load(z + 3 * units + j));
        v128_t cNew = wasm_f32x4_mul(in, cell);
        if (cPrev) cNew = wasm_f32x4_add(cNew, wasm_f32x4_mul(forget, wasm_v128_load(cPrev + j)));
        const v128_t tanhC = tanh4(cNew);
        wasm_v128_store(z + j, in);
        wasm_v128_store(z + units + j, forget);
        wasm_v128_store(z + 2 * units + j, cell);
        wasm_v128_store(z + 3 * units + j, out);
        wasm_v128_store(c + j, cNew);
        wasm_v128_store(tc + j, tanhC);
        wasm_v128_store(h + j, wasm_f32x4_mul(out, tanhC));
      }
      for (; j < units; j++) {
        const float in = sigmoid1(z[j]), forget = sigmoid1(z[units + j]);
        const float cell = tanh1(z[2 * units + j]), out = sigmoid1(z[3 * units + j]);
        const float cNew = in * cell + (cPrev ? forget * cPrev[j] : 0.0f);
        z[j] = in;
        z[units + j] = forget;
        z[2 * units + j] = cell;
        z[3 * units + j] = out;
        c[j] = cNew;
        tc[j] = tanh1(cNew);
        h[j] = out * tc[j];
      }
    }
  }
}

/*
 * The gradients of an LSTM layer's pre-activations, dz [batch, steps, 4u], from the gradient of
 * its output: every step's h when dhAllSteps (dh [batch, steps, u]), else only the last step's
 * (dh [batch, u], an encoder that returns its final state). scratch: 2 × round_up(u, 4) floats.
 */
EXPORT("lstm_backward")
void lstm_backward(const float *dh, int dhAllSteps, const float *gates, const float *cs, const float *tcs,
                   const float *recurrent, int units, int batch, int steps, float *dz, float *scratch) {
  const int g = 4 * units;
  const int padded = (units + 3) & ~3;
  float *dhNext = scratch;
  float *dcNext = scratch + padded;
  for (int b = 0; b < batch; b++) {
    for (int k = 0; k < padded; k++) dhNext[k] = dcNext[k] = 0.0f;
    for (int t = steps - 1; t >= 0; t--) {
      const int at = b * steps + t;
      const float *gt = gates + at * g;
      const float *tc = tcs + at * units;
      const float *cPrev = t > 0 ? cs + (at - 1) * units : 0;
      const float *dhOut = dhAllSteps ? dh + at * units : (t == steps - 1 ? dh + b * units : 0);
      float *d = dz + at * g;
      for (int j = 0; j < units; j++) {
        const float in = gt[j], forget = gt[units + j], cell = gt[2 * units + j], out = gt[3 * units + j];
        const float dhj = dhNext[j] + (dhOut ? dhOut[j] : 0.0f);
        const float dc = dcNext[j] + dhj * out * (1.0f - tc[j] * tc[j]);
        d[j] = dc * cell * in * (1.0f - in);
        d[units + j] = cPrev ? dc * cPrev[j] * forget * (1.0f - forget) : 0.0f;
        d[2 * units + j] = dc * in * (1.0f - cell * cell);
        d[3 * units + j] = dhj * tc[j] * out * (1.0f - out);
        dcNext[j] = dc * forget;
      }
      if (t == 0) continue;
      /* dh_prev[k] = sum_j R[k, j] dz[j]: a dot product along R's rows. */
      for (int k = 0; k < units; k++) {
        const float *row = recurrent + k * g;
        v128_t acc = splat(0.0f);
        for (int j = 0; j < g; j += 4) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(row + j), wasm_v128_load(d + j)));
        dhNext[k] = wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1) +
                    wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3);
      }
    }
  }
}

/* out[k, j] += sum_r a[r, k] · b[r, j]: a weight gradient, input rows against output-gradient rows. */
EXPORT("grad_at_b")
void grad_at_b(const float *a, int rows, int aDim, int aStride, const float *b, int bDim, int bStride, float *out) {
  for (int r = 0; r < rows; r++) {
    const float *ar = a + r * aStride;
    const float *br = b + r * bStride;
    for (int k = 0; k < aDim; k++) {
      const float ak = ar[k];
      float *o = out + k * bDim;
      int j = 0;
      for (; j + 4 <= bDim; j += 4)
        wasm_v128_store(o + j, wasm_f32x4_add(wasm_v128_load(o + j), wasm_f32x4_mul(splat(ak), wasm_v128_load(br + j))));
      for (; j < bDim; j++) o[j] += ak * br[j];
    }
  }
}

/* The recurrent kernel's gradient: h of step t − 1 against dz of step t, over every sequence. */
EXPORT("recurrent_grad")
void recurrent_grad(const float *hs, const float *dz, int units, int batch, int steps, float *out) {
  const int g = 4 * units;
  for (int b = 0; b < batch; b++) grad_at_b(hs + b * steps * units, steps - 1, units, units, dz + (b * steps + 1) * g, g, g, out);
}

/* out[b, j] = sum_t a[b, t, j]: a bias gradient (batch 1 over all rows), or RepeatVector's backward. */
EXPORT("sum_steps")
void sum_steps(const float *a, int batch, int steps, int dim, float *out) {
  for (int b = 0; b < batch; b++) {
    float *o = out + b * dim;
    for (int j = 0; j < dim; j++) o[j] = 0.0f;
    for (int t = 0; t < steps; t++) {
      const float *row = a + (b * steps + t) * dim;
      for (int j = 0; j < dim; j++) o[j] += row[j];
    }
  }
}

/* out[r, k] = sum_j a[r, j] · w[k, j] (w [m, n]): the gradient of a projection's input. */
EXPORT("a_bt")
void a_bt(const float *a, int rows, int n, const float *w, int m, float *out) {
  for (int r = 0; r < rows; r++) {
    const float *ar = a + r * n;
    for (int k = 0; k < m; k++) {
      const float *wk = w + k * n;
      float acc = 0.0f;
      for (int j = 0; j < n; j++) acc += ar[j] * wk[j];
      out[r * m + k] = acc;
    }
  }
}
