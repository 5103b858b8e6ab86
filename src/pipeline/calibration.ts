/**
 * Per-sensor scaling and threshold arithmetic. Training fits it and scoring applies it, so it is
 * part of the contract between the two (a model folder stores its results): both must do
 * exactly the same arithmetic.
 */

/** Mean and standard deviation per channel of `rows` (row-major, `channels` columns). */
export function fitScaler(rows: Float32Array, channels: number): { mean: number[]; std: number[] } {
  const n = Math.floor(rows.length / channels);
  const mean = new Array<number>(channels).fill(0);
  const m2 = new Array<number>(channels).fill(0);
  // Welford: stable for long runs of large values (e.g. epoch-like counters).
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < channels; c++) {
      const x = rows[i * channels + c]!;
      const d = x - mean[c]!;
      mean[c] = mean[c]! + d / (i + 1);
      m2[c] = m2[c]! + d * (x - mean[c]!);
    }
  }
  const std = m2.map((s, c) => {
    const sd = n > 1 ? Math.sqrt(s / (n - 1)) : 0;
    // A channel that was constant in training would turn any change into an infinite error;
    // the floor keeps it finite but large.
    return Math.max(sd, 1e-3 * Math.abs(mean[c]!), 1e-6);
  });
  return { mean, std };
}

/** Scales `data` (row-major, `mean.length` columns) into `out` at `offset`. */
export function applyScaler(
  data: Float32Array,
  scaler: { mean: readonly number[]; std: readonly number[] },
  out: Float32Array,
  offset = 0,
): void {
  const channels = scaler.mean.length;
  for (let i = 0; i < data.length; i++) {
    const c = i % channels;
    out[offset + i] = (data[i]! - scaler.mean[c]!) / scaler.std[c]!;
  }
}

/** The `q` quantile of `values` with linear interpolation between order statistics. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const sorted = Array.from(values).filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Threshold from the errors of held-out normal windows: a high quantile times a margin. A tiny
 * floor keeps a perfectly reconstructed sensor from alarming on rounding noise.
 */
export function calibrateThreshold(errors: ArrayLike<number>, q: number, margin: number): number {
  const base = quantile(errors, q);
  if (!Number.isFinite(base)) return Number.NaN;
  return Math.max(base * margin, 1e-6);
}
