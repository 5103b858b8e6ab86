import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SensorWindow } from '../../src/pipeline/contracts.js';
import { NormalBuffer } from '../../src/training/buffer.js';
import { LabelStore } from '../../src/training/labels.js';

const CFG = { windowsPerSensor: 4, anomalousPerGroup: 2, autoNormalBelow: 0.5, neighbourhoodMs: 10_000, stride: 1 };

/** A 2-row window of one channel ending at `end` seconds, its values = end (to tell windows apart). */
function win(sensor: string, end: number): SensorWindow {
  const ts = end * 1000;
  return {
    kind: 'window',
    id: `${sensor}@${ts}`,
    sensor,
    group: 'x',
    channels: ['x'],
    start: ts - 1000,
    end: ts,
    data: Float32Array.from([end, end]),
    readings: [],
  };
}

const ends = (b: NormalBuffer, sensor = 's'): number[] =>
  b
    .snapshot('x')
    ?.sensors.find((s) => s.sensor === sensor)
    ?.windows.map((w) => w.end / 1000) ?? [];

test('only windows well below threshold and away from an anomaly go in; the newest are kept', () => {
  const b = new NormalBuffer(CFG);
  assert.equal(b.offer(win('s', 1), 0.2, false), true);
  assert.equal(b.offer(win('s', 2), 0.7, false), false, 'score above autoNormalBelow');
  assert.equal(b.offer(win('s', 3), 0.1, true), false, 'the sensor is anomalous');
  assert.equal(
    b.offer(win('s', 8), 0.1, false),
    false,
    'the anomaly ends with this window (8 s): within the neighbourhood',
  );
  assert.equal(b.offer(win('s', 19), 0.1, false), false, 'starts at 18 s: not yet past 8 s + 10 s');
  assert.equal(b.offer(win('s', 20), 0.1, false), true, 'past the neighbourhood');
  for (const end of [21, 22, 23, 24]) b.offer(win('s', end), 0.1, false);
  assert.deepEqual(ends(b), [21, 22, 23, 24], 'at most windowsPerSensor, the newest, oldest first');
  assert.equal(b.size, 4);
});

test('labels decide: an anomalous span (and its neighbourhood) never goes in, and a new anomalous label purges what was buffered', () => {
  const labels = new LabelStore();
  const b = new NormalBuffer({ ...CFG, windowsPerSensor: 10 }, labels);
  for (const end of [10, 20, 30, 40]) assert.equal(b.offer(win('s', end), 0.1, false), true);
  labels.add({ sensor: 's', from: 29_000, to: 31_000, label: 'anomaly' });
  assert.equal(b.purge('s', 29_000, 31_000), 3, 'windows ending at 20, 30 and 40 s lie within 10 s of the label');
  assert.deepEqual(ends(b), [10]);
  assert.equal(b.offer(win('s', 35), 0.01, false), false, 'near the labelled span');
  assert.equal(b.offer(win('s', 31), 3, true), false);
  assert.deepEqual(
    b.snapshot('x')!.anomalous.map((w) => w.end / 1000),
    [31],
    'the labelled window is kept for the gate',
  );
});

test("an operator's normal label takes a window in even above the automatic bound", () => {
  const labels = new LabelStore();
  labels.add({ sensor: 's', from: 0, to: 100_000, label: 'normal' });
  const b = new NormalBuffer(CFG, labels);
  assert.equal(b.offer(win('s', 50), 0.9, false), true);
  assert.equal(b.offer(win('t', 50), 0.9, false), false, 'another sensor has no such label');
});

test('a snapshot resets the count of fresh windows but keeps the buffer', () => {
  const b = new NormalBuffer({ ...CFG, stride: 2 });
  for (const end of [1, 2, 3, 4, 5]) b.offer(win('s', end), 0.1, false);
  assert.deepEqual(ends(b), [1, 3, 5], 'every stride-th accepted window');
  assert.equal(b.fresh('x'), 0, 'reset by the snapshot taken in ends()');
  b.offer(win('s', 6), 0.1, false);
  b.offer(win('s', 7), 0.1, false);
  assert.equal(b.fresh('x'), 1);
  assert.equal(b.windows('x'), 4);
});

/** A 2-row window of one channel ending at `end` seconds: `value` ± `half`. */
function level(sensor: string, end: number, value: number, half = 0.3): SensorWindow {
  return { ...win(sensor, end), data: Float32Array.from([value - half, value + half]) };
}

const NEW_NORMAL = { ...CFG, windowsPerSensor: 400, newNormalAfterMs: 80_000, newNormalTolerance: 1 };

/**
 * 60 s of normal windows (10 ± 0.5, ± 0.3 within each, scored 0.2), then from 61 s what `after`
 * gives (± `half` within), scored `score(t)`, anomalous. Returns when the first of those was taken.
 */
function excursion(
  b: NormalBuffer,
  after: (t: number) => number,
  score: (t: number) => number = () => 2,
  half = 0.3,
): number | undefined {
  for (let t = 1; t <= 60; t++) assert.equal(b.offer(level('s', t, 10 + 0.5 * Math.sin(t)), 0.2, false), true);
  let first: number | undefined;
  for (let t = 61; t <= 300; t++) {
    const taken = b.offer(level('s', t, after(t), half), score(t), true);
    if (taken && first === undefined) first = t;
  }
  return first;
}

test('the new normal: a sensor steady at a new level for newNormalAfterMs has that span and what follows taken as normal', () => {
  const b = new NormalBuffer(NEW_NORMAL);
  const first = excursion(b, (t) => 13 + 0.1 * Math.sin(t));
  // The span starts with the first window not taken (61 s) and lasts 80 s, in slices of 10 s.
  assert.equal(first, 141, 'taken from the first window after a whole steady span');
  const taken = ends(b).filter((e) => e > 60);
  assert.equal(taken[0], 61, "the span's held windows were taken in");
  assert.deepEqual(
    taken,
    Array.from({ length: 240 }, (_, i) => 61 + i),
    'every window since, once',
  );
  assert.equal(b.takeNewNormalCount(), 240);
});

test('the new normal: a fault that keeps changing, a stuck or noisy sensor, a climbing score or an anomalous label never becomes normal', () => {
  // The level ramps by 0.05 a second: 4 units over the span, 8 normal spreads.
  assert.equal(
    excursion(new NormalBuffer(NEW_NORMAL), (t) => 13 + 0.05 * t),
    undefined,
  );
  // A steady level, but stuck (no variation within a window) or more than three times as noisy as normal.
  assert.equal(
    excursion(new NormalBuffer(NEW_NORMAL), () => 13, undefined, 0),
    undefined,
  );
  assert.equal(
    excursion(new NormalBuffer(NEW_NORMAL), () => 13, undefined, 1),
    undefined,
  );
  assert.equal(
    excursion(new NormalBuffer(NEW_NORMAL), () => 13, undefined, 0.5),
    141,
    'within ×3 is still like normal',
  );
  // Steady means, but the score keeps climbing (×4 over the span).
  assert.equal(
    excursion(
      new NormalBuffer(NEW_NORMAL),
      () => 13,
      (t) => 2 * 1.02 ** (t - 61),
    ),
    undefined,
  );
  // An operator marked part of it anomalous: the span restarts after the label's neighbourhood.
  const labels = new LabelStore();
  labels.add({ sensor: 's', from: 100_000, to: 150_000, label: 'anomaly' });
  const b = new NormalBuffer(NEW_NORMAL, labels);
  const first = excursion(b, () => 13);
  assert.ok(first !== undefined && first >= 160 + 80, `taken from ${first}`);
  assert.ok(
    ends(b).every((e) => e <= 60 || e > 160),
    'no window within the label or its neighbourhood was taken',
  );
  // Off (the default): never.
  assert.equal(
    excursion(new NormalBuffer({ ...CFG, windowsPerSensor: 400 }), () => 13),
    undefined,
  );
});

test('without autoNormalBelow the anomaly state alone decides: any score is taken out of it, away from an anomaly', () => {
  const b = new NormalBuffer({ windowsPerSensor: 4, anomalousPerGroup: 2, neighbourhoodMs: 10_000, stride: 1 });
  assert.equal(b.offer(win('s', 1), 0.9, false), true, 'high, but not anomalous');
  assert.equal(b.offer(win('s', 2), 3, true), false, 'anomalous');
  // The anomaly ends with the first window out of it (5 s); 10 s of neighbourhood follow.
  assert.equal(b.offer(win('s', 5), 0.1, false), false, 'the window the anomaly ends with');
  assert.equal(b.offer(win('s', 16), 0.1, false), false, 'starts at 15 s: not yet past 5 s + 10 s');
  assert.equal(b.offer(win('s', 17), 0.9, false), true, 'past it, whatever its score');
  assert.deepEqual(ends(b), [1, 17]);
});
