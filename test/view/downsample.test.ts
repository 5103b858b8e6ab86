import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flaggedSpans, minMaxDownsample, sampleByClass } from '../../src/view/downsample.js';

test('short input comes back unchanged, NaN as null', () => {
  const d = minMaxDownsample([0, 1, 2, 3], [[1, Number.NaN, 3, 4]], 2);
  assert.deepEqual(d, { x: [0, 1, 2, 3], ys: [[1, null, 3, 4]] });
});

test('each column keeps its min and max, in time order, at its first and last x', () => {
  // 12 points, x 0..11, 3 columns of 4: [0..3], [4..7], [8..11].
  const x = Array.from({ length: 12 }, (_, i) => i);
  const y = [5, 9, 1, 5, /**/ 2, 2, 2, 2, /**/ 7, 0, 3, 8];
  const d = minMaxDownsample(x, [y], 3);
  // Column 1: max 9 (i=1) before min 1 (i=2); column 2: flat 2; column 3: min 0 (i=9) before max 8 (i=11).
  assert.deepEqual(d.x, [0, 3, 4, 7, 8, 11]);
  assert.deepEqual(d.ys, [[9, 1, 2, 2, 0, 8]]);
});

test('a single spike among a million points survives, and the points stay bounded by the columns', () => {
  const n = 1_000_000;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = 1_700_000_000_000 + i * 1000;
    y[i] = Math.sin(i / 1000);
  }
  y[654_321] = 42;
  y[123_456] = -42;
  const columns = 3000;
  const d = minMaxDownsample(x, [y], columns);
  assert.ok(d.x.length <= 2 * columns, `${d.x.length} points for ${columns} columns`);
  assert.ok(d.x.length >= columns, 'every column with readings gives points');
  const ys = d.ys[0]!;
  assert.equal(Math.max(...(ys as number[])), 42);
  assert.equal(Math.min(...(ys as number[])), -42);
  // The spike is drawn within its own pixel column.
  assert.ok(Math.abs(d.x[ys.indexOf(42)]! - x[654_321]!) <= (x[n - 1]! - x[0]!) / columns);
  // x stays ascending (uPlot needs it).
  for (let i = 1; i < d.x.length; i++) assert.ok(d.x[i]! >= d.x[i - 1]!);
  // Distinct columns used never exceed the requested count.
  const t0 = x[0]!;
  const span = x[n - 1]! - t0;
  const cols = new Set(d.x.map((t) => Math.min(columns - 1, Math.floor(((t - t0) / span) * columns))));
  assert.ok(cols.size <= columns);
});

test('NaN gaps stay gaps: an all-NaN column is null, a NaN inside a column adds a null point', () => {
  const x = Array.from({ length: 12 }, (_, i) => i);
  const a = [1, 2, 3, 4, NaN, NaN, NaN, NaN, 5, NaN, 6, 7];
  const b = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
  const d = minMaxDownsample(x, [a, b], 3);
  assert.deepEqual(d.x, [0, 3, 4, 7, 7, 8, 11, 11]);
  assert.deepEqual(d.ys[0], [1, 4, null, null, null, 5, 7, null]);
  // The other series has no gap: its line goes on through the extra points.
  assert.deepEqual(d.ys[1], [1, 1, 1, 1, 1, 1, 1, 1]);
});

test('bad column counts and mismatched series are refused', () => {
  assert.throws(() => minMaxDownsample([1, 2], [[1, 2]], 0), RangeError);
  assert.throws(() => minMaxDownsample([1, 2], [[1]], 5), RangeError);
});

test('flaggedSpans joins consecutive flagged points into [first x, last x] spans', () => {
  const x = [10, 20, 30, 40, 50, 60];
  const f = [0, 1, 1, 0, 1, 1];
  assert.deepEqual(
    flaggedSpans(x, (i) => f[i] === 1),
    [
      [20, 30],
      [50, 60],
    ],
  );
  assert.deepEqual(
    flaggedSpans(x, () => false),
    [],
  );
});

test('sampleByClass: short input whole; long input bounded, small classes whole, each class evenly spread, the last kept', () => {
  assert.deepEqual(sampleByClass([2, 0, 1], 5), [0, 1, 2]);
  // 10,000 entries: class 0 everywhere but 30 of class 1 and 5 of class 2.
  const classes = new Int8Array(10_000);
  for (let i = 100; i < 10_000; i += 330) classes[i] = 1;
  [1234, 2345, 3456, 4567, 5678].forEach((i) => (classes[i] = 2));
  const picked = sampleByClass(classes, 100);
  assert.equal(picked.length, 100);
  assert.ok(
    picked.every((v, k) => k === 0 || v > picked[k - 1]!),
    'ascending, no repeats',
  );
  const of = (c: number): number[] => picked.filter((i) => classes[i] === c);
  assert.equal(of(1).length, 30, 'every entry of the rare class');
  assert.deepEqual(of(2), [1234, 2345, 3456, 4567, 5678]);
  assert.ok(picked.includes(9_999), 'the last entry');
  // The common class fills the rest, spread over the whole range.
  const common = of(0);
  assert.ok(common.length >= 64, `${common.length} of the common class`);
  assert.ok(common[0]! < 200 && common[common.length - 2]! > 9_700, `from ${common[0]} to ${common.at(-2)}`);
  // Two common classes share what the rare one leaves evenly.
  const two = Int8Array.from({ length: 1000 }, (_v, i) => (i % 2 === 0 ? 0 : 1));
  const half = sampleByClass(two, 50);
  const zeros = half.filter((i) => two[i] === 0).length;
  assert.ok(Math.abs(zeros - (half.length - zeros)) <= 2, `${zeros} of ${half.length} from class 0`);
  assert.throws(() => sampleByClass([0], 0), RangeError);
});
