import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnomalyDetector, anomalyId, topChannels } from '../../src/detection/detector.js';
import { parseConfig } from '../../src/config/load.js';
import type { SensorWindow, WindowScore } from '../../src/pipeline/contracts.js';

const detection = parseConfig({ detection: { openAfter: 2, closeAfter: 3, closeBelow: 0.8, topChannels: 2 } }).detection;

function ws(sensor: string, end: number, score: number, shares = [0.7, 0.2, 0.1]): WindowScore {
  const window: SensorWindow = {
    kind: 'window',
    id: `${sensor}@${end}`,
    sensor,
    group: 'a,b,c',
    channels: ['a', 'b', 'c'],
    start: end - 10,
    end,
    data: new Float32Array(0),
    readings: [],
  };
  return { window, error: score * 2, channelShares: Float32Array.from(shares), threshold: 2, score, modelVersion: 'm-1' };
}

function run(scores: number[], sensor = 's1', det = new AnomalyDetector(detection)) {
  return scores.map((s, i) => det.decide(ws(sensor, 1000 + i, s)));
}

test('an anomaly opens after openAfter windows above threshold, starting at the first of them', () => {
  const out = run([0.5, 1.2, 1.5, 1.1]);
  assert.deepEqual(out.map((o) => o.anomaly), [false, false, true, true]);
  const opened = out.flatMap((o) => o.events);
  assert.equal(opened.length, 1);
  assert.equal(opened[0]!.kind, 'opened');
  assert.equal(opened[0]!.start, 1001);
  assert.equal(opened[0]!.peakScore, 1.5);
  assert.equal(opened[0]!.id, anomalyId('s1', 1001, 'm-1'));
});

test('a single window above threshold opens nothing', () => {
  const out = run([1.5, 0.5, 1.5, 0.5]);
  assert.ok(out.every((o) => !o.anomaly && o.events.length === 0));
});

test('a score flapping around the threshold opens one event, not many', () => {
  const out = run([1.2, 1.3, 0.9, 1.1, 0.85, 1.05, 0.9, 1.2, 0.5, 0.4, 0.3, 0.2]);
  const events = out.flatMap((o) => o.events);
  assert.deepEqual(events.map((e) => e.kind), ['opened', 'closed']);
  assert.equal(events[1]!.end, 1010);
  assert.equal(events[1]!.id, events[0]!.id);
  assert.equal(events[1]!.peakScore, 1.3);
});

test('closing needs closeAfter consecutive windows below closeBelow', () => {
  const out = run([2, 2, 0.7, 0.7, 0.85, 0.7, 0.7, 0.7]);
  const closedAt = out.findIndex((o) => o.events.some((e) => e.kind === 'closed'));
  assert.equal(closedAt, 7);
});

test('sensors are independent and ids are stable across runs', () => {
  const det = new AnomalyDetector(detection);
  run([2, 2], 'x', det);
  assert.equal(det.isOpen('x'), true);
  assert.equal(det.isOpen('y'), false);
  const a = run([0.1, 3, 3]).flatMap((o) => o.events)[0]!.id;
  const b = run([0.1, 3, 3]).flatMap((o) => o.events)[0]!.id;
  assert.equal(a, b);
  assert.notEqual(a, anomalyId('s1', 1001, 'm-2'));
});

test('top channels are ordered by share at the peak window', () => {
  assert.deepEqual(topChannels(['a', 'b', 'c'], Float32Array.from([0.1, 0.6, 0.3]), 2), [
    { channel: 'b', share: 0.6 },
    { channel: 'c', share: 0.3 },
  ]);
  const det = new AnomalyDetector(detection);
  det.decide(ws('s', 1, 1.5, [0.1, 0.1, 0.8]));
  const { events } = det.decide(ws('s', 2, 3, [0.2, 0.7, 0.1]));
  assert.deepEqual(events[0]!.topChannels.map((c) => c.channel), ['b', 'a']);
});
