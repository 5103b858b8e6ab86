import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor } from '@tensorflow/tfjs';
import { createAutoencoder } from '../../src/model/autoencoder.js';
import type { LstmAutoencoder } from '../../src/model/autoencoder.js';
import type { BackendSelection } from '../../src/model/backend.js';
import { CONTRACTIVE_STEP, contractivePenalty } from '../../src/model/fit.js';
import { applyWithCode } from '../../src/model/layers.js';
import { AemonError } from '../../src/errors.js';
import { envOverrides, parseConfig } from '../../src/config/load.js';
import type { ModelHyperParams } from '../../src/pipeline/model.js';
import { selectTestBackend, sineWindows, SMALL } from './fixtures.js';

let sel: BackendSelection;
before(async () => {
  sel = await selectTestBackend();
});

const { windowSize: W, channels: C } = SMALL;
const train = sineWindows(120, W, C, 1);
const make = (params: Partial<ModelHyperParams>) =>
  createAutoencoder(sel.tf, sel.backend, { ...SMALL, ...params }) as LstmAutoencoder;
const fitOptions = { epochs: 12, batchSize: 32, validationSplit: 0.2, patience: 12 };

test('model.contractive is a config option, 0 by default, finite and never negative', () => {
  assert.equal(parseConfig({}).model.contractive, 0);
  assert.equal(parseConfig({ model: { contractive: 0.1 } }).model.contractive, 0.1);
  assert.equal(parseConfig(envOverrides({ AEMON_MODEL_CONTRACTIVE: '0.5' })).model.contractive, 0.5);
  assert.throws(() => parseConfig({ model: { contractive: -1 } }));
  assert.equal(parseConfig({ model: { architecture: 'conv', contractive: 0.1 } }).model.contractive, 0.1);
  assert.throws(
    () => make({ contractive: -0.5 }),
    (e: unknown) => e instanceof AemonError && e.code === 'AEMON_MODEL_INVALID',
  );
});

test("the penalty estimates the Jacobian's squared Frobenius norm: exact in expectation for a linear encoder", () => {
  const { tf } = sel;
  tf.tidy(() => {
    // code = x · M for x of 12 inputs and a code of 5: J = Mᵀ, ‖J‖²_F = Σ M².
    const m = tf.randomNormal([12, 5], 0, 1, 'float32', 3);
    const exact = tf.sum(tf.square(m)).dataSync()[0]!;
    const x = tf.randomNormal([20_000, 12], 0, 1, 'float32', 4);
    const v = tf.randomNormal([20_000, 12], 0, 1, 'float32', 5);
    const code = tf.matMul(x, m);
    const probed = tf.matMul(tf.add(x, tf.mul(v, CONTRACTIVE_STEP)), m);
    const estimate = contractivePenalty(tf, code, probed).dataSync()[0]!;
    // 20,000 probes: the estimate's relative spread is about √(2/20000) ≈ 1 %.
    assert.ok(Math.abs(estimate / exact - 1) < 0.05, `estimate ${estimate} vs exact ${exact}`);
    // A constant code has no Jacobian.
    assert.equal(contractivePenalty(tf, tf.ones([4, 3]), tf.ones([4, 3])).dataSync()[0], 0);
  });
});

/** The trained encoder's ‖∂code/∂window‖²_F, averaged over the windows and 16 random directions (through tfjs-layers, the same weights). */
function jacobianNorm(model: LstmAutoencoder, x: Tensor): number {
  const { tf } = sel;
  return tf.tidy(() => {
    const code = applyWithCode(model.layersModel, model.params, x, false).code;
    let sum = 0;
    for (let k = 0; k < 16; k++) {
      const v = tf.randomNormal(x.shape, 0, 1, 'float32', 100 + k);
      const probed = applyWithCode(model.layersModel, model.params, tf.add(x, tf.mul(v, CONTRACTIVE_STEP)), false).code;
      sum += contractivePenalty(tf, code, probed).dataSync()[0]!;
    }
    return sum / 16;
  });
}

for (const architecture of ['lstm', 'conv'] as const) {
  test(`training with model.contractive makes the ${architecture} encoder contract, and repeats for its seed`, async () => {
    const { tf } = sel;
    const plain = make({ architecture });
    const contractive = make({ architecture, contractive: 0.1 });
    const again = make({ architecture, contractive: 0.1 });
    const x = tf.tensor3d(train, [120, W, C]);
    try {
      await plain.fit(train, 120, fitOptions);
      const fit = await contractive.fit(train, 120, fitOptions);
      const fitAgain = await again.fit(train, 120, fitOptions);
      assert.deepEqual(fitAgain.loss, fit.loss, 'the same seed gives the same training');
      const [without, withPenalty] = [jacobianNorm(plain, x), jacobianNorm(contractive, x)];
      assert.ok(
        withPenalty < without / 2,
        `‖J‖²_F ${withPenalty.toFixed(3)} with the penalty vs ${without.toFixed(3)} without`,
      );
      // Its reconstruction stays useful: the validation loss is finite and below the data's variance.
      const variance = train.reduce((a, v) => a + v * v, 0) / train.length;
      assert.ok(fit.valLoss.at(-1)! < variance, `val loss ${fit.valLoss.at(-1)} vs variance ${variance}`);
    } finally {
      x.dispose();
      plain.dispose();
      contractive.dispose();
      again.dispose();
    }
  });
}
