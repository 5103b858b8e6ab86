import { test } from 'node:test';
import assert from 'node:assert/strict';
import { likelihoodScore, normalTail, ScoreLikelihood, type LikelihoodConfig } from '../../src/detection/likelihood.js';
import { AnomalyDetector } from '../../src/detection/detector.js';
import { parseConfig } from '../../src/config/load.js';
import type { SensorWindow, WindowScore } from '../../src/pipeline/contracts.js';

const close = (a: number, b: number, tol: number) =>
  assert.ok(Math.abs(a - b) <= tol, `${a} is not within ${tol} of ${b}`);

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

const cfg = (c: Partial<LikelihoodConfig>): LikelihoodConfig => ({
  window: 4,
  short: 1,
  epsilon: 0.001,
  warmup: 4,
  minStd: 1e-9,
  ...c,
});

test('each score is judged against the history before it (mean and population std of the short means)', () => {
  const l = new ScoreLikelihood(cfg({}));
  assert.deepEqual(
    [1, 2, 3, 4].map((s) => l.update('a', s)),
    [null, null, null, null],
  );
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

test('held short means join the history on release, in order, and never after forget', () => {
  const l = new ScoreLikelihood(cfg({}));
  for (const s of [1, 2, 3, 4]) l.update('a', s);
  l.update('a', 10, false);
  l.update('a', 20, false);
  l.release('a');
  // the history is now 3, 4, 10, 20 (window 4): mean 9.25, variance 45.6875
  close(l.update('a', 9.25, false)!, 0.5, 1e-7);
  l.forget('a');
  l.release('a');
  // the 9.25 was forgotten: the history is unchanged
  close(l.update('a', 20)!, normalTail((20 - 9.25) / Math.sqrt(45.6875)), 1e-12);
});

function ws(end: number, score: number): WindowScore {
  const window: SensorWindow = {
    kind: 'window',
    id: `s@${end}`,
    sensor: 's',
    group: 'a',
    channels: ['a'],
    start: end - 10,
    end,
    data: new Float32Array(0),
    readings: [],
  };
  return { window, error: score, channelShares: Float32Array.from([1]), threshold: 1, score, modelVersion: 'm-1' };
}

test('with detection.likelihood a level shift opens an anomaly that closes once the new level is the history', () => {
  const detection = parseConfig({
    detection: {
      openAfter: 2,
      closeAfter: 3,
      closeBelow: 0.8,
      decision: 'likelihood',
      likelihood: { window: 20, short: 1, warmup: 10, minStd: 0.05 },
    },
  }).detection;
  const scores = [
    ...Array.from({ length: 30 }, (_, i) => 0.2 + 0.02 * (i % 3)),
    ...Array.from({ length: 60 }, () => 3),
  ];
  const withL = new AnomalyDetector(detection);
  const plain = new AnomalyDetector(
    parseConfig({ detection: { openAfter: 2, closeAfter: 3, closeBelow: 0.8 } }).detection,
  );
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
  const detection = parseConfig({
    detection: { openAfter: 2, closeAfter: 3, decision: 'likelihood', likelihood: { warmup: 100 } },
  }).detection;
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
  const lik = { window: 20, short: 1, warmup: 10, minStd: 0.05 };
  const scores = [
    ...Array.from({ length: 30 }, (_, i) => 0.2 + 0.02 * (i % 3)),
    ...Array.from({ length: 120 }, () => 3),
  ];
  const run = (holdOpen: number) => {
    const det = new AnomalyDetector(
      parseConfig({ detection: { ...base, decision: 'likelihood', likelihood: { ...lik, holdOpen } } }).detection,
    );
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
  const lik = { window: 20, short: 1, warmup: 10, minStd: 0.05 };
  // a jump from 0.2 to 0.7: very unusual for the history, but under the threshold (score < 1)
  const scores = [
    ...Array.from({ length: 30 }, (_, i) => 0.2 + 0.02 * (i % 3)),
    ...Array.from({ length: 10 }, () => 0.7),
    ...Array.from({ length: 10 }, () => 5),
  ];
  const run = (andThreshold: boolean) => {
    const det = new AnomalyDetector(
      parseConfig({ detection: { openAfter: 2, decision: 'likelihood', likelihood: { ...lik, andThreshold } } })
        .detection,
    );
    return scores.map((s, i) => det.decide(ws(i, s)).anomaly);
  };
  const alone = run(false);
  const both = run(true);
  assert.equal(alone.indexOf(true), 31);
  // with the threshold as well it waits for the jump above 1, and opens on its second window
  assert.equal(both.indexOf(true), 41);
});

test('likelihood.orAbove opens an anomaly on a window far above its threshold that the history finds ordinary', () => {
  const base = { openAfter: 2, closeAfter: 3, closeBelow: 0.8 };
  const lik = { window: 100, short: 1, warmup: 10, minStd: 0.05 };
  // a history that swings between 0.2 and 3 (a score of 3 is ordinary for it), then a run at 5
  const scores = [
    ...Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? 0.2 : 3)),
    ...Array.from({ length: 5 }, () => 5),
  ];
  const run = (orAbove: number) => {
    const det = new AnomalyDetector(
      parseConfig({ detection: { ...base, decision: 'likelihood', likelihood: { ...lik, orAbove } } }).detection,
    );
    return scores.map((s, i) => det.decide(ws(i, s)).anomaly);
  };
  // the history's mean is 1.6 and its std 1.4: 5 is z 2.4, a tail of 0.008 (> ε = 0.001)
  assert.ok(run(0).every((x) => !x));
  // 5 ÷ 4 > 1 (and 3 ÷ 4 < 1): open on the run's second window
  assert.equal(run(4).indexOf(true), 61);
});

test('likelihood.learnShort: an anomaly that closes within holdOpen is learnt, so the same burst again is ordinary', () => {
  const lik = { window: 200, short: 1, warmup: 10, minStd: 0.05, holdOpen: 50 };
  const quiet = (n: number) => Array.from({ length: n }, (_, i) => 0.2 + 0.02 * (i % 3));
  const burst = Array.from({ length: 8 }, () => 0.6);
  const scores = [...quiet(30), ...burst, ...quiet(30), ...burst, ...quiet(10)];
  const run = (learnShort: boolean) => {
    const det = new AnomalyDetector(
      parseConfig({
        detection: {
          openAfter: 2,
          closeAfter: 3,
          closeBelow: 0.8,
          decision: 'likelihood',
          likelihood: { ...lik, learnShort },
        },
      }).detection,
    );
    return scores.map((s, i) => det.decide(ws(i, s)));
  };
  const opened = (out: ReturnType<typeof run>) =>
    out.flatMap((o, i) => o.events.filter((e) => e.kind === 'opened').map(() => i));
  // both open on the first burst's second window
  assert.deepEqual(opened(run(false)).slice(0, 1), [31]);
  assert.deepEqual(opened(run(true)).slice(0, 1), [31]);
  // held out of the history, the second burst is as unusual as the first; learnt, it is not
  assert.deepEqual(opened(run(false)), [31, 69]);
  assert.deepEqual(opened(run(true)), [31]);
});

test('likelihood.orAbove: the floor lasts holdOpen windows, and a level that outlasted it does not reopen until it drops under the floor', () => {
  const base = { openAfter: 2, closeAfter: 3, closeBelow: 0.8 };
  const lik = { window: 20, short: 1, warmup: 10, minStd: 0.05, holdOpen: 30, orAbove: 2 };
  const quiet = (n: number) => Array.from({ length: n }, (_, i) => 0.2 + 0.02 * (i % 3));
  // a lasting level at 5 × threshold, back to quiet, then a burst at 5 × threshold
  const scores = [
    ...quiet(30),
    ...Array.from({ length: 100 }, () => 5),
    ...quiet(30),
    ...Array.from({ length: 5 }, () => 5),
  ];
  const det = new AnomalyDetector(
    parseConfig({ detection: { ...base, decision: 'likelihood', likelihood: lik } }).detection,
  );
  const out = scores.map((s, i) => det.decide(ws(i, s)));
  const opened = out.flatMap((o, i) => o.events.filter((e) => e.kind === 'opened').map(() => i));
  const closed = out.flatMap((o, i) => o.events.filter((e) => e.kind === 'closed').map(() => i));
  // one anomaly for the level: open through the hold, closed once the history learnt it, not reopened by the floor
  assert.equal(opened[0], 31);
  assert.ok(out.slice(31, 31 + 30).every((o) => o.anomaly));
  assert.ok(closed[0]! > 31 + 30 && closed[0]! < 130, `closed at ${closed[0]}`);
  assert.ok(out.slice(closed[0]! + 1, 130).every((o) => !o.anomaly));
  // back under the floor, it is armed again: the burst opens
  assert.equal(opened.length, 2);
  assert.ok(opened[1]! >= 160, `reopened at ${opened[1]}`);
});
