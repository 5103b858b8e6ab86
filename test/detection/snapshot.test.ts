import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseConfig } from '../../src/config/load.js';
import { AnomalyDetector } from '../../src/detection/detector.js';
import { decodeState, encodeState } from '../../src/detection/state-codec.js';
import type { WindowScore } from '../../src/pipeline/contracts.js';
import { windowScore } from './window-score.js';

// Small histories, so a few hundred windows go through warm-up, recomputations and anomalies.
const POLICIES = {
  threshold: {},
  dynamic: { dynamic: { window: 60, warmup: 12, every: 5, holdOpen: 6, span: 3 } },
  pot: { pot: { initial: 25, level: 0.9, risk: 0.01, depth: 5, learnAfter: 15 } },
  likelihood: { likelihood: { window: 40, short: 3, warmup: 8, holdOpen: 4, learnShort: true, orAbove: 3 } },
} as const;

function detectionFor(decision: keyof typeof POLICIES) {
  return parseConfig({
    detection: { decision, openAfter: 2, closeAfter: 3, closeBelow: 0.8, topChannels: 2, ...POLICIES[decision] },
  }).detection;
}

function ws(end: number, score: number, shares: readonly number[]): WindowScore {
  return windowScore({
    sensor: 's1',
    end,
    score,
    channels: ['a', 'b'],
    shares,
    threshold: 2,
    data: new Float32Array([1, 2, 3, 4]),
  });
}

/** Scores with bursts: a level, noise, and stretches well above the threshold. */
const scores = fc
  .array(
    fc.record({
      level: fc.double({ min: 0.05, max: 0.9, noNaN: true }),
      burst: fc.boolean(),
      n: fc.integer({ min: 1, max: 40 }),
      noise: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 40, maxLength: 40 }),
    }),
    { minLength: 3, maxLength: 12 },
  )
  .map((runs) =>
    runs.flatMap((r) =>
      Array.from({ length: r.n }, (_, i) => (r.burst ? 1.5 + 3 * r.noise[i]! : r.level * (0.5 + r.noise[i]!))),
    ),
  );

for (const decision of Object.keys(POLICIES) as Array<keyof typeof POLICIES>) {
  test(`${decision}: a state snapshot as JSON, restored in another detector, decides the rest exactly as the original`, () => {
    const cfg = detectionFor(decision);
    fc.assert(
      fc.property(scores, fc.double({ min: 0, max: 1, noNaN: true }), (seq, at) => {
        const windows = seq.map((s, i) =>
          ws(1000 + 10 * i, s, [0.6 + (0.3 * ((i * 7) % 3)) / 3, 0.4 - (0.3 * ((i * 7) % 3)) / 3]),
        );
        const cut = Math.floor(at * seq.length);
        const original = new AnomalyDetector(cfg);
        const expected = windows.map((w) => original.decide(w));
        const first = new AnomalyDetector(cfg);
        for (const w of windows.slice(0, cut)) first.decide(w);
        const wire = JSON.stringify(encodeState(first.snapshot('s1') ?? null));
        const second = new AnomalyDetector(cfg);
        if (cut > 0) assert.deepEqual(second.restore('s1', decodeState(JSON.parse(wire))), { ok: true });
        const got = windows.slice(cut).map((w) => second.decide(w));
        assert.deepEqual(got, expected.slice(cut));
      }),
      { numRuns: 60, seed: 19 },
    );
  });
}

test('a muted sensor and a machine-off grace period come back with the state', () => {
  const cfg = parseConfig({
    detection: {
      decision: 'threshold',
      openAfter: 1,
      closeAfter: 1,
      feedback: { muteForMs: 100 },
      suppress: { conditions: [{ channel: 'a', below: 0.5 }], graceAfterOnMs: 30 },
    },
  }).detection;
  const off = (end: number): WindowScore => ({
    ...ws(end, 0.2, [0.5, 0.5]),
    window: { ...ws(end, 0.2, [0.5, 0.5]).window, data: new Float32Array([0, 2, 0, 4]) },
  });
  const run = (d: AnomalyDetector, from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) =>
      d.decide(i + from === 3 ? off(1000 + 10 * (i + from)) : ws(1000 + 10 * (i + from), 2, [0.5, 0.5])),
    );
  const a = new AnomalyDetector(cfg);
  a.mutes.add('s1', 5);
  const all = run(a, 0, 12);
  const b = new AnomalyDetector(cfg);
  b.mutes.add('s1', 5);
  run(b, 0, 4);
  const c = new AnomalyDetector(cfg);
  assert.deepEqual(c.restore('s1', decodeState(JSON.parse(JSON.stringify(encodeState(b.snapshot('s1')))))), {
    ok: true,
  });
  assert.deepEqual(run(c, 4, 12), all.slice(4));
  // The grace period after the machine came back on, then the mute's end, both show in the rest.
  assert.ok(all.slice(4).some((d) => d.suppressed === 'grace'));
  assert.ok(all.slice(4).some((d) => d.anomaly));
  assert.ok(all.slice(4, 6).every((d) => !d.anomaly));
});

test('a state of another decision, other detection settings or an ill-formed one is not taken', () => {
  const dyn = new AnomalyDetector(detectionFor('dynamic'));
  for (let i = 0; i < 30; i++) dyn.decide(ws(1000 + i, 0.5, [0.5, 0.5]));
  const snap = decodeState(JSON.parse(JSON.stringify(encodeState(dyn.snapshot('s1')))));
  const pot = new AnomalyDetector(detectionFor('pot'));
  assert.equal(pot.restore('s1', snap).ok, false);
  const other = new AnomalyDetector(parseConfig({ detection: { ...detectionFor('dynamic'), openAfter: 4 } }).detection);
  assert.equal(other.restore('s1', snap).ok, false);
  const same = new AnomalyDetector(detectionFor('dynamic'));
  const bad = structuredClone(snap) as { policy: { count: number } };
  bad.policy.count = 10_000;
  assert.equal(same.restore('s1', bad).ok, false);
  assert.equal(same.snapshot('s1'), undefined, 'nothing was taken');
  assert.equal(same.restore('s1', snap).ok, true);
});

test('restoring arbitrary JSON never throws and takes nothing ill-formed', () => {
  const cfg = detectionFor('likelihood');
  const good = new AnomalyDetector(cfg);
  for (let i = 0; i < 20; i++) good.decide(ws(1000 + i, 0.5, [0.5, 0.5]));
  const snap = encodeState(good.snapshot('s1')) as Record<string, unknown>;
  fc.assert(
    fc.property(
      fc.jsonValue(),
      fc.constantFrom('hysteresis', 'policy', 'mute', 'lastOff', 'v', 'whole'),
      (junk, where) => {
        const value = where === 'whole' ? junk : { ...snap, [where]: junk };
        const d = new AnomalyDetector(cfg);
        const res = d.restore('s1', decodeState(value));
        if (res.ok) d.decide(ws(2000, 0.5, [0.5, 0.5]));
      },
    ),
    { numRuns: 300, seed: 19 },
  );
});

test('the state codec round-trips typed arrays and non-finite numbers, and keeps __proto__ as data', () => {
  const v = {
    a: new Float32Array([1.5, -2]),
    b: new Float64Array([Math.PI]),
    c: new Uint8Array([1, 0, 1]),
    n: [NaN, Infinity, -Infinity, 0],
  };
  assert.deepEqual(decodeState(JSON.parse(JSON.stringify(encodeState(v)))), v);
  const o = decodeState(JSON.parse('{"__proto__": {"x": 1}}')) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(o), Object.prototype);
  assert.deepEqual(Object.keys(o), ['__proto__']);
});
