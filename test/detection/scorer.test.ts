import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scoreWithModel } from '../../src/detection/scorer.js';
import type { SensorWindow } from '../../src/pipeline/contracts.js';
import type { Autoencoder, BatchErrors, ModelBundle, ScoringTarget } from '../../src/pipeline/model.js';
import type { LatentSpace } from '../../src/pipeline/latent.js';

const PARAMS = {
  windowSize: 2,
  channels: 2,
  units: 4,
  depth: 1,
  dropout: 0,
  loss: 'mse' as const,
  learningRate: 0.01,
  seed: 1,
};

/** A model that "reconstructs" the last step as scaled values it was told, so the unscaling is checked by hand. */
function fakeModel(lastRows: Float32Array | undefined): Autoencoder {
  return {
    params: PARAMS,
    backend: 'cpu',
    fit: () => Promise.reject(new Error('not used')),
    score: async (_x: Float32Array, n: number): Promise<BatchErrors> => ({
      errors: new Float32Array(n).fill(0.5),
      channelErrors: new Float32Array(n * 2).fill(0.25),
      ...(lastRows ? { lastRows } : {}),
    }),
    reconstruct: () => Promise.reject(new Error('not used')),
    encode: () => Promise.reject(new Error('not used')),
    dispose: () => {},
  };
}

function target(model: Autoencoder): ScoringTarget {
  const calibration = { mean: [10, -2], std: [2, 0.5], threshold: 0.25 };
  const bundle = { model, metadata: { version: 'm-1' } } as unknown as ModelBundle;
  return { bundle, calibration };
}

const window: SensorWindow = {
  kind: 'window',
  id: 's@2',
  sensor: 's',
  group: 'a,b',
  channels: ['a', 'b'],
  start: 1,
  end: 2,
  data: Float32Array.of(10, -2, 12, -1),
  readings: [],
};

test("the last step's reconstruction comes back in raw units (scaled × std + mean)", async () => {
  const [ws] = await scoreWithModel([{ window, target: target(fakeModel(Float32Array.of(1, -2))) }]);
  assert.ok(ws?.reconstruction);
  assert.deepEqual(Array.from(ws.reconstruction), [12, -3]);
  assert.equal(ws.score, 2);
});

test('a model without lastRows leaves the reconstruction unset', async () => {
  const [ws] = await scoreWithModel([{ window, target: target(fakeModel(undefined)) }]);
  assert.equal(ws?.reconstruction, undefined);
});

test('a calibration with channel levels scores the weighted error and names channels by their ratios', async () => {
  const model: Autoencoder = {
    ...fakeModel(undefined),
    // Window error 0.5 as the mean of channel errors 0.9 and 0.1.
    score: async (_x: Float32Array, n: number): Promise<BatchErrors> => ({
      errors: new Float32Array(n).fill(0.5),
      channelErrors: Float32Array.of(0.9, 0.1),
    }),
  };
  const t = target(model);
  // Channel 1 usually reconstructs 20 × better than channel 0: its 0.1 is the bigger surprise.
  t.calibration = { ...t.calibration, threshold: 1, channelErrors: { combine: 'normalised', levels: [1, 0.05] } };
  const [ws] = await scoreWithModel([{ window, target: t }]);
  // Ratios 0.9 and 2 → error (0.9 + 2) / 2 = 1.45; shares 0.9 / 2.9 and 2 / 2.9.
  assert.ok(Math.abs(ws!.error - 1.45) < 1e-6);
  assert.ok(Math.abs(ws!.score - 1.45) < 1e-6);
  assert.ok(Math.abs(ws!.channelShares[1]! - 2 / 2.9) < 1e-6);
  t.calibration.channelErrors = { combine: 'max', levels: [1, 0.05] };
  const [wmax] = await scoreWithModel([{ window, target: t }]);
  assert.ok(Math.abs(wmax!.score - 2) < 1e-6);
});

test('scoring.latent places each window by its code; scoring.latentWeight mixes the latent distance into the raw score', async () => {
  // Codes of 2 numbers: window i has code (3i, 4i); the space is the identity around 0, scale 5.
  const model: Autoencoder = {
    ...fakeModel(undefined),
    encode: async (_x: Float32Array, n: number) =>
      Float32Array.from({ length: 2 * n }, (_, k) => (k % 2 ? 4 : 3) * (k >> 1)),
  };
  const latent: LatentSpace = {
    size: 2,
    mean: [0, 0],
    components: [
      [1, 0],
      [0, 1],
    ],
    explained: [0.5, 0.5],
    precision: [1, 0, 0, 1],
    scale: 5,
    sample: [],
  };
  const t = target(model);
  t.bundle = { ...t.bundle, metadata: { ...t.bundle.metadata, latent } };
  const items = [0, 1, 2].map(() => ({ window, target: t }));
  const plain = await scoreWithModel(items);
  assert.ok(
    plain.every((ws) => ws.latent === undefined && ws.score === 2),
    'off by default: nothing encoded',
  );
  const placed = await scoreWithModel(items, { latent: true });
  assert.deepEqual(
    placed.map((ws) => [ws.latent!.x, ws.latent!.y, ws.latent!.distance, ws.score]),
    [
      [0, 0, 0, 2],
      [3, 4, 1, 2],
      [6, 8, 2, 2],
    ],
  );
  // (error ÷ threshold + w × distance) ÷ (1 + w), w = 1: (2 + 0) / 2, (2 + 1) / 2, (2 + 2) / 2.
  const mixed = await scoreWithModel(items, { latentWeight: 1 });
  assert.deepEqual(
    mixed.map((ws) => ws.score),
    [1, 1.5, 2],
  );
  assert.ok(
    mixed.every((ws) => ws.latent === undefined),
    'the weight alone writes no latent field',
  );
  // A model saved without a latent space scores as before.
  const old = await scoreWithModel([{ window, target: target(model) }], { latent: true, latentWeight: 1 });
  assert.equal(old[0]!.score, 2);
  assert.equal(old[0]!.latent, undefined);
});
