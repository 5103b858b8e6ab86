import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LayersModel, Scalar, Tensor, Variable } from '@tensorflow/tfjs';
import { createAutoencoder } from '../../src/model/autoencoder.js';
import type { LstmAutoencoder } from '../../src/model/autoencoder.js';
import type { BackendSelection } from '../../src/model/backend.js';
import { applyWithCode } from '../../src/model/layers.js';
import type { Encoded } from '../../src/model/layers.js';
import { exportArtifacts, loadModelFolder, modelVersion, saveModelFolder } from '../../src/model/io.js';
import { chooseKernel, simdTrainingNote } from '../../src/model/kernels/select.js';
import { createRng } from '../../src/model/prng.js';
import type { ModelHyperParams } from '../../src/pipeline/model.js';
import { bundleFor, selectTestBackend, sineWindows, SMALL } from './fixtures.js';

// The simd kernel's training (WebAssembly forward and backward passes) against tfjs-layers.
let sel: BackendSelection;
before(async () => {
  sel = await selectTestBackend();
});
const root = mkdtempSync(join(tmpdir(), 'aemon-simd-train-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Largest |a − b| relative to the scale of b (its largest |value|, at least 1). */
function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst / scale;
}

function uniform(n: number, seed: number): Float32Array {
  const rng = createRng(seed, 5);
  return Float32Array.from({ length: n }, () => 2 * rng() - 1);
}

/** All weights random normal (biases too), so every gate and the cell state matter. */
function randomise(model: LayersModel, seed: number): void {
  const { tf } = sel;
  const weights = model.getWeights().map((w, i) => tf.randomNormal(w.shape, 0, 0.5, 'float32', seed + i));
  model.setWeights(weights);
  tf.dispose(weights);
}

const base: ModelHyperParams = {
  windowSize: 24,
  channels: 1,
  units: 32,
  depth: 1,
  dropout: 0,
  loss: 'mse',
  learningRate: 0.01,
  seed: 5,
};

/**
 * Per variable, the gradient of Σ (reconstruction − target)² / batch + Σ code · r / batch (r random,
 * so the bottleneck code's own gradient path is checked too) through `forward`.
 */
function gradients(model: LayersModel, forward: (x: Tensor) => Encoded, x: Tensor, target: Tensor, r: Tensor) {
  const { tf } = sel;
  const variables = model.trainableWeights.map((w) => w.read() as Variable);
  const batch = x.shape[0]!;
  const { value, grads } = tf.variableGrads(() => {
    const { output, code } = forward(x);
    const reconstruction = tf.sum(tf.squaredDifference(output, target));
    return tf.div(tf.add(reconstruction, tf.sum(tf.mul(code, r))), batch) as Scalar;
  }, variables);
  const out = new Map(variables.map((v) => [v.name, grads[v.name]!.dataSync().slice()]));
  const loss = value.dataSync()[0]!;
  tf.dispose([value, ...Object.values(grads)]);
  return { loss, grads: out };
}

test("simd training gradients equal tfjs-layers' (tf.variableGrads) within 1e-4 for every parameter tensor", async (t) => {
  const { tf, backend } = sel;
  // Units 7: gate blocks that are not a multiple of 4 wide. Depth 2: stacked encoders and decoders.
  const cases = [
    { channels: 1, depth: 1, units: 32, batch: 5 },
    { channels: 8, depth: 1, units: 32, batch: 37 },
    { channels: 3, depth: 2, units: 7, batch: 4 },
    { channels: 8, depth: 2, units: 16, batch: 9 },
  ];
  for (const [k, c] of cases.entries()) {
    const params = { ...base, channels: c.channels, depth: c.depth, units: c.units };
    const model = createAutoencoder(tf, backend, params, 'layers') as LstmAutoencoder;
    const layersModel = model.layersModel;
    const simd = chooseKernel(tf, 'simd', layersModel, params).kernel;
    try {
      assert.ok(simd.training !== undefined, 'the simd kernel trains');
      randomise(layersModel, 11 + 7 * k);
      const shape = [c.batch, params.windowSize, params.channels] as [number, number, number];
      const n = c.batch * params.windowSize * params.channels;
      const x = tf.tensor3d(uniform(n, 3 + k), shape);
      const target = tf.tensor3d(uniform(n, 30 + k), shape);
      const r = tf.tensor2d(uniform(c.batch * c.units, 60 + k), [c.batch, c.units]);
      const want = gradients(layersModel, (v) => applyWithCode(layersModel, params, v, true), x, target, r);
      const got = gradients(layersModel, (v) => simd.training!.applyWithCode(v, true), x, target, r);
      tf.dispose([x, target, r]);
      assert.ok(
        Math.abs(got.loss - want.loss) <= 1e-4 * Math.max(1, Math.abs(want.loss)),
        `loss ${got.loss} vs ${want.loss}`,
      );
      assert.equal(got.grads.size, 6 * c.depth + 2);
      for (const [name, g] of want.grads) {
        const d = maxRelDiff(got.grads.get(name)!, g);
        const norm = Math.hypot(...g);
        assert.ok(norm > 1e-3, `${JSON.stringify(c)} ${name}: a gradient of norm ${norm} would compare trivially`);
        assert.ok(d <= 1e-4, `${JSON.stringify(c)} ${name}: gradients differ by ${d} (relative)`);
      }
      t.diagnostic(`${JSON.stringify(c)}: ${want.grads.size} gradients agree`);
    } finally {
      simd.dispose();
      model.dispose();
    }
  }
});

test('two simd passes in one loss (the second reuses the memory the first kept) still give tfjs-layers’ gradients', () => {
  const { tf, backend } = sel;
  const params = { ...base, channels: 2, units: 8 };
  const model = createAutoencoder(tf, backend, params, 'layers') as LstmAutoencoder;
  const layersModel = model.layersModel;
  const simd = chooseKernel(tf, 'simd', layersModel, params).kernel;
  try {
    randomise(layersModel, 90);
    const shape = [6, params.windowSize, params.channels] as [number, number, number];
    const n = 6 * params.windowSize * params.channels;
    const [x1, x2] = [tf.tensor3d(uniform(n, 91), shape), tf.tensor3d(uniform(n, 92), shape)];
    const zero = tf.zeros([6, params.units]);
    // The target of the first pass is the second pass's output: both passes reach the loss.
    const twice = (forward: (v: Tensor) => Encoded) => (v: Tensor) => {
      const first = forward(v);
      const second = forward(x2);
      return { output: tf.sub(first.output, tf.mul(0.5, second.output)), code: tf.add(first.code, second.code) };
    };
    const want = gradients(
      layersModel,
      twice((v) => applyWithCode(layersModel, params, v, true)),
      x1,
      x2,
      zero,
    );
    const got = gradients(
      layersModel,
      twice((v) => simd.training!.applyWithCode(v, true)),
      x1,
      x2,
      zero,
    );
    tf.dispose([x1, x2, zero]);
    for (const [name, g] of want.grads) {
      const d = maxRelDiff(got.grads.get(name)!, g);
      assert.ok(d <= 1e-4, `${name}: gradients differ by ${d} (relative)`);
    }
  } finally {
    simd.dispose();
    model.dispose();
  }
});

test('a few epochs on simd reduce the loss as tfjs-layers training does, and the trained model saves and loads into the scoring kernels', async (t) => {
  const { tf, backend } = sel;
  const n = 120;
  const x = sineWindows(n, SMALL.windowSize, SMALL.channels, 4);
  const options = { epochs: 6, batchSize: 16, validationSplit: 0.2, patience: 10 };
  const simd = createAutoencoder(tf, backend, SMALL, 'simd') as LstmAutoencoder;
  const layers = createAutoencoder(tf, backend, SMALL, 'layers') as LstmAutoencoder;
  try {
    const [a, b] = [await simd.fit(x, n, options), await layers.fit(x, n, options)];
    t.diagnostic(
      `simd loss ${a.loss.map((v) => v.toFixed(4)).join(' ')}; layers ${b.loss.map((v) => v.toFixed(4)).join(' ')}`,
    );
    // Not the tfjs-layers path: float sums in another order give losses that differ a little.
    assert.notDeepEqual(a.loss, b.loss);
    // The same initial weights and Adam: the first epoch agrees closely, and training goes the same way.
    assert.ok(Math.abs(a.loss[0]! - b.loss[0]!) <= 1e-3 * b.loss[0]!, `first epoch ${a.loss[0]} vs ${b.loss[0]}`);
    assert.ok(a.loss.at(-1)! < 0.5 * a.loss[0]!, 'training reduced the loss');
    const ratio = a.loss.at(-1)! / b.loss.at(-1)!;
    assert.ok(ratio > 0.5 && ratio < 2, `last epoch: simd ${a.loss.at(-1)} vs layers ${b.loss.at(-1)}`);
    assert.ok(Math.abs(a.valLoss.at(-1)! / b.valLoss.at(-1)! - 1) < 0.5, 'validation losses are alike');

    const { metadata } = await bundleFor(simd, { trainingWindows: n });
    const dir = join(root, 'trained');
    await saveModelFolder(dir, { model: simd, metadata });
    const expected = await simd.score(x, n);
    for (const kernel of ['simd', 'layers'] as const) {
      const loaded = await loadModelFolder(dir, tf, backend, kernel);
      try {
        assert.equal((loaded.model as LstmAutoencoder).kernel, kernel);
        const artifacts = await exportArtifacts(loaded.model);
        assert.equal(modelVersion(artifacts.weights, artifacts.topology), metadata.version);
        const got = await loaded.model.score(x, n);
        assert.ok(maxRelDiff(got.errors, expected.errors) <= 1e-4, `${kernel}: scores of the loaded model`);
      } finally {
        loaded.model.dispose();
      }
    }
  } finally {
    simd.dispose();
    layers.dispose();
  }
});

test('simd training repeats exactly with the same seed (denoising and the L1 penalty included), and leaves no tensors behind', async () => {
  const { tf, backend } = sel;
  const n = 60;
  const x = sineWindows(n, SMALL.windowSize, SMALL.channels, 8);
  const options = { epochs: 3, batchSize: 16, validationSplit: 0.2, patience: 5 };
  for (const extra of [{}, { noise: 0.1, l1: 0.01 }]) {
    const params = { ...SMALL, ...extra };
    const start = tf.memory().numTensors;
    const runs = [];
    for (let i = 0; i < 2; i++) {
      const model = createAutoencoder(tf, backend, params, 'simd') as LstmAutoencoder;
      const report = await model.fit(x, n, options);
      runs.push({ loss: report.loss, weights: (await exportArtifacts(model)).weights });
      model.dispose();
    }
    assert.equal(tf.memory().numTensors, start, `${JSON.stringify(extra)}: no tensors left`);
    assert.deepEqual(runs[0]!.loss, runs[1]!.loss, JSON.stringify(extra));
    assert.ok(Buffer.from(runs[0]!.weights).equals(Buffer.from(runs[1]!.weights)), 'bit-identical weights');
  }
});

test('model.simdTraining false and dropout train on tfjs-layers (the same losses as the layers kernel), and start-up says where training runs', async () => {
  const { tf, backend } = sel;
  const n = 40;
  const x = sineWindows(n, SMALL.windowSize, SMALL.channels, 5);
  const options = { epochs: 2, batchSize: 8, validationSplit: 0.2, patience: 5 };
  const cases = [
    { params: SMALL, setting: { kernel: 'simd' as const, lstmOp: true, simdTraining: false } },
    { params: { ...SMALL, dropout: 0.2 }, setting: 'simd' as const },
  ];
  for (const { params, setting } of cases) {
    const simd = createAutoencoder(tf, backend, params, setting) as LstmAutoencoder;
    const layers = createAutoencoder(tf, backend, params, 'layers') as LstmAutoencoder;
    try {
      assert.equal(simd.kernel, 'simd');
      assert.deepEqual((await simd.fit(x, n, options)).loss, (await layers.fit(x, n, options)).loss);
    } finally {
      simd.dispose();
      layers.dispose();
    }
  }
  const model = { kernel: 'auto' as const, simdTraining: true, cell: 'lstm' as const, variational: 0, dropout: 0 };
  assert.equal(simdTrainingNote(model), 'training runs in the simd kernel (WebAssembly SIMD)');
  assert.match(simdTrainingNote({ ...model, simdTraining: false }), /tfjs-layers: model\.simdTraining is false/);
  assert.match(simdTrainingNote({ ...model, dropout: 0.1 }), /tfjs-layers: model\.dropout > 0/);
  assert.match(simdTrainingNote({ ...model, cell: 'gru' }), /tfjs-layers: model\.cell is "gru"/);
  assert.match(simdTrainingNote({ ...model, kernel: 'layers' }), /tfjs-layers: model\.kernel is "layers"/);
});
