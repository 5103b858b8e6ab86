import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fitGpd,
  gpdLogLikelihood,
  MIN_GPD_EXCESSES,
  potThreshold,
  ScorePot,
  type PotConfig,
} from '../../src/detection/pot.js';
import { AnomalyDetector } from '../../src/detection/detector.js';
import { parseConfig } from '../../src/config/load.js';
import type { SensorWindow, WindowScore } from '../../src/pipeline/contracts.js';

const close = (a: number, b: number, tol: number) =>
  assert.ok(Math.abs(a - b) <= tol, `${a} is not within ${tol} of ${b}`);

/** Deterministic uniforms in (0, 1) (Park–Miller). */
function uniforms(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

/** N excesses at the GPD(ξ, σ) quantiles (i − ½) / N: a sample whose MLE is close to (ξ, σ). */
function gpdQuantiles(xi: number, sigma: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    const p = (i + 0.5) / n;
    return xi === 0 ? -sigma * Math.log(1 - p) : (sigma / xi) * (Math.pow(1 - p, -xi) - 1);
  });
}

test('gpdLogLikelihood on hand-worked cases, censored excesses included', () => {
  // one excess 1 under ξ = 1, σ = 1: density (1 + 1)^-2
  close(gpdLogLikelihood([1], 1, 1), -2 * Math.log(2), 1e-12);
  // exponential σ = 2: −2 ln 2 − (1 + 3) / 2
  close(gpdLogLikelihood([1, 3], 0, 2), -2 * Math.log(2) - 2, 1e-12);
  // a censored excess contributes ln P(Y > c) = −c / σ for the exponential, −(1/ξ) ln(1 + ξc/σ) else
  close(gpdLogLikelihood([1], 0, 1, [2]), -1 - 2, 1e-12);
  close(gpdLogLikelihood([1], 1, 1, [1]), -2 * Math.log(2) - Math.log(2), 1e-12);
  // outside the support of a bounded tail (ξ < 0: y < σ / |ξ|)
  assert.equal(gpdLogLikelihood([3], -0.5, 1), -Infinity);
});

test('fitGpd: few excesses get the exponential MLE σ = (Σ excesses + Σ censored) / observed', () => {
  assert.deepEqual(fitGpd([]), { xi: 0, sigma: 0 });
  assert.deepEqual(fitGpd([1, 2, 6]), { xi: 0, sigma: 3 });
  // d/dσ (−n ln σ − S/σ) = 0 at σ = S / n, with S summing the censored excesses too
  const f = fitGpd([1, 2, 6], [3]);
  assert.equal(f.xi, 0);
  close(f.sigma, 4, 1e-12);
  assert.ok(MIN_GPD_EXCESSES > 3);
});

test('fitGpd on exponential excesses finds ξ ≈ 0 and σ ≈ the mean excess', () => {
  const y = gpdQuantiles(0, 0.5, 400);
  const mean = y.reduce((a, b) => a + b, 0) / y.length;
  const f = fitGpd(y);
  assert.ok(Math.abs(f.xi) < 0.05, `ξ = ${f.xi}`);
  close(f.sigma, mean, 0.05 * mean);
});

test('fitGpd recovers heavy and bounded tails, at a maximum of the likelihood', () => {
  for (const [xi, sigma] of [
    [0.5, 2],
    [0.2, 1],
    [-0.3, 1],
  ] as const) {
    const y = gpdQuantiles(xi, sigma, 400);
    const f = fitGpd(y);
    close(f.xi, xi, 0.08);
    close(f.sigma, sigma, 0.1 * sigma);
    // no nearby (ξ, σ) is more likely
    const best = gpdLogLikelihood(y, f.xi, f.sigma);
    for (const dx of [-0.01, 0, 0.01])
      for (const ds of [0.99, 1, 1.01]) assert.ok(gpdLogLikelihood(y, f.xi + dx, f.sigma * ds) <= best + 1e-9);
  }
});

test('fitGpd: censored excesses lengthen the fitted tail', () => {
  const y = gpdQuantiles(0, 1, 200);
  const alone = fitGpd(y);
  const withAlarms = fitGpd(y, [4, 4, 4, 4, 4]);
  // five excesses known to be above 4 (P = e^-4 ≈ 1.8 % each under σ = 1) ask for a heavier tail
  assert.ok(withAlarms.sigma * (1 + Math.max(withAlarms.xi, 0)) > alone.sigma * (1 + Math.max(alone.xi, 0)));
  const q = (f: typeof alone) => potThreshold(0, f, 1e-4, 10_000, 200);
  assert.ok(q(withAlarms) > q(alone));
});

test('potThreshold: z_q = t + σ/ξ((qn/N_t)^-ξ − 1), and t − σ ln(qn/N_t) at ξ = 0', () => {
  // q n / N_t = 0.001 × 1000 / 20 = 0.05; 0.05^-0.5 = √20
  close(potThreshold(1, { xi: 0.5, sigma: 2 }, 0.001, 1000, 20), 1 + 4 * (Math.sqrt(20) - 1), 1e-9);
  close(potThreshold(1, { xi: 0, sigma: 2 }, 0.001, 1000, 20), 1 + 2 * Math.log(20), 1e-9);
  // continuous through ξ = 0
  close(potThreshold(1, { xi: 1e-6, sigma: 2 }, 0.001, 1000, 20), 1 + 2 * Math.log(20), 1e-4);
  // a bounded tail (ξ = −0.5) never passes its end point t + σ / |ξ|
  assert.ok(potThreshold(1, { xi: -0.5, sigma: 2 }, 1e-9, 1000, 20) < 1 + 4);
});

const cfg = (c: Partial<PotConfig> = {}): PotConfig => ({ initial: 10, level: 0.8, risk: 0.01, depth: 0, ...c });
const batch = [3, 1, 4, 10, 5, 9, 2, 6, 8, 7];
// the batch's 0.8 quantile (linear): 8 + 0.2 × (9 − 8) = 8.2; excesses 0.8 and 1.8, σ = 1.3 (exponential)
const T = 8.2;
const Z0 = T + 1.3 * Math.log(2 / (0.01 * 10));

function calibrated(c: Partial<PotConfig> = {}): ScorePot {
  const pot = new ScorePot(cfg(c));
  for (const s of batch) assert.equal(pot.update('a', s), null);
  return pot;
}

test('SPOT calibrates on the initial batch: t its level quantile, z_q from the exponential fit of the excesses', () => {
  const pot = calibrated();
  const st = pot.state('a')!;
  assert.ok(st.calibrated);
  close(st.t, T, 1e-9);
  close(st.z, Z0, 1e-9);
  assert.equal(st.n, 10);
  assert.equal(st.nt, 2);
  assert.equal(pot.state('b'), undefined);
});

test('SPOT stream rules: a normal score only counts, an excess refits, an alarm joins only as a censored excess', () => {
  const normal = calibrated();
  // the decision score (s − t) ÷ (z_q − t): below 0 under t
  close(normal.update('a', 5)!, (5 - T) / (Z0 - T), 1e-9);
  // counted (n = 11) but no refit: z_q stays (the paper's rule)
  assert.equal(normal.state('a')!.n, 11);
  close(normal.state('a')!.z, Z0, 1e-12);

  const excess = calibrated();
  close(excess.update('a', 10)!, (10 - T) / (Z0 - T), 1e-9);
  assert.equal(excess.state('a')!.nt, 3);
  // refit with n = 11, N_t = 3, σ = mean excess (still fewer than MIN_GPD_EXCESSES)
  close(excess.state('a')!.z, T + ((0.8 + 1.8 + 1.8) / 3) * Math.log(3 / (0.01 * 11)), 1e-9);

  // alarms: the value (13 or 100) does not matter, only that it passed z_q (excess ≥ Z0 − t)
  const z = [13, 100].map((s) => {
    const pot = calibrated();
    assert.ok(pot.update('a', s)! > 1);
    return pot.state('a')!.z;
  });
  close(z[0]!, z[1]!, 1e-12);
  close(z[0]!, T + ((0.8 + 1.8 + (Z0 - T)) / 2) * Math.log(3 / (0.01 * 11)), 1e-9);

  // absorb false: judged, nothing learnt
  const held = calibrated();
  close(held.update('a', 100, false)!, (100 - T) / (Z0 - T), 1e-9);
  held.update('a', 10, false);
  assert.deepEqual(held.state('a'), calibrated().state('a'));
});

test('the initial batch takes only absorbed scores', () => {
  const pot = new ScorePot(cfg());
  for (let i = 0; i < 20; i++) assert.equal(pot.update('a', 50, false), null);
  assert.equal(pot.state('a')!.calibrated, false);
  for (const s of batch) pot.update('a', s);
  close(pot.state('a')!.z, Z0, 1e-9);
});

test('DSPOT subtracts the mean of the last depth normal scores: a constant offset changes no decision', () => {
  const next = uniforms(7);
  const scores = Array.from({ length: 600 }, (_, i) => next() + (i % 97 === 50 ? 3 : 0));
  const run = (offset: number) => {
    const pot = new ScorePot(cfg({ depth: 5, initial: 100, level: 0.95, risk: 0.005 }));
    return { alarms: scores.map((s) => (pot.update('a', s + offset) ?? 0) > 1), st: pot.state('a')! };
  };
  const a = run(0);
  const b = run(10);
  assert.deepEqual(b.alarms, a.alarms);
  close(b.st.z, a.st.z, 1e-6);
  close(b.st.drift - a.st.drift, 10, 1e-6);
  // the spikes (+3 over uniform noise) alarm
  assert.ok(a.alarms.filter((x) => x).length >= 4);
});

test('DSPOT drift is the mean of the last depth normal scores; alarms stay out of it', () => {
  const pot = new ScorePot(cfg({ depth: 3 }));
  // 3 scores fill the drift window, then 10 drift-corrected ones the batch
  for (const s of [1, 1, 1, ...batch.map((x) => x / 10 + 1)]) pot.update('a', s);
  const before = pot.state('a')!;
  assert.ok(before.calibrated);
  // the last three scores were batch[7..9] / 10 + 1
  close(before.drift, (0.6 + 0.8 + 0.7) / 3 + 1, 1e-12);
  assert.ok(pot.update('a', 100)! > 1);
  close(pot.state('a')!.drift, before.drift, 1e-12);
  pot.update('a', 1);
  close(pot.state('a')!.drift, (0.8 + 0.7 + 0) / 3 + 1, 1e-12);
});

test('DSPOT follows a slow drift that SPOT alarms on', () => {
  const next = uniforms(11);
  // uniform noise on a ramp that climbs 0.005 per window (10 by the end, 10 × the noise's range)
  const scores = Array.from({ length: 2000 }, (_, i) => next() + 0.005 * i);
  const alarmShare = (depth: number) => {
    const pot = new ScorePot(cfg({ depth, initial: 200, level: 0.95, risk: 0.001 }));
    const alarms = scores.map((s) => (pot.update('a', s) ?? 0) > 1);
    return alarms.slice(-500).filter((x) => x).length / 500;
  };
  assert.ok(alarmShare(0) > 0.5, `SPOT ${alarmShare(0)}`);
  assert.ok(alarmShare(50) < 0.05, `DSPOT ${alarmShare(50)}`);
});

test('on i.i.d. scores the alarm rate stays near the risk (censored alarms keep the tail from shrinking)', () => {
  const next = uniforms(3);
  const pot = new ScorePot({ initial: 1000, level: 0.98, risk: 0.001, depth: 0 });
  let alarms = 0;
  const n = 100_000;
  for (let i = 0; i < n; i++) if ((pot.update('a', -Math.log(next())) ?? 0) > 1) alarms++;
  // the exponential's 1e-3 quantile is ln 1000 = 6.91
  close(pot.state('a')!.z, Math.log(1000), 0.5);
  assert.ok(alarms / n < 0.002, `alarm rate ${alarms / n}`);
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

const base = { openAfter: 2, closeAfter: 3, closeBelow: 0.8 };

test('before its initial batch is full the POT detector decides on score > 1 as the plain one does', () => {
  const det = new AnomalyDetector(
    parseConfig({ detection: { ...base, decision: 'pot', pot: { initial: 100 } } }).detection,
  );
  const out = [0.5, 1.5, 1.5, 0.2].map((s, i) => det.decide(ws(i, s)).anomaly);
  assert.deepEqual(out, [false, false, true, true]);
});

test('with detection.pot a burst under the threshold but far beyond the sensor’s own tail opens an anomaly', () => {
  const next = uniforms(5);
  const quiet = Array.from({ length: 200 }, () => 0.2 + 0.05 * next());
  const scores = [...quiet, ...Array.from({ length: 10 }, () => 0.6), ...quiet.slice(0, 20)];
  const withPot = new AnomalyDetector(
    parseConfig({ detection: { ...base, decision: 'pot', pot: { initial: 100 } } }).detection,
  );
  const plain = new AnomalyDetector(parseConfig({ detection: { ...base, decision: 'threshold' } }).detection);
  const a = scores.map((s, i) => withPot.decide(ws(i, s)).anomaly);
  const b = scores.map((s, i) => plain.decide(ws(i, s)).anomaly);
  assert.ok(b.every((x) => !x));
  // opens on the burst's second window, nowhere in the quiet part, and closes after it
  assert.equal(a.indexOf(true), 201);
  assert.equal(a.slice(0, 200).filter((x) => x).length, 0);
  assert.equal(a.at(-1), false);
});

test('pot.learnAfter: after learnAfter open windows the model starts over on the new level, which closes the anomaly', () => {
  const next = uniforms(9);
  const scores = [
    ...Array.from({ length: 200 }, () => 0.2 + 0.05 * next()),
    ...Array.from({ length: 400 }, () => 3 + 0.05 * next()),
  ];
  const run = (learnAfter: number) => {
    const det = new AnomalyDetector(
      parseConfig({ detection: { ...base, decision: 'pot', pot: { initial: 100, learnAfter } } }).detection,
    );
    return scores.map((s, i) => det.decide(ws(i, s)).anomaly);
  };
  const never = run(0);
  const learnt = run(50);
  for (const a of [never, learnt]) assert.equal(a.indexOf(true), 201);
  // kept out of the fit the level never closes; learnt, it closes after at least 50 open windows
  assert.ok(never.slice(201).every((x) => x));
  assert.ok(learnt.slice(201, 201 + 50).every((x) => x));
  assert.equal(learnt.at(-1), false);
});

test('pot.risk must be below 1 − level', () => {
  assert.throws(
    () => parseConfig({ detection: { pot: { level: 0.99, risk: 0.02 } } }),
    /risk must be below 1 − detection\.pot\.level/,
  );
  assert.equal(parseConfig({ detection: { decision: 'pot' } }).detection.decision, 'pot');
});
