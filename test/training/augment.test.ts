import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { principalDirection, shiftWindows } from '../../src/training/augment.js';

const dot = (a: readonly number[], b: readonly number[]): number => a.reduce((s, x, i) => s + x * b[i]!, 0);

/** Rows on the line `offset + load · gain` with a little noise, `n` readings. */
function lineRows(gain: readonly number[], n: number, noise: number): Float32Array {
  const rows = new Float32Array(n * gain.length);
  for (let i = 0; i < n; i++) {
    const load = Math.sin(i / 7) + 0.3 * Math.cos(i / 3);
    gain.forEach((g, c) => (rows[i * gain.length + c] = 2 + load * g + noise * Math.sin(i * 12.9898 + c * 78.233)));
  }
  return rows;
}

test('the principal direction of readings on one load is the load direction, also for gains of opposite sign', () => {
  // (1, -1)/√2 is orthogonal to a power iteration's usual start (1, 1)/√2.
  for (const gain of [
    [1, -1],
    [1, 1],
    [2, -1, 0.5, -3],
    [0, 0, 4],
  ]) {
    const { direction, variance } = principalDirection(lineRows(gain, 2000, 0.01), gain.length);
    const norm = Math.sqrt(dot(gain, gain));
    assert.ok(Math.abs(Math.abs(dot(direction, gain)) / norm - 1) < 1e-4, `direction ${direction} for gain ${gain}`);
    assert.ok(Math.abs(Math.sqrt(dot(direction, direction)) - 1) < 1e-9);
    assert.ok(variance > 0.1 * norm * norm, `variance ${variance}`);
  }
});

test('the principal direction is a unit eigenvector of the covariance, with the largest eigenvalue', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 6 }),
      fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 60, maxLength: 60 * 6 }),
      (channels, values) => {
        const n = Math.floor(values.length / channels);
        fc.pre(n >= 3);
        const rows = Float32Array.from(values.slice(0, n * channels));
        const { direction, variance } = principalDirection(rows, channels);
        // Rayleigh quotient of every unit basis vector is at most the top eigenvalue.
        const mean = Array.from({ length: channels }, (_, c) => {
          let s = 0;
          for (let i = 0; i < n; i++) s += rows[i * channels + c]!;
          return s / n;
        });
        const projectedVar = (u: readonly number[]): number => {
          let s = 0;
          for (let i = 0; i < n; i++) {
            let p = 0;
            for (let c = 0; c < channels; c++) p += (rows[i * channels + c]! - mean[c]!) * u[c]!;
            s += p * p;
          }
          return s / (n - 1);
        };
        const scale = Math.max(1, variance);
        assert.ok(Math.abs(projectedVar(direction) - variance) <= 1e-6 * scale);
        for (let c = 0; c < channels; c++) {
          const e = Array.from({ length: channels }, (_, j) => (j === c ? 1 : 0));
          assert.ok(projectedVar(e) <= variance + 1e-6 * scale);
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('shifted windows move along the direction only, within ±k standard deviations, the same for the same seed', () => {
  const channels = 3;
  const size = 4;
  const count = 50;
  const along = { direction: [0.6, -0.8, 0], variance: 4 };
  const original = Float32Array.from({ length: (count + 2) * size * channels }, (_, i) => Math.sin(i));
  const a = original.slice();
  const b = original.slice();
  shiftWindows(a, count, size, channels, along, 1.5, 7, 3);
  shiftWindows(b, count, size, channels, along, 1.5, 7, 3);
  assert.deepEqual(a, b);
  let moved = 0;
  for (let w = 0; w < count + 2; w++) {
    const shifts = new Set<number>();
    for (let t = 0; t < size; t++) {
      const at = (w * size + t) * channels;
      const d = [0, 1, 2].map((c) => a[at + c]! - original[at + c]!);
      const c = dot(d, along.direction);
      // no component off the direction, at most k·σ = 3 along it, the same for every reading of the window
      assert.ok(Math.abs(d[0]! - c * 0.6) < 1e-5 && Math.abs(d[1]! + c * 0.8) < 1e-5 && Math.abs(d[2]!) < 1e-6);
      assert.ok(Math.abs(c) <= 3 + 1e-5);
      shifts.add(Math.round(c * 1e4));
    }
    assert.equal(shifts.size, 1, `window ${w} moved as a whole`);
    if (w >= count) assert.deepEqual([...shifts], [0], 'windows past `count` stay');
    else if (shifts.has(0) === false) moved++;
  }
  assert.ok(moved > count - 2);
  const other = original.slice();
  shiftWindows(other, count, size, channels, along, 1.5, 8, 3);
  assert.notDeepEqual(other, a, 'another seed draws other shifts');
  const none = original.slice();
  shiftWindows(none, count, size, channels, along, 0, 7, 3);
  assert.deepEqual(none, original, 'k = 0 moves nothing');
});
