import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyScaler, calibrateThreshold, fitScaler, quantile } from '../../src/pipeline/calibration.js';

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
