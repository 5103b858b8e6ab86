import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DynamicThresholds,
  effectiveThreshold,
  selectThreshold,
  type DynamicConfig,
} from '../../src/detection/dynamic.js';
import { AnomalyDetector } from '../../src/detection/detector.js';
import { parseConfig } from '../../src/config/load.js';
import type { SensorWindow, WindowScore } from '../../src/pipeline/contracts.js';

const close = (a: number, b: number, tol: number) =>
  assert.ok(Math.abs(a - b) <= tol, `${a} is not within ${tol} of ${b}`);

const ones = (n: number) => Array.from({ length: n }, () => 1);

// Seventeen 1s, one 3 and two 5s: μ = 30 / 20 = 1.5, Σx² = 76, σ² = 76 / 20 − 1.5² = 1.55.
const sigma = Math.sqrt(1.55);

test('selectThreshold takes the z with the best (Δμ/μ + Δσ/σ) / (|e_a| + |E_seq|²), the larger z on a tie', () => {
  // z = 1 (ε ≈ 2.74) cuts 3, 5, 5 in two runs: the rest is all 1s, (1/3 + 1) / (3 + 2²) = 0.190.
  // z = 1.5 … 2.5 (ε in 3.37 … 4.61) cut the two adjacent 5s: the rest (seventeen 1s and a 3)
  // has mean 10/9 and std √17 / 9, so (7/27 + 1 − √17 / (9σ)) / (2 + 1²) = 0.297, the best.
  // z ≥ 3 (ε > 5) cuts nothing and does not qualify; of the tied z the largest wins.
  const values = [...ones(8), 3, ...ones(8), 5, 5, 1];
  const t = selectThreshold(values, 1, 4, 0.5);
  assert.equal(t.z, 2.5);
  close(t.epsilon, 1.5 + 2.5 * sigma, 1e-12);
  assert.equal(t.normalMax, 3);
});

test('selectThreshold counts contiguous runs in time order: the same values in another order choose another z', () => {
  // The 3 now sits next to the 5s: z = 1 cuts one run of three, (1/3 + 1) / (3 + 1²) = 0.333 > 0.297.
  const values = [...ones(16), 3, 5, 5, 1];
  const t = selectThreshold(values, 1, 4, 0.5);
  assert.equal(t.z, 1);
  close(t.epsilon, 1.5 + sigma, 1e-12);
  assert.equal(t.normalMax, 1);
});

test('selectThreshold squares the number of runs: cutting two runs costs more than one extra value', () => {
  // seventeen 1s, a 4 and two adjacent 5s: μ = 1.55, σ² = 83 / 20 − 1.55² = 1.7475.
  // z = 1, 1.5 cut 4, 5, 5 in two runs: (0.55 / 1.55 + 1) / (3 + 2²) = 0.194 (with 3 + 2 it would be 0.271);
  // z = 2, 2.5 cut the 5s: the rest has mean 7/6 and std √17 / 6, (0.247 + 0.480) / (2 + 1²) = 0.243.
  const t = selectThreshold([...ones(8), 4, ...ones(8), 5, 5, 1], 1, 4, 0.5);
  assert.equal(t.z, 2.5);
  close(t.epsilon, 1.55 + 2.5 * Math.sqrt(1.7475), 1e-12);
  assert.equal(t.normalMax, 4);
});

test('selectThreshold falls back to zMax when no value reaches μ + z·σ for any z, and to ε = μ without spread', () => {
  // 1, 2, 1, 2, …: μ = 1.5, σ = 0.5, the largest value is μ + 1σ < μ + 2.5σ
  const t = selectThreshold([1, 2, 1, 2, 1, 2, 1, 2], 2.5, 12, 0.5);
  assert.equal(t.z, 12);
  close(t.epsilon, 1.5 + 12 * 0.5, 1e-12);
  assert.equal(t.normalMax, 2);
  const flat = selectThreshold([0.4, 0.4, 0.4], 2.5, 12, 0.5);
  assert.equal(flat.z, null);
  close(flat.epsilon, 0.4, 1e-12);
});

test('pruning: a value must also stand a relative drop of p above the largest normal value', () => {
  const t = { epsilon: 4.6, z: 2.5, normalMax: 3 };
  assert.equal(effectiveThreshold(t, 0), 4.6);
  // 3 / (1 − 0.13) = 3.45 < ε: ε stands
  assert.equal(effectiveThreshold(t, 0.13), 4.6);
  // (5 − 3) / 5 = 0.4: with p = 0.4 the threshold is 5
  close(effectiveThreshold(t, 0.4), 5, 1e-12);
});

const cfg = (c: Partial<DynamicConfig>): DynamicConfig => ({
  window: 100,
  span: 1,
  zMin: 2.5,
  zMax: 12,
  zStep: 0.5,
  every: 1,
  pruning: 0,
  warmup: 10,
  ...c,
});
const alternating = (n: number) => Array.from({ length: n }, (_, i) => 1 + (i % 2));

test('null until the history holds `warmup` values, then smoothed score ÷ ε of the history before the window', () => {
  const d = new DynamicThresholds(cfg({}));
  assert.deepEqual(
    alternating(10).map((s) => d.update('a', s)),
    Array.from({ length: 10 }, () => null),
  );
  // history 1, 2, … (μ 1.5, σ 0.5): ε = 1.5 + 12 · 0.5 = 7.5, the 30 not yet in it
  close(d.update('a', 30)!, 4, 1e-12);
  // now it is: μ = 45/11, Σx² = 925; only the 30 is above μ + zσ for z ≤ 3, all tie, z = 3 wins
  const mean = 45 / 11;
  const eps = mean + 3 * Math.sqrt(925 / 11 - mean * mean);
  close(d.update('a', 1)!, 1 / eps, 1e-12);
});

test('the EWMA is pandas ewm(span).mean() (adjust=True): weights 1, (1 − α), (1 − α)², … normalised', () => {
  // span 3: α = 0.5. A constant history has σ = 0, so ε = μ = 1 and the decision is the smoothed score.
  const d = new DynamicThresholds(cfg({ span: 3, warmup: 2 }));
  d.update('a', 1);
  d.update('a', 1);
  // smoothed of 1, 1, 4: (4 + 0.5 · 1 + 0.25 · 1) / (1 + 0.5 + 0.25)
  close(d.update('a', 4)!, 4.75 / 1.75, 1e-12);
});

test('ε is recomputed every `every` windows only', () => {
  const d = new DynamicThresholds(cfg({ every: 5 }));
  for (const s of alternating(10)) d.update('a', s);
  close(d.update('a', 30)!, 30 / 7.5, 1e-12);
  // the 30 joined the history, but ε is still the one computed before it
  close(d.update('a', 15)!, 2, 1e-12);
  for (const s of [1, 2, 1]) d.update('a', s);
  // five windows on, ε is recomputed with the 30 and the 15 in the history: far above 7.5
  assert.ok(d.update('a', 15)! < 1);
});

test('the history grows as it fills, then keeps the last `window` values in time order', () => {
  const d = new DynamicThresholds(cfg({ window: 100, warmup: 10 }));
  // Values exact in single precision; a slow cycle so that time order matters for the runs.
  const values = Array.from({ length: 350 }, (_, i) => 1 + ((i * 7) % 13) / 4 + (i % 50 === 49 ? 6 : 0));
  const seen: number[] = [];
  values.forEach((v, i) => {
    const decision = d.update('a', v);
    // The reference: the last ≤ 100 values before this one, straight from the array.
    const history = seen.slice(-100);
    if (i < 10) assert.equal(decision, null);
    else close(decision!, v / effectiveThreshold(selectThreshold(history, 2.5, 12, 0.5), 0), 1e-9);
    seen.push(v);
  });
});

test('a window judged with absorb false does not join the history; sensors have separate histories', () => {
  const d = new DynamicThresholds(cfg({}));
  for (const s of alternating(10)) d.update('a', s);
  close(d.update('a', 30, false)!, 4, 1e-12);
  close(d.update('a', 30, false)!, 4, 1e-12);
  assert.equal(d.update('b', 30), null);
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

const quiet = (n: number) => Array.from({ length: n }, (_, i) => 0.2 + 0.02 * (i % 3));

test('with detection.dynamic a rise under the calibrated threshold that is far out for the sensor opens an anomaly', () => {
  const base = { openAfter: 2, closeAfter: 3, closeBelow: 0.8 };
  // quiet history 0.20, 0.22, 0.24: μ 0.22, σ 0.0163; no value reaches μ + 2.5σ, so ε = μ + 12σ = 0.416
  const scores = [...quiet(150), ...Array.from({ length: 20 }, () => 0.6)];
  const run = (detection: object) => {
    const det = new AnomalyDetector(parseConfig({ detection: { ...base, ...detection } }).detection);
    return scores.map((s, i) => det.decide(ws(i, s)).anomaly);
  };
  assert.ok(run({ decision: 'threshold' }).every((x) => !x));
  assert.equal(run({}).indexOf(true), 151);
});

test('before warmup the dynamic detector decides on score > 1 as the plain one does', () => {
  const det = new AnomalyDetector(
    parseConfig({ detection: { openAfter: 2, closeAfter: 3, decision: 'dynamic' } }).detection,
  );
  const out = [0.5, 1.5, 1.5, 0.2].map((s, i) => det.decide(ws(i, s)).anomaly);
  assert.deepEqual(out, [false, false, true, true]);
});

test('dynamic.holdOpen keeps a long fault out of the history for at most holdOpen windows of the anomaly', () => {
  const base = { openAfter: 2, closeAfter: 3, closeBelow: 0.8 };
  const scores = [...quiet(150), ...Array.from({ length: 600 }, () => 0.6)];
  const run = (holdOpen: number) => {
    const det = new AnomalyDetector(parseConfig({ detection: { ...base, dynamic: { holdOpen } } }).detection);
    return scores.map((s, i) => det.decide(ws(i, s)).anomaly);
  };
  const off = run(0);
  const held = run(400);
  assert.equal(off.indexOf(true), 151);
  assert.equal(held.indexOf(true), 151);
  // off: once the fault is more than a seventh of the history no z reaches it, ε jumps and it closes
  assert.ok(off.lastIndexOf(true) < 151 + 100, `closed at ${off.lastIndexOf(true)}`);
  // held: open through the hold, then the fault is learnt and it closes before the end
  assert.ok(held.slice(151, 151 + 400).every((x) => x));
  assert.equal(held.at(-1), false);
});

test('dynamic is the default detection.decision; likelihood or threshold decide otherwise; zMin must not exceed zMax', () => {
  assert.throws(() => parseConfig({ detection: { dynamic: { zMin: 5, zMax: 4 } } }), /zMin must not exceed zMax/);
  assert.equal(parseConfig({}).detection.decision, 'dynamic');
  // A window score of 0.5 after a warm-up of 1s is far out for the sensor: the dynamic layer
  // (warmup 10) opens an anomaly on it; the likelihood (still warming up: score > 1) and the
  // plain threshold (dynamic off) do not.
  const opened = (detection: object) => {
    const det = new AnomalyDetector(
      parseConfig({ detection: { openAfter: 1, dynamic: { warmup: 10 }, ...detection } }).detection,
    );
    const scores = [...Array.from({ length: 30 }, (_, i) => 0.01 + (i % 2) * 0.01), 0.5];
    return scores.map((s, i) => det.decide(ws(i, s)).anomaly).at(-1);
  };
  assert.equal(opened({}), true);
  assert.equal(opened({ decision: 'likelihood' }), false);
  assert.equal(opened({ decision: 'threshold' }), false);
});
