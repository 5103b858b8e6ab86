import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scoreWithModel } from '../../src/detection/scorer.js';
import type { SensorWindow } from '../../src/pipeline/contracts.js';
import type { Autoencoder, BatchErrors, ModelBundle, ScoringTarget } from '../../src/pipeline/model.js';

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
