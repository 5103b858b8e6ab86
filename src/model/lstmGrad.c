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

static inline v128_t fma4(v128_t acc, v128_t a, v128_t b) { return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b)); }

/*
 * y = init + x · w for one row x [inDim], w [inDim, outDim] (init 0 when null): 32 columns at a
 * time, eight accumulators, each x[k] splat once for the eight.
 */
static inline void vec_mat(const float *init, const float *x, int inDim, const float *w, int outDim, float *y) {
  int j = 0;
  for (; j + 32 <= outDim; j += 32) {
    v128_t a[8];
    for (int q = 0; q < 8; q++) a[q] = init ? wasm_v128_load(init + j + 4 * q) : splat(0.0f);
    for (int k = 0; k < inDim; k++) {
      const v128_t xk = splat(x[k]);
      const float *row = w + k * outDim + j;
      for (int q = 0; q < 8; q++) a[q] = fma4(a[q], xk, wasm_v128_load(row + 4 * q));
    }
    for (int q = 0; q < 8; q++) wasm_v128_store(y + j + 4 * q, a[q]);
  }
  for (; j + 4 <= outDim; j += 4) {
    v128_t a = init ? wasm_v128_load(init + j) : splat(0.0f);
    for (int k = 0; k < inDim; k++) a = fma4(a, splat(x[k]), wasm_v128_load(w + k * outDim + j));
    wasm_v128_store(y + j, a);
  }
  for (; j < outDim; j++) {
    float a = init ? init[j] : 0.0f;
    for (int k = 0; k < inDim; k++) a += x[k] * w[k * outDim + j];
    y[j] = a;
  }
}

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
      if (t > 0) {
        vec_mat(x, hs + (at - 1) * units, units, recurrent, g, z);
      } else {
        for (int j = 0; j < g; j += 4) wasm_v128_store(z + j, wasm_v128_load(x + j));
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
 * (dh [batch, u], an encoder that returns its final state). recurrentT is the recurrent kernel
 * transposed, [4u, u], so that dh_prev = dz · recurrentT runs along rows like the forward pass.
 * scratch: 2 × round_up(u, 4) floats.
 */
EXPORT("lstm_backward")
void lstm_backward(const float *dh, int dhAllSteps, const float *gates, const float *cs, const float *tcs,
                   const float *recurrentT, int units, int batch, int steps, float *dz, float *scratch) {
  const int g = 4 * units;
  const int padded = (units + 3) & ~3;
  float *dhNext = scratch;
  float *dcNext = scratch + padded;
  const v128_t one = splat(1.0f);
  for (int b = 0; b < batch; b++) {
    for (int k = 0; k < padded; k++) dhNext[k] = dcNext[k] = 0.0f;
    for (int t = steps - 1; t >= 0; t--) {
      const int at = b * steps + t;
      const float *gt = gates + at * g;
      const float *tc = tcs + at * units;
      const float *cPrev = t > 0 ? cs + (at - 1) * units : 0;
      const float *dhOut = dhAllSteps ? dh + at * units : (t == steps - 1 ? dh + b * units : 0);
      float *d = dz + at * g;
      int j = 0;
      for (; j + 4 <= units; j += 4) {
        const v128_t in = wasm_v128_load(gt + j), forget = wasm_v128_load(gt + units + j);
        const v128_t cell = wasm_v128_load(gt + 2 * units + j), out = wasm_v128_load(gt + 3 * units + j);
        const v128_t tanhC = wasm_v128_load(tc + j);
        v128_t dhj = wasm_v128_load(dhNext + j);
        if (dhOut) dhj = wasm_f32x4_add(dhj, wasm_v128_load(dhOut + j));
        const v128_t dc = fma4(wasm_v128_load(dcNext + j), wasm_f32x4_mul(dhj, out),
                               wasm_f32x4_sub(one, wasm_f32x4_mul(tanhC, tanhC)));
        wasm_v128_store(d + j, wasm_f32x4_mul(wasm_f32x4_mul(dc, cell), wasm_f32x4_mul(in, wasm_f32x4_sub(one, in))));
        const v128_t df = cPrev ? wasm_f32x4_mul(wasm_f32x4_mul(dc, wasm_v128_load(cPrev + j)),
                                                 wasm_f32x4_mul(forget, wasm_f32x4_sub(one, forget)))
                                : splat(0.0f);
        wasm_v128_store(d + units + j, df);
        wasm_v128_store(d + 2 * units + j,
                        wasm_f32x4_mul(wasm_f32x4_mul(dc, in), wasm_f32x4_sub(one, wasm_f32x4_mul(cell, cell))));
        wasm_v128_store(d + 3 * units + j,
                        wasm_f32x4_mul(wasm_f32x4_mul(dhj, tanhC), wasm_f32x4_mul(out, wasm_f32x4_sub(one, out))));
        wasm_v128_store(dcNext + j, wasm_f32x4_mul(dc, forget));
      }
      for (; j < units; j++) {
        const float in = gt[j], forget = gt[units + j], cell = gt[2 * units + j], out = gt[3 * units + j];
        const float dhj = dhNext[j] + (dhOut ? dhOut[j] : 0.0f);
        const float dc = dcNext[j] + dhj * out * (1.0f - tc[j] * tc[j]);
        d[j] = dc * cell * in * (1.0f - in);
        d[units + j] = cPrev ? dc * cPrev[j] * forget * (1.0f - forget) : 0.0f;
        d[2 * units + j] = dc * in * (1.0f - cell * cell);
        d[3 * units + j] = dhj * tc[j] * out * (1.0f - out);
        dcNext[j] = dc * forget;
      }
      if (t > 0) vec_mat(0, d, g, recurrentT, units, dhNext);
    }
  }
}

/*
 * out[k, j] += sum_r a[r, k] · b[r, j]: a weight gradient, input rows against output-gradient
 * rows. Tiles of 2 rows of out by 16 columns keep their 8 accumulators in registers over all r.
 */
EXPORT("grad_at_b")
void grad_at_b(const float *a, int rows, int aDim, int aStride, const float *b, int bDim, int bStride, float *out) {
  int k = 0;
  for (; k + 2 <= aDim; k += 2) {
    float *o0 = out + k * bDim, *o1 = o0 + bDim;
    int j = 0;
    for (; j + 16 <= bDim; j += 16) {
      v128_t p[4], q[4];
      for (int v = 0; v < 4; v++) {
        p[v] = wasm_v128_load(o0 + j + 4 * v);
        q[v] = wasm_v128_load(o1 + j + 4 * v);
      }
      for (int r = 0; r < rows; r++) {
        const float *br = b + r * bStride + j;
        const v128_t a0 = splat(a[r * aStride + k]), a1 = splat(a[r * aStride + k + 1]);
        for (int v = 0; v < 4; v++) {
          const v128_t bv = wasm_v128_load(br + 4 * v);
          p[v] = fma4(p[v], a0, bv);
          q[v] = fma4(q[v], a1, bv);
        }
      }
      for (int v = 0; v < 4; v++) {
        wasm_v128_store(o0 + j + 4 * v, p[v]);
        wasm_v128_store(o1 + j + 4 * v, q[v]);
      }
    }
    for (; j < bDim; j++) {
      float p = o0[j], q = o1[j];
      for (int r = 0; r < rows; r++) {
        const float bv = b[r * bStride + j];
        p += a[r * aStride + k] * bv;
        q += a[r * aStride + k + 1] * bv;
      }
      o0[j] = p;
      o1[j] = q;
    }
  }
  for (; k < aDim; k++) {
    float *o = out + k * bDim;
    for (int r = 0; r < rows; r++) {
      const float ak = a[r * aStride + k];
      const float *br = b + r * bStride;
      for (int j = 0; j < bDim; j++) o[j] += ak * br[j];
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

/* out[r, k] = sum_j a[r, j] · wT[j, k] (wT [n, m], a weight matrix transposed): the gradient of a projection's input. */
EXPORT("a_bt")
void a_bt(const float *a, int rows, int n, const float *wT, int m, float *out) {
  for (int r = 0; r < rows; r++) vec_mat(0, a + r * n, n, wT, m, out + r * m);
}

/* out [cols, rows] = in [rows, cols] transposed. */
EXPORT("transpose")
void transpose(const float *in, int rows, int cols, float *out) {
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) out[c * rows + r] = in[r * cols + c];
}
