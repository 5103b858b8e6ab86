import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnomalyDetector, anomalyId, topChannels } from '../../src/detection/detector.js';
import { parseConfig } from '../../src/config/load.js';
import type { DecisionPolicy } from '../../src/detection/policy.js';
import type { WindowScore } from '../../src/pipeline/contracts.js';
import { windowScore } from './window-score.js';

const detection = parseConfig({
  detection: { openAfter: 2, closeAfter: 3, closeBelow: 0.8, topChannels: 2 },
}).detection;

function ws(sensor: string, end: number, score: number, shares = [0.7, 0.2, 0.1]): WindowScore {
  return windowScore({ sensor, end, score, channels: ['a', 'b', 'c'], shares, threshold: 2 });
}

function run(scores: number[], sensor = 's1', det = new AnomalyDetector(detection)) {
  return scores.map((s, i) => det.decide(ws(sensor, 1000 + i, s)));
}

test('an anomaly opens after openAfter windows above threshold, starting at the first of them', () => {
  const out = run([0.5, 1.2, 1.5, 1.1]);
  assert.deepEqual(
    out.map((o) => o.anomaly),
    [false, false, true, true],
  );
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
  assert.deepEqual(
    events.map((e) => e.kind),
    ['opened', 'closed'],
  );
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
  assert.deepEqual(
    events[0]!.topChannels.map((c) => c.channel),
    ['b', 'a'],
  );
});

/** Seeded uniforms in [0, 1) (a small LCG): the same scores every run. */
function uniforms(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function noisy(n: number, seed: number): number[] {
  const next = uniforms(seed);
  // quiet scores, then a burst well above them and back
  return Array.from({ length: n }, (_, i) => (i >= n - 60 && i < n - 40 ? 1.2 : 0.2) + 0.1 * next());
}

test('each decision policy gives the score the hysteresis compared and its threshold in force in error units', () => {
  const scores = noisy(400, 7);
  const decide = (detection: object) => {
    const det = new AnomalyDetector(
      parseConfig({ detection: { openAfter: 2, closeAfter: 3, ...detection } }).detection,
    );
    return scores.map((s, i) => ({ window: ws('s', 1000 + i, s), out: det.decide(ws('s', 1000 + i, s)) }));
  };
  // threshold: the window score against the calibrated threshold (here 2)
  for (const { window, out } of decide({ decision: 'threshold' })) {
    assert.equal(out.decisionScore, window.score);
    assert.equal(out.threshold, 2);
  }
  // dynamic and pot: above 1 exactly when the error is above the threshold they report
  for (const detection of [
    { decision: 'dynamic', dynamic: { warmup: 50, every: 1 } },
    { decision: 'pot', pot: { initial: 100 } },
  ]) {
    const outs = decide(detection);
    let decided = 0;
    for (const [i, { window, out }] of outs.entries()) {
      assert.ok(out.threshold !== null && out.threshold > 0, `${JSON.stringify(detection)} at ${i}`);
      if (out.threshold === window.threshold) continue; // warming up: the window score decided
      decided++;
      assert.equal(
        out.decisionScore > 1,
        window.error > out.threshold,
        `${JSON.stringify(detection)} at ${i}: ${out.decisionScore} vs ${window.error} / ${out.threshold}`,
      );
    }
    assert.ok(decided > 200, `${JSON.stringify(detection)}: only ${decided} windows decided by the policy`);
  }
  // dynamic without smoothing: the decision score is the error over that threshold
  for (const { window, out } of decide({ decision: 'dynamic', dynamic: { warmup: 50 } }).slice(60)) {
    assert.ok(
      Math.abs(out.decisionScore - window.error / out.threshold!) < 1e-6 * out.decisionScore,
      `${out.decisionScore} vs ${window.error / out.threshold!}`,
    );
  }
  // likelihood: no threshold in error units once its history decides
  const lik = decide({ decision: 'likelihood', likelihood: { warmup: 50, short: 1 } });
  assert.equal(lik[10]!.out.threshold, 2);
  assert.ok(lik.slice(60).every(({ out }) => out.threshold === null));
});

test('the hysteresis runs on whatever policy it is given', () => {
  const seen: Array<{ open: boolean; openFor: number }> = [];
  const closedAfter: number[] = [];
  // A policy that finds every window from the fourth to the eighth above threshold.
  const policy: DecisionPolicy = {
    name: 'threshold',
    decide: (w, anomaly) => {
      seen.push({ ...anomaly });
      return { decisionScore: w.window.end >= 1003 && w.window.end < 1008 ? 5 : 0.1, threshold: 7 };
    },
    closed: (_sensor, openFor) => closedAfter.push(openFor),
  };
  const det = new AnomalyDetector(detection, policy);
  const out = Array.from({ length: 14 }, (_, i) => det.decide(ws('s', 1000 + i, 0.5)));
  assert.deepEqual(
    out.map((o) => o.anomaly),
    [false, false, false, false, true, true, true, true, true, true, false, false, false, false],
  );
  assert.ok(out.every((o) => o.threshold === 7));
  assert.deepEqual(closedAfter, [6]);
  // the policy saw the anomaly's state before each window was decided
  assert.deepEqual(seen[5], { open: true, openFor: 0 });
  assert.deepEqual(seen[9], { open: true, openFor: 4 });
});
