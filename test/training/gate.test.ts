import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { createAutoencoder } from '../../src/model/autoencoder.js';
import { selectBackend } from '../../src/model/backend.js';
import type { ModelBundle } from '../../src/pipeline/model.js';
import { trainGroup, type SensorTrainingData } from '../../src/training/fit-group.js';
import { runGate } from '../../src/training/gate.js';
import { TEST_BACKEND } from '../model/fixtures.js';

const SIZE = 8;
const cfg = parseConfig({
  windowing: { size: SIZE },
  model: { units: 8, epochs: 25, batchSize: 16, patience: 25, learningRate: 0.02 },
});
const sel = await selectBackend(TEST_BACKEND);
let seed = 7;
const rand = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5;

/** One channel: a slow sine with a little noise (normal), or the same with large spikes (anomalous). */
function windows(n: number, from: number, kind: 'normal' | 'anomalous'): Float32Array[] {
  return Array.from({ length: n }, (_, i) =>
    Float32Array.from({ length: SIZE }, (_, t) => {
      const k = from + i + t;
      const base = Math.sin(k / 5) + 0.05 * rand();
      return kind === 'normal' ? base : base + (t % 3 === 0 ? 3 : -1.5);
    }),
  );
}

function data(sensor: string, ws: Float32Array[]): SensorTrainingData {
  const rows = new Float32Array(ws.length * SIZE);
  ws.forEach((w, i) => rows.set(w, i * SIZE));
  return { sensor, rows, windows: ws, first: 0, last: ws.length * 1000 };
}

async function train(ws: Float32Array[]): Promise<ModelBundle> {
  return trainGroup('x', ['x'], [data('s', ws)], cfg, {
    createModel: async (params) => createAutoencoder(sel.tf, sel.backend, params),
    versionOf: async () => `m-${Math.round(Math.abs(rand()) * 1e9)}`,
  });
}

const asGate = (ws: Float32Array[]) =>
  ws.map((d, i) => ({ data: d, start: i * 1000, end: i * 1000 + 7000, sensor: 's' }));

test('the gate rejects a challenger that learned the anomalies as normal, and promotes one trained on normal data', async () => {
  const champion = await train(windows(160, 0, 'normal'));
  const worse = await train(windows(160, 0, 'anomalous'));
  const peer = await train(windows(160, 200, 'normal'));
  try {
    const heldOut = asGate(windows(40, 400, 'normal'));
    const labelled = asGate(windows(20, 500, 'anomalous'));
    const opts = { falseAlarmTolerance: 0.01, recallTolerance: 0.05 };
    const bad = await runGate(champion, worse, heldOut, labelled, opts);
    assert.equal(bad.promoted, false, bad.reason);
    assert.ok(bad.champion.anomalyRecall! > bad.challenger.anomalyRecall! + 0.05, JSON.stringify(bad));
    const good = await runGate(champion, peer, heldOut, labelled, opts);
    assert.equal(good.promoted, true, good.reason);
    assert.equal(good.normalWindows, 40);
    assert.equal(good.anomalousWindows, 20);
    const none = await runGate(champion, peer, [], labelled, opts);
    assert.equal(none.promoted, false, 'nothing held out to compare on: never promoted blind');
  } finally {
    for (const b of [champion, worse, peer]) b.model.dispose();
  }
});
