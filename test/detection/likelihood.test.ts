import { test } from 'node:test';
import assert from 'node:assert/strict';
import { likelihoodScore, normalTail, ScoreLikelihood, type LikelihoodConfig } from '../../src/detection/likelihood.js';
import { AnomalyDetector } from '../../src/detection/detector.js';
import { parseConfig } from '../../src/config/load.js';
import type { SensorWindow, WindowScore } from '../../src/pipeline/contracts.js';

const close = (a: number, b: number, tol: number) => assert.ok(Math.abs(a - b) <= tol, `${a} is not within ${tol} of ${b}`);

test('normalTail is the standard normal upper tail', () => {
  close(normalTail(0), 0.5, 1e-7);
  close(normalTail(1.959964), 0.025, 1e-6);
  close(normalTail(3), 0.0013499, 1e-6);
  close(normalTail(-1), 1 - normalTail(1), 1e-7);
  close(normalTail(-1), 0.8413447, 1e-6);
});

test('likelihoodScore is 0 for an ordinary window, 1 at tail probability ε and above 1 beyond it', () => {
  assert.equal(likelihoodScore(1, 0.001), 0);
  close(likelihoodScore(0.001, 0.001), 1, 1e-12);
  close(likelihoodScore(1e-6, 0.001), 2, 1e-12);
  assert.ok(Number.isFinite(likelihoodScore(0, 0.001)));
});

const cfg = (c: Partial<LikelihoodConfig>): LikelihoodConfig => ({ window: 4, short: 1, epsilon: 0.001, warmup: 4, minStd: 1e-9, ...c });

test('each score is judged against the history before it (mean and population std of the short means)', () => {
  const l = new ScoreLikelihood(cfg({}));
  assert.deepEqual([1, 2, 3, 4].map((s) => l.update('a', s)), [null, null, null, null]);
  // history 1,2,3,4: mean 2.5, variance 1.25
  close(l.update('a', 5)!, normalTail((5 - 2.5) / Math.sqrt(1.25)), 1e-12);
  // the oldest (1) left the history: 2,3,4,5 has mean 3.5
  close(l.update('a', 3.5)!, 0.5, 1e-7);
});

test('the short mean averages the last `short` scores', () => {
  const l = new ScoreLikelihood(cfg({ short: 2, window: 10, warmup: 3 }));
  // short means: 1, 1, 1 (constant history, std floored)
  for (const s of [1, 1, 1]) assert.equal(l.update('a', s), null);
  const floor = new ScoreLikelihood(cfg({ short: 2, window: 10, warmup: 3, minStd: 0.5 }));
  for (const s of [1, 1, 1]) floor.update('a', s);
  // short mean of (1, 3) = 2 against mean 1, std floored at 0.5: z = 2
  close(floor.update('a', 3)!, normalTail(2), 1e-12);
});

test('sensors have separate histories', () => {
  const l = new ScoreLikelihood(cfg({ warmup: 2 }));
  l.update('a', 1);
  l.update('a', 1);
  assert.equal(l.update('b', 1), null);
  assert.notEqual(l.update('a', 1), null);
});

function ws(end: number, score: number): WindowScore {
  const window: SensorWindow = { kind: 'window', id: `s@${end}`, sensor: 's', group: 'a', channels: ['a'], start: end - 10, end, data: new Float32Array(0), readings: [] };
  return { window, error: score, channelShares: Float32Array.from([1]), threshold: 1, score, modelVersion: 'm-1' };
}

test('with detection.likelihood a level shift opens an anomaly that closes once the new level is the history', () => {
  const detection = parseConfig({
    detection: { openAfter: 2, closeAfter: 3, closeBelow: 0.8, likelihood: { enabled: true, window: 20, short: 1, warmup: 10, minStd: 0.05 } },
  }).detection;
  const scores = [...Array.from({ length: 30 }, (_, i) => 0.2 + 0.02 * (i % 3)), ...Array.from({ length: 60 }, () => 3)];
  const withL = new AnomalyDetector(detection);
  const plain = new AnomalyDetector(parseConfig({ detection: { openAfter: 2, closeAfter: 3, closeBelow: 0.8 } }).detection);
  const a = scores.map((s, i) => withL.decide(ws(i, s)).anomaly);
  const b = scores.map((s, i) => plain.decide(ws(i, s)).anomaly);
  // both open on the second window of the shift
  assert.equal(a.indexOf(true), 31);
  assert.equal(b.indexOf(true), 31);
  // the plain detector stays open while the score stays above threshold; the likelihood one closes
  assert.ok(b.slice(31).every((x) => x));
  assert.equal(a.at(-1), false);
  // and it is on for fewer windows than the history is long (it adapted within `window` windows)
  assert.ok(a.filter((x) => x).length < 20);
});

test('before warmup the likelihood detector decides on score > 1 as the plain one does', () => {
  const detection = parseConfig({ detection: { openAfter: 2, closeAfter: 3, likelihood: { enabled: true, warmup: 100 } } }).detection;
  const det = new AnomalyDetector(detection);
  const out = [0.5, 1.5, 1.5, 0.2].map((s, i) => det.decide(ws(i, s)).anomaly);
  assert.deepEqual(out, [false, false, true, true]);
});

test('a score judged with absorb false does not join the history', () => {
  const l = new ScoreLikelihood(cfg({}));
  for (const s of [1, 2, 3, 4]) l.update('a', s);
  const held = l.update('a', 100, false)!;
  close(held, normalTail((100 - 2.5) / Math.sqrt(1.25)), 1e-12);
  // the history is still 1,2,3,4: the same score gets the same tail again
  close(l.update('a', 100, false)!, held, 1e-12);
});

test('likelihood.holdOpen keeps a long shift out of the history while the anomaly is open, for at most holdOpen windows', () => {
  const base = { openAfter: 2, closeAfter: 3, closeBelow: 0.8 };
  const lik = { enabled: true, window: 20, short: 1, warmup: 10, minStd: 0.05 };
  const scores = [...Array.from({ length: 30 }, (_, i) => 0.2 + 0.02 * (i % 3)), ...Array.from({ length: 120 }, () => 3)];
  const run = (holdOpen: number) => {
    const det = new AnomalyDetector(parseConfig({ detection: { ...base, likelihood: { ...lik, holdOpen } } }).detection);
    return scores.map((s, i) => det.decide(ws(i, s)).anomaly);
  };
  const off = run(0);
  const always = run(1000);
  const held = run(50);
  for (const a of [off, always, held]) assert.equal(a.indexOf(true), 31);
  // off: the shift joins the history and the anomaly closes within the history's length
  assert.ok(off.filter((x) => x).length < 20);
  // held for longer than the shift lasts: open to the end
  assert.ok(always.slice(31).every((x) => x));
  // held for 50 windows: open through them, then the shift is learnt and it closes
  assert.ok(held.slice(31, 31 + 50).every((x) => x));
  assert.equal(held.at(-1), false);
  assert.ok(held.lastIndexOf(true) < 31 + 50 + 20, `closed at ${held.lastIndexOf(true)}`);
});

test('likelihood.andThreshold alarms only where the window score is also above threshold', () => {
  const lik = { enabled: true, window: 20, short: 1, warmup: 10, minStd: 0.05 };
  // a jump from 0.2 to 0.7: very unusual for the history, but under the threshold (score < 1)
  const scores = [...Array.from({ length: 30 }, (_, i) => 0.2 + 0.02 * (i % 3)), ...Array.from({ length: 10 }, () => 0.7), ...Array.from({ length: 10 }, () => 5)];
  const run = (andThreshold: boolean) => {
    const det = new AnomalyDetector(parseConfig({ detection: { openAfter: 2, likelihood: { ...lik, andThreshold } } }).detection);
    return scores.map((s, i) => det.decide(ws(i, s)).anomaly);
  };
  const alone = run(false);
  const both = run(true);
  assert.equal(alone.indexOf(true), 31);
  // with the threshold as well it waits for the jump above 1, and opens on its second window
  assert.equal(both.indexOf(true), 41);
});
