import type { Tensor } from '@tensorflow/tfjs';
import type { BatchErrors, ModelHyperParams } from '../../pipeline/model.js';

/**
 * A score table's errors: the table is [n, 2 × channels], each channel's mean error over the
 * steps, then the reconstruction of the last step; a window's error is the mean of its channels'.
 * Reads and disposes the table.
 */
export async function tableErrors(table: Tensor, n: number, channels: number): Promise<BatchErrors> {
  let values: Float32Array;
  try {
    values = (await table.data()) as Float32Array;
  } finally {
    table.dispose();
  }
  const errors = new Float32Array(n);
  const channelErrors = new Float32Array(n * channels);
  const lastRows = new Float32Array(n * channels);
  for (let i = 0; i < n; i++) {
    const row = i * 2 * channels;
    let total = 0;
    for (let c = 0; c < channels; c++) total += values[row + c]!;
    errors[i] = total / channels;
    channelErrors.set(values.subarray(row, row + channels), i * channels);
    lastRows.set(values.subarray(row + channels, row + 2 * channels), i * channels);
  }
  return { errors, channelErrors, lastRows };
}

/** The same errors from reconstructions in hand (in JS): per channel the mean over steps, then their mean. */
export function reconstructionErrors(
  x: Float32Array,
  output: Float32Array,
  n: number,
  params: Pick<ModelHyperParams, 'windowSize' | 'channels' | 'loss'>,
): BatchErrors {
  const { windowSize, channels, loss } = params;
  const errors = new Float32Array(n);
  const channelErrors = new Float32Array(n * channels);
  const lastRows = new Float32Array(n * channels);
  const sums = new Float64Array(channels);
  for (let i = 0; i < n; i++) {
    sums.fill(0);
    for (let t = 0; t < windowSize; t++) {
      const row = (i * windowSize + t) * channels;
      for (let c = 0; c < channels; c++) {
        const d = output[row + c]! - x[row + c]!;
        sums[c]! += loss === 'mse' ? d * d : Math.abs(d);
      }
    }
    let total = 0;
    for (let c = 0; c < channels; c++) {
      channelErrors[i * channels + c] = sums[c]! / windowSize;
      total += sums[c]! / windowSize;
    }
    errors[i] = total / channels;
    // The reconstruction of the window's last step (the live view draws it).
    const last = (i * windowSize + windowSize - 1) * channels;
    lastRows.set(output.subarray(last, last + channels), i * channels);
  }
  return { errors, channelErrors, lastRows };
}
