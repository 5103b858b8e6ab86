import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyScaler,
  calibrateErrors,
  calibrateThreshold,
  channelParts,
  fitChannelWeighting,
  fitScaler,
  quantile,
  windowErrors,
} from '../../src/pipeline/calibration.js';

test('fitScaler gives per-channel mean and sample std', () => {
  // channel 0: 1,2,3,4 → mean 2.5, sample std sqrt(5/3); channel 1: 10,10,10,14 → mean 11, std 2
  const rows = Float32Array.from([1, 10, 2, 10, 3, 10, 4, 14]);
  const { mean, std } = fitScaler(rows, 2);
  assert.deepEqual(mean, [2.5, 11]);
  assert.ok(Math.abs(std[0]! - Math.sqrt(5 / 3)) < 1e-12);
  assert.ok(Math.abs(std[1]! - 2) < 1e-12);
});

test('a constant channel gets a floored std, not zero', () => {
  const { std } = fitScaler(Float32Array.from([5, 5, 5, 5]), 1);
  assert.equal(std[0], 5e-3);
  assert.equal(fitScaler(Float32Array.from([0, 0]), 1).std[0], 1e-6);
});

test('applyScaler standardises column by column at an offset', () => {
  const out = new Float32Array(6);
  applyScaler(Float32Array.from([3, 13, 1, 9]), { mean: [2, 11], std: [1, 2] }, out, 2);
  assert.deepEqual(Array.from(out), [0, 0, 1, 1, -1, -1]);
});

test('quantile interpolates and ignores non-finite values', () => {
  assert.equal(quantile([4, 1, 3, 2], 0.5), 2.5);
  assert.equal(quantile([1, 2, 3, 4, 5], 1), 5);
  assert.equal(quantile([1, Number.NaN, 3], 0), 1);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

test('calibrateThreshold is quantile × margin with a floor', () => {
  assert.equal(calibrateThreshold([1, 2, 3, 4, 5], 1, 1.5), 7.5);
  assert.equal(calibrateThreshold([0, 0], 0.99, 2), 1e-6);
  assert.ok(Number.isNaN(calibrateThreshold([], 0.99, 2)));
});

// Two windows, two channels: channel 0 errors 2 and 4 (mean 3), channel 1 errors 0.1 and 0.3 (mean 0.2).
const BATCH = { errors: Float32Array.of(1.05, 2.15), channelErrors: Float32Array.of(2, 0.1, 4, 0.3) };

test("fitChannelWeighting takes each channel's mean error, floored at a thousandth of the largest", () => {
  const w = fitChannelWeighting('normalised', BATCH.channelErrors, 2);
  assert.equal(w.combine, 'normalised');
  assert.ok(Math.abs(w.levels[0]! - 3) < 1e-6 && Math.abs(w.levels[1]! - 0.2) < 1e-6);
  // A channel reconstructed perfectly: level 0 → 1e-3 × 5.
  assert.deepEqual(fitChannelWeighting('max', [5, 0, 5, 0], 2).levels, [5, 5e-3]);
});

test('channelParts divides by the levels; normalised averages the ratios, max takes the largest', () => {
  const parts = new Float32Array(2);
  const normalised = { combine: 'normalised' as const, levels: [2, 0.1] };
  // Window 1: 4 / 2 = 2 and 0.3 / 0.1 = 3.
  assert.ok(Math.abs(channelParts(BATCH, 1, 2, normalised, parts) - 2.5) < 1e-6);
  assert.ok(Math.abs(parts[0]! - 2) < 1e-6 && Math.abs(parts[1]! - 3) < 1e-6);
  assert.ok(Math.abs(channelParts(BATCH, 1, 2, { ...normalised, combine: 'max' }, parts) - 3) < 1e-6);
  // Without a weighting: the batch's own error and channel errors.
  assert.ok(Math.abs(channelParts(BATCH, 0, 2, undefined, parts) - 1.05) < 1e-6);
  assert.ok(Math.abs(parts[0]! - 2) < 1e-6 && Math.abs(parts[1]! - 0.1) < 1e-6);
  assert.equal(windowErrors(BATCH, 2, undefined), BATCH.errors);
  const max = windowErrors(BATCH, 2, { ...normalised, combine: 'max' });
  // Window 0: max(2 / 2, 0.1 / 0.1) = 1; window 1: max(2, 3) = 3.
  assert.ok(Math.abs(max[0]! - 1) < 1e-6 && Math.abs(max[1]! - 3) < 1e-6);
});

test('calibrateErrors fits the weighting, then the threshold on the weighted errors', () => {
  const detection = { quantile: 1, margin: 2 };
  assert.deepEqual(calibrateErrors(BATCH, 2, { ...detection, channelErrors: 'mean' }), {
    threshold: calibrateThreshold(BATCH.errors, 1, 2),
  });
  // Levels 3 and 0.2; ratios (2/3, 0.5) and (4/3, 1.5); max per window 2/3 and 1.5 → quantile 1 = 1.5, × 2 = 3.
  const max = calibrateErrors(BATCH, 2, { ...detection, channelErrors: 'max' });
  assert.ok(Math.abs(max.threshold - 3) < 1e-5);
  assert.equal(max.channelErrors?.combine, 'max');
  // Normalised: means (2/3 + 0.5) / 2 and (4/3 + 1.5) / 2 → largest 17/12, × 2.
  const normalised = calibrateErrors(BATCH, 2, { ...detection, channelErrors: 'normalised' });
  assert.ok(Math.abs(normalised.threshold - 17 / 6) < 1e-5);
});
