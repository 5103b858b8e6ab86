import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createAutoencoder } from '../../src/model/autoencoder.js';
import type { LstmAutoencoder } from '../../src/model/autoencoder.js';
import type { BackendSelection } from '../../src/model/backend.js';
import { convShape } from '../../src/model/conv.js';
import { loadModelFiles, loadModelFolder, modelFiles, saveModelFolder } from '../../src/model/io.js';
import { applyWithCode } from '../../src/model/layers.js';
import { AemonError } from '../../src/errors.js';
import { parseConfig } from '../../src/config/load.js';
import type { Autoencoder, ModelHyperParams } from '../../src/pipeline/model.js';
import { tempDir } from '../tempdir.js';
import { bundleFor, mean, selectTestBackend, sineWindows, SMALL, withSpikes } from './fixtures.js';

let sel: BackendSelection;
before(async () => {
  sel = await selectTestBackend();
});

const CONV: ModelHyperParams = { ...SMALL, architecture: 'conv' };
const { windowSize: W, channels: C } = SMALL;
const train = sineWindows(120, W, C, 1);
const make = (params: Partial<ModelHyperParams> = {}, kernel: 'auto' | 'fused' | 'simd' | 'layers' = 'auto') =>
  createAutoencoder(sel.tf, sel.backend, { ...CONV, ...params }, kernel) as LstmAutoencoder;
const fitOptions = { epochs: 15, batchSize: 32, validationSplit: 0.2, patience: 15 };

test('the conv shape follows from the window length and units by one rule', () => {
  assert.deepEqual(convShape(32, 16), { levels: 2, kernelSize: 7, filters: [32, 16], codeSteps: 8 });
  assert.deepEqual(convShape(16, 8), { levels: 2, kernelSize: 5, filters: [16, 8], codeSteps: 4 });
  assert.deepEqual(convShape(8, 4), { levels: 1, kernelSize: 3, filters: [4], codeSteps: 4 });
  assert.deepEqual(convShape(2, 4), { levels: 1, kernelSize: 3, filters: [4], codeSteps: 1 });
  assert.deepEqual(convShape(100, 16), { levels: 2, kernelSize: 7, filters: [32, 16], codeSteps: 25 });
});

test('the conv model builds Conv1D layers, subsampled by 2, and gives back the window shape, for odd lengths too', () => {
  for (const windowSize of [16, 30, 7, 2]) {
    const model = make({ windowSize });
    try {
      const { layersModel } = model;
      assert.deepEqual(layersModel.inputs[0]!.shape, [null, windowSize, C]);
      assert.deepEqual(layersModel.outputs[0]!.shape, [null, windowSize, C]);
      const { levels } = convShape(windowSize, CONV.units);
      // Each encoder Conv1D keeps every second step.
      const strided = layersModel.layers.filter(
        (l) => l.getClassName() === 'MaxPooling1D' && (l.getConfig()['strides'] as number[])[0] === 2,
      );
      assert.equal(strided.length, levels);
      const conv1d = layersModel.layers.filter((l) => l.getClassName() === 'Conv1D');
      assert.equal(conv1d.length, 2 * levels + 1);
      assert.equal(layersModel.layers.filter((l) => l.getClassName() === 'UpSampling2D').length, levels);
      assert.equal(model.kernel, 'layers');
    } finally {
      model.dispose();
    }
  }
});

test('the conv model trains on this backend (loss goes down), scores and leaves no tensors behind', async () => {
  const { tf } = sel;
  const model = make();
  try {
    const heldOut = train.subarray(96 * W * C);
    const untrained = mean((await model.score(heldOut, 24)).errors);
    const tensors = tf.memory().numTensors;
    const report = await model.fit(train, 120, fitOptions);
    assert.equal(tf.memory().numTensors, tensors, 'fit leaves no tensors behind');
    assert.ok(report.loss.at(-1)! < report.loss[0]! / 2, `loss ${report.loss[0]} → ${report.loss.at(-1)}`);
    const scored = await model.score(heldOut, 24);
    assert.equal(tf.memory().numTensors, tensors, 'score leaves no tensors behind');
    const held = mean(scored.errors);
    assert.ok(held < untrained / 2, `held-out error ${held} after training vs ${untrained} before`);
    // Validation is the same reconstruction error the kernel scores.
    assert.ok(Math.abs(held - report.valLoss[report.bestEpoch - 1]!) < 1e-5);
    assert.equal(scored.channelErrors.length, 24 * C);
    assert.equal(scored.lastRows?.length, 24 * C);
    const spiked = mean((await model.score(withSpikes(heldOut, W, C, 1, 3), 24)).errors);
    assert.ok(spiked > 3 * held, `spiked windows ${spiked} vs normal ${held}`);
  } finally {
    model.dispose();
  }
});

test('model.l1 on the conv model penalises the bottleneck code, flattened', async () => {
  const { tf } = sel;
  const plain = make();
  const sparse = make({ l1: 0.05 });
  try {
    const x = tf.tensor3d(train, [120, W, C]);
    const { code, output } = applyWithCode(sparse.layersModel, sparse.params, x, false);
    const { codeSteps } = convShape(W, CONV.units);
    assert.deepEqual(code.shape, [120, codeSteps * CONV.units]);
    assert.deepEqual(output.shape, [120, W, C]);
    await plain.fit(train, 120, fitOptions);
    await sparse.fit(train, 120, fitOptions);
    const l1 = (m: LstmAutoencoder) =>
      tf.tidy(() => tf.mean(tf.abs(applyWithCode(m.layersModel, m.params, x, false).code)).dataSync()[0]!);
    assert.ok(l1(sparse) < l1(plain) / 2, `mean |code| ${l1(sparse)} with l1 vs ${l1(plain)} without`);
    tf.dispose([x, code, output]);
  } finally {
    plain.dispose();
    sparse.dispose();
  }
});

test('a conv model round-trips through its folder, architecture in its metadata', async () => {
  const model = make();
  const dir = join(tempDir('aemon-conv-'), 'model');
  let loaded: Autoencoder | undefined;
  try {
    await model.fit(train, 120, { ...fitOptions, epochs: 3 });
    const bundle = await bundleFor(model);
    await saveModelFolder(dir, bundle);
    const saved = JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8')) as { params: ModelHyperParams };
    assert.equal(saved.params.architecture, 'conv');
    const back = await loadModelFolder(dir, sel.tf, sel.backend);
    loaded = back.model;
    assert.equal(loaded.params.architecture, 'conv');
    assert.equal(back.metadata.version, bundle.metadata.version);
    assert.deepEqual((await loaded.score(train, 120)).errors, (await model.score(train, 120)).errors);
  } finally {
    model.dispose();
    loaded?.dispose();
  }
});

test('metadata saying the other architecture than the topology is refused, and no architecture means lstm', async () => {
  const conv = make();
  const lstm = createAutoencoder(sel.tf, sel.backend, SMALL);
  try {
    // An LSTM model's files as written before the field existed: no architecture at all.
    const old = await modelFiles(await bundleFor(lstm));
    assert.equal(paramsOf(old).architecture, undefined);
    const loaded = await loadModelFiles(old, 'old', sel.tf, sel.backend);
    try {
      assert.equal(loaded.model.params.architecture, undefined);
      const layers = (loaded.model as LstmAutoencoder).layersModel.layers.map((l) => l.getClassName());
      assert.ok(layers.includes('LSTM'), layers.join());
    } finally {
      loaded.model.dispose();
    }
    // The conv model's files with the architecture taken out: the topology is not an LSTM autoencoder.
    const files = withParams(await modelFiles(await bundleFor(conv)), (p) => {
      delete p.architecture;
    });
    await assert.rejects(loadModelFiles(files, 'edited', sel.tf, sel.backend), (err: unknown) => {
      assert.ok(err instanceof AemonError);
      assert.equal(err.code, 'AEMON_MODEL_INVALID');
      assert.match(err.message, /aemon_conv_autoencoder.*architecture lstm/);
      return true;
    });
  } finally {
    conv.dispose();
    lstm.dispose();
  }
});

const paramsOf = (files: Map<string, Uint8Array>): Partial<ModelHyperParams> =>
  (JSON.parse(Buffer.from(files.get('metadata.json')!).toString('utf8')) as { params: Partial<ModelHyperParams> })
    .params;

/** The files with metadata params edited and checksums.json made to match, as another writer would have. */
function withParams(
  files: Map<string, Uint8Array>,
  edit: (params: Partial<ModelHyperParams>) => void,
): Map<string, Uint8Array> {
  const metadata = JSON.parse(Buffer.from(files.get('metadata.json')!).toString('utf8')) as {
    params: Partial<ModelHyperParams>;
  };
  edit(metadata.params);
  const out = new Map(files);
  out.set('metadata.json', Buffer.from(JSON.stringify(metadata)));
  out.delete('checksums.json');
  const sums = Object.fromEntries(
    [...out].map(([name, bytes]) => [name, createHash('sha256').update(bytes).digest('hex')]),
  );
  out.set('checksums.json', Buffer.from(JSON.stringify({ algorithm: 'sha256', files: sums })));
  return out;
}

test('the selector runs the conv model on layers under auto and refuses the LSTM kernels', () => {
  const auto = make();
  try {
    assert.equal(auto.kernel, 'layers');
  } finally {
    auto.dispose();
  }
  for (const kernel of ['simd', 'fused'] as const) {
    assert.throws(
      () => make({}, kernel),
      (err: unknown) => err instanceof AemonError && err.code === 'AEMON_BACKEND' && /conv/.test(err.message),
    );
  }
});

test('model.architecture is a config option, lstm by default; the LSTM-only options are refused with conv', () => {
  assert.equal(parseConfig({}).model.architecture, 'lstm');
  assert.equal(parseConfig({ model: { architecture: 'conv', l1: 0.01, noise: 0.1 } }).model.architecture, 'conv');
  assert.throws(() => parseConfig({ model: { architecture: 'gru' } }));
  const refused: [Record<string, unknown>, string][] = [
    [{ cell: 'gru' }, 'model.cell'],
    [{ depth: 2 }, 'model.depth'],
    [{ variational: 0.1 }, 'model.variational'],
    [{ dropout: 0.2 }, 'model.dropout'],
    [{ kernel: 'simd' }, 'model.kernel'],
    [{ kernel: 'fused' }, 'model.kernel'],
  ];
  for (const [model, key] of refused) {
    assert.throws(
      () => parseConfig({ model: { architecture: 'conv', ...model } }),
      (err: unknown) => err instanceof AemonError && err.message.includes(key) && err.message.includes('architecture'),
      JSON.stringify(model),
    );
    // The same options stay valid on the LSTM.
    parseConfig({ model });
  }
  // The model code refuses them too, for params that did not come through the config.
  assert.throws(() => make({ cell: 'gru' }), /cell "gru"/);
  assert.throws(() => make({ dropout: 0.1 }), /dropout/);
});
