/* The vector helpers lstm.c and lstmGrad.c share: one WebAssembly module is built from both. */
#ifndef AEMON_LSTM_SIMD_H
#define AEMON_LSTM_SIMD_H
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(name)))

static inline v128_t splat(float v) { return wasm_f32x4_splat(v); }

/* e^x per lane, x clamped to [-87, 88] (the float range; the LSTM's sigmoid saturates long before). */
static inline v128_t exp4(v128_t x) {
  /* pmin/pmax are one instruction each where min/max are a dozen (their ±0 and NaN rules); with
   x first a NaN still comes through. */
  x = wasm_f32x4_pmin(wasm_f32x4_pmax(x, splat(-87.0f)), splat(88.0f));
  /* n = nearest(x log2 e): adding 1.5 × 2^23 rounds to an integer (to even, as nearest does) and
     leaves n in the low bits of t, which builds 2^n below without a float-to-int conversion. */
  const v128_t t = wasm_f32x4_add(wasm_f32x4_mul(x, splat(1.44269504088896341f)), splat(12582912.0f));
  v128_t n = wasm_f32x4_sub(t, splat(12582912.0f));
  /* x - n ln 2, with ln 2 split in two so that the product is exact in the first part. */
  x = wasm_f32x4_sub(x, wasm_f32x4_mul(n, splat(0.693359375f)));
  x = wasm_f32x4_add(x, wasm_f32x4_mul(n, splat(2.12194440e-4f)));
  v128_t y = splat(1.9875691500e-4f);
  y = wasm_f32x4_add(wasm_f32x4_mul(y, x), splat(1.3981999507e-3f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, x), splat(8.3334519073e-3f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, x), splat(4.1665795894e-2f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, x), splat(1.6666665459e-1f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, x), splat(5.0000001201e-1f));
  y = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(y, x), x), x), splat(1.0f));
  /* 2^n by building the float's exponent bits: n is in [-126, 127] after the clamp, and t's bits
     are 0x4B400000 + n, whose high part the shift drops. */
  v128_t pow2n = wasm_i32x4_shl(wasm_i32x4_add(t, wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(y, pow2n);
}

static inline v128_t sigmoid4(v128_t x) {
  return wasm_f32x4_div(splat(1.0f), wasm_f32x4_add(splat(1.0f), exp4(wasm_f32x4_neg(x))));
}

/* tanh x = 1 - 2 / (e^2x + 1): exact at 0 and saturating to ±1 without overflow. */
static inline v128_t tanh4(v128_t x) {
  v128_t e = exp4(wasm_f32x4_add(x, x));
  return wasm_f32x4_sub(splat(1.0f), wasm_f32x4_div(splat(2.0f), wasm_f32x4_add(e, splat(1.0f))));
}

#endif
