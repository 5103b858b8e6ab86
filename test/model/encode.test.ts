import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor } from '@tensorflow/tfjs';
import { createAutoencoder } from '../../src/model/autoencoder.js';
import type { LstmAutoencoder } from '../../src/model/autoencoder.js';
import type { BackendSelection } from '../../src/model/backend.js';
import { convShape } from '../../src/model/conv.js';
import { applyWithCode } from '../../src/model/layers.js';
import type { ModelHyperParams } from '../../src/pipeline/model.js';
import { selectTestBackend, sineWindows, SMALL, TEST_KERNEL } from './fixtures.js';

let sel: BackendSelection;
before(async () => {
  sel = await selectTestBackend();
});

const { windowSize: W, channels: C } = SMALL;
const make = (params: Partial<ModelHyperParams>) =>
  createAutoencoder(sel.tf, sel.backend, { ...SMALL, ...params }, TEST_KERNEL) as LstmAutoencoder;

for (const architecture of ['lstm', 'conv'] as const) {
  test(`encode (${architecture}): one code per window, the layers model's bottleneck, the same in any batch`, async () => {
    const model = make({ architecture });
    try {
      await model.fit(sineWindows(64, W, C, 1), 64, { epochs: 2, batchSize: 32, validationSplit: 0.2, patience: 2 });
      const n = 600; // more than one encoder call's batch
      const x = sineWindows(n, W, C, 2);
      const codes = await model.encode(x, n);
      const size = architecture === 'conv' ? convShape(W, SMALL.units).codeSteps * SMALL.units : SMALL.units;
      assert.equal(codes.length, n * size);
      assert.ok(codes.every(Number.isFinite));
      // Through tfjs-layers, whatever kernel encodes: the code is that of the model's own layers.
      const reference = sel.tf.tidy(() => {
        const xs = sel.tf.tensor3d(x.subarray(0, 10 * W * C), [10, W, C]);
        const { code } = applyWithCode(model.layersModel, model.params, xs, false);
        return (code as Tensor).reshape([10, -1]).dataSync();
      });
      for (let i = 0; i < reference.length; i++)
        assert.ok(Math.abs(codes[i]! - reference[i]!) < 1e-4, `code ${i}: ${codes[i]} vs ${reference[i]}`);
      // Window 550 encoded alone is window 550 of the big call.
      const one = await model.encode(x.subarray(550 * W * C, 551 * W * C), 1);
      for (let a = 0; a < size; a++) assert.ok(Math.abs(one[a]! - codes[550 * size + a]!) < 1e-5);
      assert.deepEqual(await model.encode(x, n), codes, 'deterministic');
      assert.equal((await model.encode(new Float32Array(0), 0)).length, 0);
      await assert.rejects(model.encode(x, n + 1), /expected/);
    } finally {
      model.dispose();
    }
  });
}
