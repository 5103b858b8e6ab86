import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { AnomalyDetector } from '../../src/detection/detector.js';
import type { DecisionPolicy } from '../../src/detection/policy.js';
import { Suppressor } from '../../src/detection/suppress.js';
import type { SensorWindow, WindowScore } from '../../src/pipeline/contracts.js';

const channels = ['current', 'temperature'];

/** A window of 3 readings ending at `end` (1 s apart), with the given `current` values. */
function win(sensor: string, end: number, current: number[] = [5, 5, 5]): SensorWindow {
  const data = new Float32Array(current.flatMap((c) => [c, 70]));
  return {
    kind: 'window',
    id: `${sensor}@${end}`,
    sensor,
    group: channels.join(','),
    channels,
    start: end - 2000,
    end,
    data,
    readings: [],
  };
}

function ws(window: SensorWindow, score: number): WindowScore {
  return {
    window,
    error: score,
    channelShares: Float32Array.from([0.6, 0.4]),
    threshold: 1,
    score,
    modelVersion: 'm-1',
  };
}

const suppressor = (suppress: unknown): Suppressor =>
  new Suppressor(parseConfig({ detection: { suppress } }).detection.suppress);

test('a channel condition suppresses a window with any reading of the machine off, then the grace period runs', () => {
  const s = suppressor({ conditions: [{ channel: 'current', below: 0.5 }], graceAfterOnMs: 10_000 });
  assert.equal(s.check(win('p', 1000)), undefined, 'running');
  assert.equal(s.check(win('p', 2000, [5, 5, 0.1])), 'condition', 'one reading off is enough');
  assert.equal(s.check(win('p', 3000, [0, 0, 0])), 'condition');
  assert.equal(s.check(win('p', 4000, [0.2, 6, 6])), 'condition', 'still one off reading in the window');
  assert.equal(s.check(win('p', 5000)), 'grace', 'back on: within the grace period');
  assert.equal(s.check(win('p', 14_000)), 'grace', 'exactly the grace period after the last off window');
  assert.equal(s.check(win('p', 14_001)), undefined, 'after it');
  assert.equal(s.check(win('other', 5000)), undefined, 'the grace period is per sensor');
});

test('a condition on a channel a sensor does not have, or for other sensors, never holds', () => {
  const s = suppressor({
    conditions: [
      { channel: 'speed', below: 1 },
      { channel: 'current', above: 100, sensors: ['q'] },
    ],
  });
  assert.equal(s.check(win('p', 1000, [500, 500, 500])), undefined);
  assert.equal(s.check(win('q', 1000, [500, 5, 5])), 'condition');
});

test('posted spans suppress their sensors (or all); the calendar comes first', () => {
  const s = suppressor({ calendar: [{ start: '1970-01-01T00:00:10Z', end: '1970-01-01T00:00:20Z' }] });
  s.post({ sensors: ['p'], start: 30_000, end: 40_000 });
  s.post({ sensors: 'all', start: 50_000, end: 60_000 });
  assert.equal(s.check(win('p', 12_000)), 'calendar');
  assert.equal(s.check(win('p', 31_000)), 'maintenance');
  assert.equal(s.check(win('q', 31_000)), undefined);
  assert.equal(s.check(win('q', 50_500)), 'maintenance', 'a window reaching into an "all" span');
  assert.equal(s.check(win('q', 62_001)), undefined);
  assert.equal(s.postedCount, 2);
});

test('the detector: a suppressed window closes an open anomaly (reason suppressed), opens none, and the policy never sees it', () => {
  const seen: number[] = [];
  const policy: DecisionPolicy = {
    name: 'threshold',
    decide: (w) => {
      seen.push(w.window.end);
      return { decisionScore: w.score, threshold: w.threshold };
    },
  };
  const detection = parseConfig({ detection: { decision: 'threshold', openAfter: 2, closeAfter: 2 } }).detection;
  const det = new AnomalyDetector(detection, policy);
  det.suppressor.post({ sensors: ['p'], start: 5000, end: 8000 });
  const scores = [2, 2, 2, 3, 3, 3, 3, 2, 2, 2];
  const out = scores.map((sc, i) => ({ end: (i + 1) * 1000, d: det.decide(ws(win('p', (i + 1) * 1000), sc)) }));
  const events = out.flatMap((o) => o.d.events);
  assert.deepEqual(
    events.map((e) => [e.kind, e.start, e.end, e.reason]),
    [
      ['opened', 1000, undefined, undefined],
      // Windows ending at 5000..9000 reach into [5000, 8000): the first of them closes it.
      ['closed', 1000, 5000, 'suppressed'],
    ],
  );
  const suppressed = out.filter((o) => o.d.suppressed === 'maintenance').map((o) => o.end);
  assert.deepEqual(suppressed, [5000, 6000, 7000, 8000, 9000]);
  assert.ok(
    out.filter((o) => o.d.suppressed).every((o) => !o.d.anomaly),
    'no suppressed window is anomalous',
  );
  assert.ok(!seen.some((t) => suppressed.includes(t)), 'the policy never saw a suppressed window');
  // After the span the run starts over: the window ending at 10000 was the first above threshold
  // again, and the next one opens a new anomaly from there.
  assert.equal(out[9]!.d.anomaly, false);
  const next = det.decide(ws(win('p', 11_000), 2));
  assert.equal(next.events[0]?.kind, 'opened');
  assert.equal(next.events[0]?.start, 10_000, 'the run began with the first unsuppressed window');
});
