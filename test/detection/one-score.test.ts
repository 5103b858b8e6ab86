import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnomalyDetector } from '../../src/detection/detector.js';
import { parseConfig } from '../../src/config/load.js';
import type { DecisionName } from '../../src/config/schema.js';
import type { SensorWindow, WindowScore } from '../../src/pipeline/contracts.js';
import { createRng } from '../../src/model/prng.js';

const CAL = 0.5;

function ws(end: number, score: number): WindowScore {
  const window: SensorWindow = {
    kind: 'window',
    id: `s@${end}`,
    sensor: 's',
    group: 'a,b',
    channels: ['a', 'b'],
    start: end - 10,
    end,
    data: Float32Array.of(1, 2, 3, 4),
    readings: [],
  };
  return {
    window,
    error: score * CAL,
    channelShares: Float32Array.of(0.4, 0.6),
    threshold: CAL,
    score,
    modelVersion: 'm',
  };
}

/** Noisy normal scores with a few level shifts and spikes, so every policy warms up and then alarms. */
function scores(n: number, seed: number): number[] {
  const rand = createRng(seed);
  return Array.from({ length: n }, (_, i) => {
    const base = 0.2 + 0.05 * rand();
    if (i % 400 > 380) return base * 8;
    if (i % 997 > 960) return base * 3;
    return base;
  });
}

/** Replays the hysteresis from the verdicts' scores alone: what a user comparing the score with 1 would expect. */
function hysteresis(verdicts: number[], openAfter: number, closeAfter: number, closeBelow: number): boolean[] {
  let open = false;
  let above = 0;
  let below = 0;
  return verdicts.map((s) => {
    if (!open) {
      above = s > 1 ? above + 1 : 0;
      if (above >= openAfter) {
        open = true;
        below = 0;
      }
    } else {
      below = s < closeBelow ? below + 1 : 0;
      if (below >= closeAfter) {
        open = false;
        above = 0;
      }
    }
    return open;
  });
}

for (const decision of ['threshold', 'dynamic', 'pot', 'likelihood'] as const satisfies readonly DecisionName[]) {
  test(`decision ${decision}: the score users see is what the hysteresis compares with 1, and > 1 ⇔ above the threshold in force`, () => {
    const detection = parseConfig({
      detection: { decision, pot: { initial: 100 }, likelihood: { warmup: 50, window: 500 }, dynamic: { warmup: 50 } },
    }).detection;
    const det = new AnomalyDetector(detection);
    const input = scores(3000, 7);
    const out = input.map((s, i) => det.decide(ws(1000 * i, s)));
    const verdicts = out.map((d) => d.verdict.score);
    assert.deepEqual(
      out.map((d) => d.anomaly),
      hysteresis(verdicts, detection.openAfter, detection.closeAfter, detection.closeBelow),
    );
    let above = 0;
    out.forEach((d, i) => {
      assert.equal(d.verdict.score, d.decisionScore);
      assert.equal(d.verdict.rawScore, input[i]);
      assert.equal(d.verdict.threshold, d.threshold);
      if (d.verdict.score > 1) above++;
      if (decision === 'likelihood') return;
      // The threshold in force is in error units: the window's error is above it exactly when the score passes 1.
      const t = d.verdict.threshold;
      assert.ok(t !== null && t > 0, `window ${i}: a threshold in force`);
      const margin = Math.abs(input[i]! * CAL - t) / t;
      if (margin > 1e-6) assert.equal(d.verdict.score > 1, input[i]! * CAL > t, `window ${i}`);
    });
    // The check above is not vacuous: the layer both alarms and stays quiet.
    assert.ok(above > 10 && above < out.length / 2, `${above} windows above`);
    const events = out.flatMap((d) => d.events);
    assert.ok(events.length >= 2);
    for (const e of events) assert.ok(e.peakScore > 1, `an event's peak score ${e.peakScore} is above 1`);
  });
}
