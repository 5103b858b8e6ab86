import { createRng } from '../../src/model/prng.js';
import type { ModelHyperParams } from '../../src/pipeline/model.js';

export const SMALL: ModelHyperParams = {
  windowSize: 16,
  channels: 3,
  units: 8,
  depth: 1,
  dropout: 0,
  loss: 'mse',
  learningRate: 0.02,
  seed: 7,
};

/**
 * `n` windows of seeded multichannel sine waves (each channel its own period, each window a
 * random phase, a little noise), row-major `n × windowSize × channels`, roughly in [-1, 1].
 */
export function sineWindows(n: number, windowSize: number, channels: number, seed: number): Float32Array {
  const rng = createRng(seed, 99);
  const x = new Float32Array(n * windowSize * channels);
  for (let i = 0; i < n; i++) {
    const phase = rng() * 2 * Math.PI;
    for (let t = 0; t < windowSize; t++) {
      for (let c = 0; c < channels; c++) {
        const period = 8 + 4 * c;
        x[(i * windowSize + t) * channels + c] = 0.8 * Math.sin(phase + (2 * Math.PI * t) / period) + 0.05 * (rng() - 0.5);
      }
    }
  }
  return x;
}

/** A copy of `x` with a spike of `size` in `channel` over two steps in the middle of each window. */
export function withSpikes(x: Float32Array, windowSize: number, channels: number, channel: number, size: number): Float32Array {
  const out = x.slice();
  const n = x.length / (windowSize * channels);
  const mid = Math.floor(windowSize / 2);
  for (let i = 0; i < n; i++) {
    for (const t of [mid, mid + 1]) out[(i * windowSize + t) * channels + channel]! += size;
  }
  return out;
}

export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return sum / values.length;
}
