import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseConfig } from '../../src/config/load.js';
import { CommittedDecisions, decisionInputs } from '../../src/detection/committed.js';
import { AnomalyDetector } from '../../src/detection/detector.js';
import type { Reading, WindowScore } from '../../src/pipeline/contracts.js';
import { windowScore } from './window-score.js';

const cfg = parseConfig({
  detection: { decision: 'dynamic', openAfter: 2, closeAfter: 2, dynamic: { window: 30, warmup: 3, every: 2 } },
}).detection;

function reading(sensor: string, offset: number, partition = 0): Reading {
  return {
    sensor,
    ts: offset,
    channels: ['a'],
    values: new Float64Array([1]),
    origin: { source: 'kafka', topic: 'in', partition, offset: String(offset) },
    arrivedAt: 0,
    seq: offset,
    ack: () => {},
  };
}

/** A window of `sensor` releasing the readings at `offsets` (of partition 0 unless given as [partition, offset]). */
function ws(sensor: string, end: number, score: number, offsets: Array<number | [number, number]>): WindowScore {
  const readings = offsets.map((o) => (typeof o === 'number' ? reading(sensor, o) : reading(sensor, o[1], o[0])));
  return windowScore({ sensor, end, score, span: 5, data: new Float32Array(5), readings, modelVersion: 'm' });
}

/** The state a detector has after deciding exactly `windows`. */
function stateAfter(windows: readonly WindowScore[], sensor: string) {
  const d = new AnomalyDetector(cfg);
  for (const w of windows) d.decide(w);
  return d.snapshot(sensor);
}

test('each commit advances the committed copy over exactly the windows whose readings all lie before the offset', () => {
  const live = new AnomalyDetector(cfg);
  const committed = new CommittedDecisions(cfg, live);
  // Sensor x's windows release offsets 0-1, 2-3, 4-5 (shared partition with y), 6-7.
  const xs = [ws('x', 10, 0.3, [0, 1]), ws('x', 20, 1.6, [2, 3]), ws('x', 30, 2.1, [4, 5]), ws('x', 40, 0.2, [6, 7])];
  const ys = [ws('y', 10, 0.5, [8]), ws('y', 20, 0.7, [9])];
  for (const w of [...xs, ...ys]) live.decide(w);
  assert.equal(committed.pendingWindows, 6);

  committed.advance('in', 0, 4); // offsets 0..3 committed: x's first two windows
  assert.deepEqual(committed.copy.snapshot('x'), stateAfter(xs.slice(0, 2), 'x'));
  assert.equal(committed.copy.snapshot('y'), undefined, "none of y's windows is committed");
  assert.deepEqual(
    committed.moved('in', 0).map((m) => m.sensor),
    ['x'],
  );

  committed.advance('in', 0, 5); // offset 4 alone: x's third window released 4 and 5, so it stays out
  assert.deepEqual(committed.copy.snapshot('x'), stateAfter(xs.slice(0, 2), 'x'));

  committed.advance('in', 0, 9);
  assert.deepEqual(committed.copy.snapshot('x'), stateAfter(xs, 'x'));
  assert.deepEqual(committed.copy.snapshot('y'), stateAfter(ys.slice(0, 1), 'y'));
  assert.equal(committed.pendingWindows, 1);
  // The live detector is ahead of the copy by y's last window.
  assert.notDeepEqual(live.snapshot('y'), committed.copy.snapshot('y'));
});

test('a window with readings from two partitions is committed once both offsets are past them', () => {
  const live = new AnomalyDetector(cfg);
  const committed = new CommittedDecisions(cfg, live);
  const w = ws('x', 10, 0.4, [3, [1, 7]]);
  live.decide(w);
  committed.advance('in', 0, 10);
  assert.equal(committed.copy.snapshot('x'), undefined);
  committed.advance('in', 1, 7);
  assert.equal(committed.copy.snapshot('x'), undefined, 'offset 7 itself is not committed yet');
  committed.advance('in', 1, 8);
  assert.deepEqual(committed.copy.snapshot('x'), stateAfter([w], 'x'));
  // Kept under the partition of the window's last reading.
  assert.deepEqual(
    committed.moved('in', 1).map((m) => m.sensor),
    ['x'],
  );
  assert.deepEqual(committed.moved('in', 0), []);
});

test('written states are not moved again until the copy advances; a later window moves them again', () => {
  const live = new AnomalyDetector(cfg);
  const committed = new CommittedDecisions(cfg, live);
  live.decide(ws('x', 10, 0.4, [0]));
  committed.advance('in', 0, 1);
  const moved = committed.moved('in', 0);
  assert.equal(moved.length, 1);
  committed.written('in', 0, ['x']);
  committed.advance('in', 0, 1);
  assert.deepEqual(committed.moved('in', 0), []);
  live.decide(ws('x', 20, 0.5, [1]));
  committed.advance('in', 0, 2);
  assert.deepEqual(
    committed.moved('in', 0).map((m) => m.sensor),
    ['x'],
  );
});

test('windows decided with gates are decided again with them: a span posted later does not change the copy', () => {
  const live = new AnomalyDetector(cfg);
  const committed = new CommittedDecisions(cfg, live);
  const windows = [ws('x', 10, 1.5, [0]), ws('x', 20, 1.7, [1]), ws('x', 30, 1.9, [2])];
  for (const w of windows) live.decide(w);
  // A maintenance span over the whole range, posted after the windows were decided.
  live.suppressor.post({ sensors: 'all', start: 0, end: 100 });
  committed.copy.suppressor.post({ sensors: 'all', start: 0, end: 100 });
  committed.advance('in', 0, 3);
  assert.deepEqual(committed.copy.snapshot('x'), live.snapshot('x'));
  assert.equal(committed.copy.snapshot('x')!.hysteresis.open, true);
});

test("a restored sensor starts both the live detector and the copy from the state; a revoked partition drops its log and its sensors' state", () => {
  const live = new AnomalyDetector(cfg);
  const committed = new CommittedDecisions(cfg, live);
  const before = [ws('x', 10, 0.4, [0]), ws('x', 20, 1.8, [1]), ws('x', 30, 1.9, [2])];
  const state = stateAfter(before, 'x');
  live.decide(ws('x', 5, 3, [9]));
  assert.deepEqual(committed.restore(live, 'x', state), { ok: true });
  assert.deepEqual(live.snapshot('x'), state);
  assert.deepEqual(committed.copy.snapshot('x'), state);
  assert.equal(committed.pendingWindows, 0, 'what was logged before the restore is dropped');
  live.decide(ws('x', 40, 0.3, [3]));
  committed.revoked('in', 0);
  assert.equal(committed.pendingWindows, 0);
  // If the partition comes back, its sensors start from its committed state, or afresh.
  assert.equal(live.snapshot('x'), undefined);
  assert.equal(committed.copy.snapshot('x'), undefined);
  committed.advance('in', 0, 10);
  assert.equal(committed.copy.snapshot('x'), undefined);
});

test('windows of readings from no Kafka partition are not logged', () => {
  const live = new AnomalyDetector(cfg);
  const committed = new CommittedDecisions(cfg, live);
  const w = ws('x', 10, 0.4, [0]);
  const readings = w.window.readings.map((r) => ({ ...r, origin: { source: 'file', file: 'a.csv', line: 1 } }));
  live.decide({ ...w, window: { ...w.window, readings } });
  assert.equal(committed.pendingWindows, 0);
});

/** A three-channel window of 16 rows (each row different) with a reconstruction, releasing `offsets` with 1 KB of bytes each. */
function fullWindow(sensor: string, end: number, score: number, offsets: number[]): WindowScore {
  const data = Float32Array.from({ length: 48 }, (_, i) => end + i);
  const readings = offsets.map((o) => ({ ...reading(sensor, o), raw: new Uint8Array(1024) }));
  const w = windowScore({ sensor, end, score, channels: ['a', 'b', 'c'], shares: [0.5, 0.3, 0.2], data, readings });
  return { ...w, reconstruction: Float32Array.from([1, 2, 3]), tolerance: Float32Array.from([0.1, 0.1, 0.1]) };
}

test("the copy logs a window as its decision inputs only: no readings, one row; decided again it gives the live detector's state", () => {
  const w = fullWindow('x', 100, 2.5, [0, 1, 2, 3, 4, 5, 6, 7]);
  const small = decisionInputs(w);
  assert.deepEqual(small.window.readings, []);
  assert.deepEqual(Array.from(small.window.data), Array.from(w.window.data.subarray(45)), 'the last row');
  assert.equal(small.window.data.buffer.byteLength, 12, 'a copy of the row, not a view into the whole window');
  assert.deepEqual(new AnomalyDetector(cfg).decide(small), new AnomalyDetector(cfg).decide(w));

  const live = new AnomalyDetector(cfg);
  const committed = new CommittedDecisions(cfg, live);
  // Above the threshold long enough to open: the state holds the peak's explained channels.
  const windows = [0, 1, 2, 3, 4].map((i) => fullWindow('x', 100 + 10 * i, 1.5 + i, [8 * i, 8 * i + 7]));
  for (const x of windows) live.decide(x);
  committed.advance('in', 0, 40);
  assert.equal(committed.copy.snapshot('x')!.hysteresis.open, true);
  assert.deepEqual(committed.copy.snapshot('x'), live.snapshot('x'));
});

/** Decides `w` live; weak references to its readings and the first one's bytes. */
function decideOne(live: AnomalyDetector, w: WindowScore): Array<WeakRef<object>> {
  live.decide(w);
  return [new WeakRef(w.window.readings), new WeakRef(w.window.readings[0]!.raw as object)];
}

test('a window waiting for its commit keeps none of its readings alive, and the log holds only windows since the last commit', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const live = new AnomalyDetector(cfg);
  const committed = new CommittedDecisions(cfg, live);
  let refs: Array<WeakRef<object>> = [];
  let offset = 0;
  let most = 0;
  // 200 sensors, a window each per round; every round commits what the round before released.
  for (let round = 0; round < 20; round++) {
    const cut = offset;
    for (let s = 0; s < 200; s++) {
      refs.push(...decideOne(live, fullWindow(`s${s}`, 100 + round * 10, 0.5, [offset, offset + 1])));
      offset += 2;
    }
    committed.advance('in', 0, cut);
    most = Math.max(most, committed.pendingWindows);
  }
  assert.equal(most, 200, 'at most the windows since the last commit are logged');
  assert.equal(committed.pendingWindows, 200);
  // A WeakRef's target lives at least until the end of the job that made it.
  await new Promise((r) => setImmediate(r));
  gc();
  const alive = refs.filter((r) => r.deref() !== undefined).length;
  refs = [];
  assert.equal(alive, 0, `${alive} readings or their bytes are still referenced`);
});
