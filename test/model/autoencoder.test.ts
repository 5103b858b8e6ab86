import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAutoencoder } from '../../src/model/autoencoder.js';
import type { LstmAutoencoder } from '../../src/model/autoencoder.js';
import type { BackendSelection } from '../../src/model/backend.js';
import { AemonError } from '../../src/errors.js';
import type { EpochProgress, FitOptions, ModelHyperParams } from '../../src/pipeline/model.js';
import { expectedKernel, mean, selectTestBackend, sineWindows, SMALL, TEST_KERNEL, withSpikes } from './fixtures.js';

let sel: BackendSelection;
before(async () => {
  sel = await selectTestBackend();
});

const N = 200;
const { windowSize: W, channels: C } = SMALL;
const train = sineWindows(N, W, C, 1);
const fresh = sineWindows(40, W, C, 2);
const OPTIONS: FitOptions = { epochs: 25, batchSize: 32, validationSplit: 0.2, patience: 3 };

const isCode = (code: string) => (err: unknown) => err instanceof AemonError && err.code === code;
const make = (params: Partial<ModelHyperParams> = {}) =>
  createAutoencoder(sel.tf, sel.backend, { ...SMALL, ...params }, TEST_KERNEL);

test('the topology is encoder LSTMs → RepeatVector → decoder LSTMs → TimeDistributed(Dense), with sigmoid gates', (t) => {
  const model = make({ depth: 2 }) as LstmAutoencoder;
  try {
    t.diagnostic(`backend ${model.backend}, kernel ${model.kernel}`);
    assert.equal(model.kernel, expectedKernel(sel.backend));
    const layers = model.layersModel.layers.map((l) => [l.getClassName(), l.getConfig()] as const);
    assert.deepEqual(
      layers.map(([cls]) => cls),
      ['InputLayer', 'LSTM', 'LSTM', 'RepeatVector', 'LSTM', 'LSTM', 'TimeDistributed'],
    );
    const lstms = layers.filter(([cls]) => cls === 'LSTM').map(([, config]) => config);
    assert.deepEqual(
      lstms.map((c) => [
        c['units'],
        c['return_sequences'] ?? c['returnSequences'],
        c['recurrent_activation'] ?? c['recurrentActivation'],
      ]),
      [
        [8, true, 'sigmoid'],
        [8, false, 'sigmoid'],
        [8, true, 'sigmoid'],
        [8, true, 'sigmoid'],
      ],
    );
    assert.deepEqual(model.layersModel.outputs[0]!.shape, [null, W, C]);
    assert.equal(model.backend, sel.backend);
  } finally {
    model.dispose();
  }
});

test('fit learns the normal pattern; spiked windows score far higher, in the spiked channel', async () => {
  const model = make();
  try {
    const progress: EpochProgress[] = [];
    const report = await model.fit(train, N, { ...OPTIONS, onEpoch: (p) => progress.push(p) });
    assert.equal(report.windows, N);
    assert.equal(report.loss.length, report.epochs);
    assert.equal(report.valLoss.length, report.epochs);
    assert.deepEqual(
      progress.map((p) => [p.epoch, p.epochs, p.loss, p.valLoss]),
      report.loss.map((loss, i) => [i + 1, OPTIONS.epochs, loss, report.valLoss[i]]),
    );
    assert.ok(progress.every((p) => p.elapsedMs > 0));
    assert.ok(report.loss.at(-1)! < report.loss[0]! / 10, `loss ${report.loss[0]} → ${report.loss.at(-1)}`);
    assert.ok(report.seconds > 0);

    const normal = await model.score(fresh, 40);
    const spiked = await model.score(withSpikes(fresh, W, C, 1, 1.5), 40);
    const worstNormal = Math.max(...normal.errors);
    assert.ok(
      Math.min(...spiked.errors) > 5 * worstNormal,
      `normal ≤ ${worstNormal}, spiked ≥ ${Math.min(...spiked.errors)}`,
    );
    for (let i = 0; i < 40; i++) {
      const channels = Array.from(spiked.channelErrors.subarray(i * C, (i + 1) * C));
      assert.equal(channels.indexOf(Math.max(...channels)), 1, `window ${i}: ${channels}`);
      // The window error is the mean over channels of the per-channel errors.
      assert.ok(Math.abs(mean(channels) - spiked.errors[i]!) < 1e-6);
    }
  } finally {
    model.dispose();
  }
});

test('score agrees with reconstruct, for mse and mae', async () => {
  for (const loss of ['mse', 'mae'] as const) {
    const model = make({ loss });
    try {
      const recon = await model.reconstruct(fresh, 40);
      assert.equal(recon.length, fresh.length);
      const { errors, channelErrors } = await model.score(fresh, 40);
      const err = (a: number, b: number) => (loss === 'mse' ? (a - b) ** 2 : Math.abs(a - b));
      for (const i of [0, 17, 39]) {
        let total = 0;
        for (let c = 0; c < C; c++) {
          let sum = 0;
          for (let t = 0; t < W; t++) sum += err(recon[(i * W + t) * C + c]!, fresh[(i * W + t) * C + c]!);
          assert.ok(Math.abs(sum / W - channelErrors[i * C + c]!) < 1e-5, `${loss} window ${i} channel ${c}`);
          total += sum;
        }
        assert.ok(Math.abs(total / (W * C) - errors[i]!) < 1e-5, `${loss} window ${i}`);
      }
    } finally {
      model.dispose();
    }
  }
});

test('the same data, params and seed give bit-identical models (dropout included); another seed does not', async () => {
  const options = { ...OPTIONS, epochs: 3 };
  const run = async (seed: number) => {
    const model = make({ seed, dropout: 0.1 });
    try {
      const report = await model.fit(train, N, options);
      return { loss: report.loss, valLoss: report.valLoss, ...(await model.score(fresh, 40)) };
    } finally {
      model.dispose();
    }
  };
  const a = await run(11);
  const b = await run(11);
  const c = await run(12);
  assert.deepEqual(b, a);
  assert.notDeepEqual(c.errors, a.errors);
});

test('early stopping restores the best epoch’s weights', async () => {
  // Seeded, so this run is the same every time: a high learning rate makes the val loss wander.
  const model = make({ learningRate: 0.3 });
  try {
    const patience = 2;
    const report = await model.fit(train, N, { epochs: 30, batchSize: 32, validationSplit: 0.2, patience });
    assert.equal(report.stoppedEarly, true);
    assert.equal(report.epochs, report.bestEpoch + patience);
    const best = report.valLoss[report.bestEpoch - 1]!;
    assert.equal(best, Math.min(...report.valLoss));
    assert.ok(report.valLoss.at(-1)! > best);
    // Validation is the last ceil(200 · 0.2) = 40 windows; their mean error now is the best val loss.
    const { errors } = await model.score(train.subarray((N - 40) * W * C), 40);
    assert.ok(Math.abs(mean(errors) - best) < 1e-5 * best, `${mean(errors)} vs best ${best}`);
  } finally {
    model.dispose();
  }
});

test('without validation windows there is no early stopping and the last epoch is kept', async () => {
  const model = make();
  try {
    const report = await model.fit(train.subarray(0, 20 * W * C), 20, {
      epochs: 2,
      batchSize: 8,
      validationSplit: 0,
      patience: 1,
    });
    assert.deepEqual([report.epochs, report.bestEpoch, report.valLoss, report.stoppedEarly], [2, 2, [], false]);
    const two = await model.fit(train.subarray(0, 2 * W * C), 2, {
      epochs: 1,
      batchSize: 8,
      validationSplit: 0.01,
      patience: 1,
    });
    assert.equal(two.valLoss.length, 1, 'two windows still hold one out');
  } finally {
    model.dispose();
  }
});

test('inputs of the wrong size, bad params and bad fit options are rejected', async () => {
  assert.throws(() => make({ depth: 0 }), isCode('AEMON_MODEL_INVALID'));
  assert.throws(() => make({ dropout: 1 }), isCode('AEMON_MODEL_INVALID'));
  const model = make();
  try {
    const short = fresh.subarray(0, 3 * W * C - 1);
    await assert.rejects(
      model.score(short, 3),
      (err: unknown) => isCode('AEMON_MODEL_INVALID')(err) && /got 143/.test((err as Error).message),
    );
    await assert.rejects(model.reconstruct(short, 3), isCode('AEMON_MODEL_INVALID'));
    await assert.rejects(model.fit(short, 3, OPTIONS), isCode('AEMON_MODEL_INVALID'));
    await assert.rejects(model.fit(fresh, 40, { ...OPTIONS, epochs: 0 }), isCode('AEMON_TRAINING'));
    await assert.rejects(model.fit(new Float32Array(0), 0, OPTIONS), isCode('AEMON_TRAINING'));
    const empty = await model.score(new Float32Array(0), 0);
    assert.deepEqual([empty.errors.length, empty.channelErrors.length], [0, 0]);
  } finally {
    model.dispose();
  }
  await assert.rejects(model.score(fresh, 40), /disposed/);
});

test('score, fit and dispose leave no tensors behind', async () => {
  const { tf } = sel;
  const start = tf.memory().numTensors;
  const model = make({ dropout: 0.2 });
  const weights = (model as LstmAutoencoder).layersModel.getWeights().length;
  assert.equal(tf.memory().numTensors, start + weights);
  // Warm: on the fused kernel, scoring (aemon's LSTM op) and reconstructing (BlockLSTM) each keep
  // their form of the weights, one per layer, replaced when the weights change.
  await model.score(fresh, 40);
  await model.reconstruct(fresh, 40);
  const warm = tf.memory().numTensors;
  for (let i = 0; i < 50; i++) await model.score(fresh, 40);
  assert.equal(tf.memory().numTensors, warm);
  await model.fit(train, N, { ...OPTIONS, epochs: 2, patience: 1 });
  assert.equal(tf.memory().numTensors, warm);
  await model.reconstruct(fresh, 40);
  assert.equal(tf.memory().numTensors, warm);
  model.dispose();
  assert.equal(tf.memory().numTensors, start);
});

test("score's lastRows are the reconstruction of each window's last step (what the live view draws)", async () => {
  const model = make();
  try {
    const { lastRows } = await model.score(fresh, 40);
    const full = await model.reconstruct(fresh, 40);
    assert.ok(lastRows, 'score gives lastRows');
    assert.equal(lastRows.length, 40 * C);
    for (let i = 0; i < 40; i++) {
      for (let c = 0; c < C; c++) {
        const want = full[(i * W + W - 1) * C + c]!;
        assert.ok(
          Math.abs(lastRows[i * C + c]! - want) < 1e-5,
          `window ${i} channel ${c}: ${lastRows[i * C + c]} vs ${want}`,
        );
      }
    }
  } finally {
    model.dispose();
  }
});
