import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAutoencoder } from '../../src/model/autoencoder.js';
import { applyWithCode } from '../../src/model/layers.js';
import type { LstmAutoencoder } from '../../src/model/autoencoder.js';
import type { BackendSelection } from '../../src/model/backend.js';
import { AemonError } from '../../src/errors.js';
import { parseConfig } from '../../src/config/load.js';
import type { ModelHyperParams } from '../../src/pipeline/model.js';
import { mean, selectTestBackend, sineWindows, SMALL } from './fixtures.js';

let sel: BackendSelection;
before(async () => {
  sel = await selectTestBackend();
});

const { windowSize: W, channels: C } = SMALL;
const train = sineWindows(120, W, C, 1);
const make = (params: Partial<ModelHyperParams>, kernel: 'auto' | 'fused' | 'simd' | 'layers' = 'auto') =>
  createAutoencoder(sel.tf, sel.backend, { ...SMALL, ...params }, kernel) as LstmAutoencoder;

test('model.cell and model.noise are config options with lstm and 0 as defaults', () => {
  const d = parseConfig({}).model;
  assert.equal(d.cell, 'lstm');
  assert.equal(d.noise, 0);
  assert.equal(parseConfig({ model: { cell: 'gru', noise: 0.1 } }).model.cell, 'gru');
  assert.throws(() => parseConfig({ model: { cell: 'rnn' } }));
  assert.throws(() => parseConfig({ model: { noise: -1 } }));
});

test('cell gru builds GRU encoder and decoder layers, and auto runs it on the layers kernel', () => {
  const model = make({ cell: 'gru', depth: 2 });
  try {
    assert.deepEqual(
      model.layersModel.layers.map((l) => l.getClassName()),
      ['InputLayer', 'GRU', 'GRU', 'RepeatVector', 'GRU', 'GRU', 'TimeDistributed'],
    );
    assert.equal(model.kernel, 'layers');
  } finally {
    model.dispose();
  }
});

test('fused and simd refuse a GRU model (they run LSTMs only)', () => {
  for (const kernel of ['fused', 'simd'] as const) {
    assert.throws(
      () => make({ cell: 'gru' }, kernel),
      (err: unknown) => err instanceof AemonError && err.code === 'AEMON_BACKEND',
      kernel,
    );
  }
});

test('a GRU autoencoder learns the normal pattern', async () => {
  const model = make({ cell: 'gru' });
  try {
    const before = mean((await model.score(train, 120)).errors);
    await model.fit(train, 120, { epochs: 15, batchSize: 32, validationSplit: 0.2, patience: 3 });
    const after = mean((await model.score(train, 120)).errors);
    assert.ok(after < 0.5 * before, `error ${after} after training vs ${before} before`);
  } finally {
    model.dispose();
  }
});

test('denoising noise changes training, and repeats exactly with the same seed', async () => {
  const weights = async (noise: number): Promise<Float32Array> => {
    const model = make({ noise });
    try {
      await model.fit(train, 120, { epochs: 2, batchSize: 32, validationSplit: 0, patience: 3 });
      return (await model.reconstruct(train.subarray(0, W * C), 1)).slice();
    } finally {
      model.dispose();
    }
  };
  const clean = await weights(0);
  const noisy = await weights(0.3);
  const again = await weights(0.3);
  assert.deepEqual(noisy, again);
  assert.notDeepEqual(clean, noisy);
});

test('model.l1 is a config option, 0 by default, and never negative', () => {
  assert.equal(parseConfig({}).model.l1, 0);
  assert.equal(parseConfig({ model: { l1: 0.001 } }).model.l1, 0.001);
  assert.throws(() => parseConfig({ model: { l1: -0.1 } }));
  assert.throws(() => make({ l1: -1 }), (err: unknown) => err instanceof AemonError && err.code === 'AEMON_MODEL_INVALID');
});

/** Σ|code| per window, averaged over the training windows: the L1 size of the bottleneck. */
function codeL1(model: LstmAutoencoder): number {
  const { tf } = sel;
  const total = tf.tidy(() => {
    const { code } = applyWithCode(model.layersModel, model.params.depth, tf.tensor3d(train, [120, W, C]), false);
    return tf.div(tf.sum(tf.abs(code)), 120);
  });
  const value = total.dataSync()[0]!;
  total.dispose();
  return value;
}

for (const kernel of ['auto', 'layers'] as const) {
  test(`model.l1 adds the bottleneck penalty to the training loss and shrinks the code (${kernel} kernel)`, async () => {
    const fitWith = async (l1: number) => {
      const model = make({ l1 }, kernel);
      try {
        const report = await model.fit(train, 120, { epochs: 5, batchSize: 32, validationSplit: 0.2, patience: 5 });
        return { report, code: codeL1(model) };
      } finally {
        model.dispose();
      }
    };
    const plain = await fitWith(0);
    const sparse = await fitWith(0.05);
    // The first epoch starts from the same weights: the penalty alone makes its loss higher.
    assert.ok(sparse.report.loss[0]! > plain.report.loss[0]!, `loss ${sparse.report.loss[0]} with l1 vs ${plain.report.loss[0]} without`);
    assert.ok(sparse.code < 0.5 * plain.code, `Σ|code| ${sparse.code} with l1 vs ${plain.code} without`);
    // Validation is reconstruction only: it stays the same order as without the penalty.
    assert.ok(sparse.report.valLoss.at(-1)! < 2 * plain.report.valLoss[0]!);
  });
}
