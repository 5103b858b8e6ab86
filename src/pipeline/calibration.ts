import type { BatchErrors, ChannelWeighting, SensorCalibration } from './model.js';

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
  const sorted = Array.from(values)
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
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

/**
 * Per-channel error levels for `detection.channelErrors`: each channel's mean error over the
 * calibration windows. A channel reconstructed perfectly gets a floor (a thousandth of the
 * largest level, at least 1e-9) so its ratio stays finite.
 */
export function fitChannelWeighting(
  combine: ChannelWeighting['combine'],
  channelErrors: ArrayLike<number>,
  channels: number,
): ChannelWeighting {
  const n = Math.floor(channelErrors.length / channels);
  const sums = new Array<number>(channels).fill(0);
  for (let i = 0; i < n; i++) for (let c = 0; c < channels; c++) sums[c] = sums[c]! + channelErrors[i * channels + c]!;
  const means = sums.map((s) => (n > 0 ? s / n : 0));
  const floor = Math.max(1e-3 * Math.max(...means), 1e-9);
  return { combine, levels: means.map((m) => Math.max(m, floor)) };
}

/**
 * Each channel's part of window `i`'s error, into `out`: its error, or with a weighting its
 * error ÷ level. Returns the window's error: the parts' mean, or with `max` the largest part.
 */
export function channelParts(
  batch: BatchErrors,
  i: number,
  channels: number,
  weighting: ChannelWeighting | undefined,
  out: Float32Array,
): number {
  if (weighting === undefined) {
    for (let c = 0; c < channels; c++) out[c] = batch.channelErrors[i * channels + c]!;
    return batch.errors[i]!;
  }
  let total = 0;
  let max = 0;
  for (let c = 0; c < channels; c++) {
    const part = batch.channelErrors[i * channels + c]! / weighting.levels[c]!;
    out[c] = part;
    total += part;
    if (part > max) max = part;
  }
  return weighting.combine === 'max' ? max : total / channels;
}

/** Every window's error under `weighting` (the batch's own errors without one). */
export function windowErrors(
  batch: BatchErrors,
  channels: number,
  weighting: ChannelWeighting | undefined,
): Float32Array {
  if (weighting === undefined) return batch.errors;
  const n = batch.errors.length;
  const out = new Float32Array(n);
  const parts = new Float32Array(channels);
  for (let i = 0; i < n; i++) out[i] = channelParts(batch, i, channels, weighting, parts);
  return out;
}

/**
 * A sensor's threshold (and channel weighting) from the errors of its calibration windows:
 * `detection.channelErrors` says how the channel errors combine, then quantile × margin.
 */
export function calibrateErrors(
  batch: BatchErrors,
  channels: number,
  detection: { quantile: number; margin: number; channelErrors: 'mean' | ChannelWeighting['combine'] },
): Pick<SensorCalibration, 'threshold' | 'channelErrors'> {
  if (detection.channelErrors === 'mean')
    return { threshold: calibrateThreshold(batch.errors, detection.quantile, detection.margin) };
  const weighting = fitChannelWeighting(detection.channelErrors, batch.channelErrors, channels);
  return {
    threshold: calibrateThreshold(windowErrors(batch, channels, weighting), detection.quantile, detection.margin),
    channelErrors: weighting,
  };
}

/**
 * Per channel, in raw units: how far a reading may sit from the model's reconstruction before
 * that channel alone — the same deviation on every step of the window, the other channels exact
 * — takes the window's error to the calibrated threshold. The live view draws reconstruction ±
 * this as the channel's expected band.
 */
export function channelTolerance(calibration: SensorCalibration, channels: number, loss: 'mse' | 'mae'): Float32Array {
  const { threshold, std, channelErrors: w } = calibration;
  const out = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    // The channel error (mean over steps) at which the window reaches the threshold.
    const level = w === undefined ? 1 : w.levels[c]!;
    const channelError = threshold * level * (w?.combine === 'max' ? 1 : channels);
    const scaled = loss === 'mse' ? Math.sqrt(channelError) : channelError;
    out[c] = scaled * std[c]!;
  }
  return out;
}
