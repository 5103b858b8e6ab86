import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createAutoencoder } from '../../src/model/autoencoder.js';
import { klDivergence } from '../../src/model/fit.js';
import { chooseKernel } from '../../src/model/kernels/select.js';
import { exportArtifacts, loadModelFolder, modelVersion, saveModelFolder } from '../../src/model/io.js';
import { applyWithCode, checkTopology } from '../../src/model/layers.js';
import type { LstmAutoencoder } from '../../src/model/autoencoder.js';
import type { BackendSelection } from '../../src/model/backend.js';
import { AemonError } from '../../src/errors.js';
import { envOverrides, parseConfig } from '../../src/config/load.js';
import type { Autoencoder, ModelHyperParams } from '../../src/pipeline/model.js';
import { tempDir } from '../tempdir.js';
import { bundleFor, mean, selectTestBackend, sineWindows, SMALL } from './fixtures.js';

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
  assert.throws(
    () => make({ l1: -1 }),
    (err: unknown) => err instanceof AemonError && err.code === 'AEMON_MODEL_INVALID',
  );
});

/** Σ|code| per window, averaged over the training windows: the L1 size of the bottleneck. */
function codeL1(model: LstmAutoencoder): number {
  const { tf } = sel;
  const total = tf.tidy(() => {
    const { code } = applyWithCode(model.layersModel, model.params, tf.tensor3d(train, [120, W, C]), false);
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
    assert.ok(
      sparse.report.loss[0]! > plain.report.loss[0]!,
      `loss ${sparse.report.loss[0]} with l1 vs ${plain.report.loss[0]} without`,
    );
    assert.ok(sparse.code < 0.5 * plain.code, `Σ|code| ${sparse.code} with l1 vs ${plain.code} without`);
    // Validation is reconstruction only: it stays the same order as without the penalty.
    assert.ok(sparse.report.valLoss.at(-1)! < 2 * plain.report.valLoss[0]!);
  });
}

test('model.variational (β of an LSTM-VAE) is a config option, 0 by default, set by AEMON_MODEL_VARIATIONAL, never negative', () => {
  assert.equal(parseConfig({}).model.variational, 0);
  assert.equal(parseConfig(envOverrides({ AEMON_MODEL_VARIATIONAL: '0.1' })).model.variational, 0.1);
  assert.throws(
    () => parseConfig({ model: { variational: -1 } }),
    (err: unknown) =>
      err instanceof AemonError && err.code === 'AEMON_CONFIG_INVALID' && err.message.includes('model.variational'),
  );
  for (const variational of [-1, Number.NaN, Infinity]) {
    assert.throws(
      () => make({ variational }),
      (err: unknown) =>
        err instanceof AemonError && err.code === 'AEMON_MODEL_INVALID' && err.message.includes('params.variational'),
    );
  }
});

const versionOf = async (model: Autoencoder): Promise<string> => {
  const { weights, topology } = await exportArtifacts(model);
  return modelVersion(weights, topology);
};

test('variational 0 is the plain model, version and all; β > 0 adds z_mean and z_log_var (the second output)', async () => {
  const absent = make({});
  const zero = make({ variational: 0 });
  const vae = make({ variational: 1 });
  try {
    assert.equal(await versionOf(zero), await versionOf(absent));
    assert.notEqual(await versionOf(vae), await versionOf(absent));
    assert.deepEqual(
      zero.layersModel.layers.map((l) => l.name),
      ['window', 'encoder_1', 'repeat', 'decoder_1', 'reconstruction'],
    );
    assert.deepEqual(
      vae.layersModel.layers.map((l) => [l.name, l.getClassName()]),
      [
        ['window', 'InputLayer'],
        ['encoder_1', 'LSTM'],
        ['z_mean', 'Dense'],
        ['repeat', 'RepeatVector'],
        ['decoder_1', 'LSTM'],
        ['reconstruction', 'TimeDistributed'],
        ['z_log_var', 'Dense'],
      ],
    );
    assert.deepEqual(
      vae.layersModel.outputs.map((o) => o.shape),
      [
        [null, W, C],
        [null, SMALL.units],
      ],
    );
    // The layers shared with the plain model start from the same weights (their seeds come first).
    const shared = (m: LstmAutoencoder) => m.layersModel.getLayer('encoder_1').getWeights()[0]!.dataSync();
    assert.deepEqual(shared(vae), shared(zero));
    // Loading checks the topology against the metadata, both ways.
    const invalidModel = (err: unknown) => err instanceof AemonError && err.code === 'AEMON_MODEL_INVALID';
    assert.throws(() => checkTopology(zero.layersModel, { ...SMALL, variational: 1 }), invalidModel);
    assert.throws(() => checkTopology(vae.layersModel, { ...SMALL, variational: 0 }), invalidModel);
    checkTopology(vae.layersModel, { ...SMALL, variational: 0.5 });
  } finally {
    for (const m of [absent, zero, vae]) m.dispose();
  }
});

test('a variational model runs on the layers kernel: auto falls back with a note, fused and simd refuse it', () => {
  const vae = make({ variational: 1 });
  try {
    assert.equal(vae.kernel, 'layers');
    const choice = chooseKernel(sel.tf, 'auto', vae.layersModel, vae.params);
    assert.equal(choice.kernel.name, 'layers');
    assert.match(choice.note ?? '', /variational/);
    if (sel.backend === 'tensorflow') assert.match(vae.kernelNote ?? '', /variational/);
  } finally {
    vae.dispose();
  }
  for (const kernel of ['fused', 'simd'] as const) {
    assert.throws(
      () => make({ variational: 1 }, kernel),
      // Off tensorflow, fused is refused for the backend before the model is looked at.
      (err: unknown) =>
        err instanceof AemonError &&
        err.code === 'AEMON_BACKEND' &&
        (kernel === 'fused' && sel.backend !== 'tensorflow' ? true : /variational/.test(err.message)),
      kernel,
    );
  }
});

test('a variational model learns, scores the same windows identically, and saves and loads with z_log_var', async () => {
  const { tf } = sel;
  const model = make({ variational: 0.01 });
  const dir = join(tempDir('aemon-vae-'), 'model');
  let loaded: Autoencoder | undefined;
  try {
    const heldOut = train.subarray(96 * W * C);
    const before = mean((await model.score(heldOut, 24)).errors);
    const tensors = tf.memory().numTensors;
    const report = await model.fit(train, 120, { epochs: 10, batchSize: 32, validationSplit: 0.2, patience: 3 });
    const first = await model.score(train, 120);
    assert.equal(tf.memory().numTensors, tensors, 'fit and score leave no tensors behind');
    // Validation is reconstruction with z = z_mean: the best epoch's value is the score of those windows, below the untrained one.
    const held = mean((await model.score(heldOut, 24)).errors);
    assert.ok(
      Math.abs(held - report.valLoss[report.bestEpoch - 1]!) < 1e-5,
      `${held} vs ${report.valLoss[report.bestEpoch - 1]}`,
    );
    assert.ok(held < before, `held-out error ${held} after training vs ${before} before`);
    assert.deepEqual((await model.score(train, 120)).errors, first.errors);

    const bundle = await bundleFor(model);
    await saveModelFolder(dir, bundle);
    loaded = (await loadModelFolder(dir, tf, sel.backend)).model;
    assert.equal(loaded.params.variational, 0.01);
    assert.equal(await versionOf(loaded), bundle.metadata.version);
    const logVar = (m: Autoencoder) =>
      (m as LstmAutoencoder).layersModel.getLayer('z_log_var').getWeights()[0]!.dataSync();
    assert.deepEqual(logVar(loaded), logVar(model));
    assert.deepEqual((await loaded.score(train, 120)).errors, first.errors);
  } finally {
    model.dispose();
    loaded?.dispose();
  }
});

/** The KL divergence of the bottleneck from N(0, I) per window, averaged over the training windows. */
function bottleneckKl(model: LstmAutoencoder): number {
  const { tf } = sel;
  const kl = tf.tidy(() => {
    const { code, logVar } = applyWithCode(model.layersModel, model.params, tf.tensor3d(train, [120, W, C]), false);
    return klDivergence(tf, code, logVar!);
  });
  const value = kl.dataSync()[0]!;
  kl.dispose();
  return value;
}

test('the KL term pulls the bottleneck towards N(0, I), and training repeats exactly with the same seed', async () => {
  const fitWith = async (variational: number) => {
    const model = make({ variational });
    try {
      const report = await model.fit(train, 120, { epochs: 5, batchSize: 32, validationSplit: 0.2, patience: 5 });
      return { report, kl: bottleneckKl(model), errors: (await model.score(train, 120)).errors };
    } finally {
      model.dispose();
    }
  };
  const weak = await fitWith(1e-4);
  const strong = await fitWith(1);
  const again = await fitWith(1);
  assert.deepEqual(again.errors, strong.errors);
  assert.ok(strong.kl < 0.5 * weak.kl, `KL ${strong.kl} with β 1 vs ${weak.kl} with β 1e-4`);
  // The first epoch starts from the same weights and ε: β × KL alone makes its loss higher.
  assert.ok(
    strong.report.loss[0]! > weak.report.loss[0]!,
    `loss ${strong.report.loss[0]} with β 1 vs ${weak.report.loss[0]} with β 1e-4`,
  );
});
