import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAutoencoder } from '../../src/model/autoencoder.js';
import type { BackendSelection } from '../../src/model/backend.js';
import { exportArtifacts, loadModelFolder, modelVersion, saveModelFolder } from '../../src/model/io.js';
import { AemonError } from '../../src/errors.js';
import type { ModelBundle, ModelMetadata } from '../../src/pipeline/model.js';
import { selectTestBackend, sineWindows, SMALL, TEST_KERNEL } from './fixtures.js';

const { windowSize: W, channels: C } = SMALL;
const data = sineWindows(60, W, C, 3);
const root = mkdtempSync(join(tmpdir(), 'aemon-model-io-'));
let sel: BackendSelection;
let bundle: ModelBundle;
let saved: string;
let version: string;

after(() => {
  bundle?.model.dispose();
  rmSync(root, { recursive: true, force: true });
});

async function makeBundle(seed: number): Promise<ModelBundle> {
  const model = createAutoencoder(sel.tf, sel.backend, { ...SMALL, seed }, TEST_KERNEL);
  const fit = await model.fit(data, 60, { epochs: 2, batchSize: 16, validationSplit: 0.2, patience: 2 });
  const { weights, topology } = await exportArtifacts(model);
  const calibration = { mean: [0, 0.5, -1], std: [1, 2, 0.5], threshold: 0.25 };
  const metadata: ModelMetadata = {
    version: modelVersion(weights, topology),
    createdAt: '2026-01-02T03:04:05.000Z',
    group: 'a,b,c',
    channels: ['a', 'b', 'c'],
    params: model.params,
    dataFrom: '2026-01-01T00:00:00.000Z',
    dataTo: '2026-01-02T00:00:00.000Z',
    trainingWindows: 60,
    fit,
    sensors: { 'pump-7': calibration },
    fallback: { ...calibration, threshold: 0.3 },
  };
  return { model, metadata };
}

/** A copy of the saved folder, to damage. */
function copyOfSaved(name: string): string {
  const dir = join(root, name);
  cpSync(saved, dir, { recursive: true });
  return dir;
}

/** Rewrites a file and its checksum, as a buggy writer (not a corrupted disk) would. */
function rewriteWithChecksum(dir: string, file: string, text: string): void {
  writeFileSync(join(dir, file), text);
  const checksums = JSON.parse(readFileSync(join(dir, 'checksums.json'), 'utf8'));
  checksums.files[file] = createHash('sha256').update(text).digest('hex');
  writeFileSync(join(dir, 'checksums.json'), JSON.stringify(checksums));
}

before(async () => {
  sel = await selectTestBackend();
  bundle = await makeBundle(5);
  version = bundle.metadata.version;
  saved = join(root, 'saved');
  await saveModelFolder(saved, bundle);
});

const isCode = (code: string, pattern: RegExp) => (err: unknown) =>
  err instanceof AemonError && err.code === code && err.stage === 'model' && pattern.test(err.message);

test('a model folder holds model.json, weights.bin, pretty metadata.json and sha256 checksums', () => {
  assert.deepEqual(readdirSync(saved).sort(), ['checksums.json', 'metadata.json', 'model.json', 'weights.bin']);
  const modelJson = JSON.parse(readFileSync(join(saved, 'model.json'), 'utf8'));
  assert.equal(modelJson.format, 'layers-model');
  assert.deepEqual(modelJson.weightsManifest[0].paths, ['weights.bin']);
  assert.equal(modelJson.modelTopology.class_name, 'Model');
  const bytes = modelJson.weightsManifest[0].weights.reduce(
    (sum: number, w: { shape: number[] }) => sum + 4 * w.shape.reduce((a, b) => a * b, 1),
    0,
  );
  assert.equal(readFileSync(join(saved, 'weights.bin')).length, bytes);
  const metadataText = readFileSync(join(saved, 'metadata.json'), 'utf8');
  assert.match(metadataText, /^\{\n {2}"version": "m-[0-9a-f]{10}",\n/);
  assert.deepEqual(JSON.parse(metadataText), bundle.metadata);
  const checksums = JSON.parse(readFileSync(join(saved, 'checksums.json'), 'utf8'));
  assert.equal(checksums.algorithm, 'sha256');
  for (const file of ['model.json', 'weights.bin', 'metadata.json']) {
    assert.equal(
      checksums.files[file],
      createHash('sha256')
        .update(readFileSync(join(saved, file)))
        .digest('hex'),
    );
  }
  assert.deepEqual(
    readdirSync(root).filter((f) => f.includes('.tmp-') || f.includes('.old-')),
    [],
  );
});

test('load gives back the same metadata, the same version and bit-identical scores', async () => {
  const loaded = await loadModelFolder(saved, sel.tf, sel.backend, TEST_KERNEL);
  try {
    assert.deepEqual(loaded.metadata, bundle.metadata);
    assert.deepEqual(loaded.model.params, bundle.model.params);
    assert.equal(loaded.model.backend, sel.backend);
    assert.deepEqual(await loaded.model.score(data, 60), await bundle.model.score(data, 60));
    const { weights, topology } = await exportArtifacts(loaded.model);
    assert.equal(modelVersion(weights, topology), version);
  } finally {
    loaded.model.dispose();
  }
});

test('modelVersion is m- and 10 hex digits of the content, and changes with any weight', async () => {
  const { weights, topology } = await exportArtifacts(bundle.model);
  assert.match(version, /^m-[0-9a-f]{10}$/);
  assert.equal(modelVersion(weights.slice(0), JSON.parse(JSON.stringify(topology))), version);
  const changed = new Uint8Array(weights.slice(0));
  changed[100]! ^= 1;
  assert.notEqual(modelVersion(changed.buffer, topology), version);
  const other = await makeBundle(6);
  assert.notEqual(other.metadata.version, version);
  other.model.dispose();
});

test('a flipped byte, a truncated file or a missing file fails the checksum, naming the file', async () => {
  const load = (dir: string) => loadModelFolder(dir, sel.tf, sel.backend, TEST_KERNEL);

  const flipped = copyOfSaved('flipped');
  const weights = readFileSync(join(flipped, 'weights.bin'));
  weights[weights.length >> 1]! ^= 0x01;
  writeFileSync(join(flipped, 'weights.bin'), weights);
  await assert.rejects(load(flipped), isCode('AEMON_MODEL_CHECKSUM', /weights\.bin .*does not match its checksum/));

  const truncated = copyOfSaved('truncated');
  const modelJson = readFileSync(join(truncated, 'model.json'));
  writeFileSync(join(truncated, 'model.json'), modelJson.subarray(0, modelJson.length - 10));
  await assert.rejects(load(truncated), isCode('AEMON_MODEL_CHECKSUM', /model\.json .*does not match its checksum/));

  const missing = copyOfSaved('missing');
  unlinkSync(join(missing, 'metadata.json'));
  await assert.rejects(load(missing), isCode('AEMON_MODEL_CHECKSUM', /metadata\.json is missing/));

  const noSums = copyOfSaved('no-checksums');
  unlinkSync(join(noSums, 'checksums.json'));
  await assert.rejects(load(noSums), isCode('AEMON_MODEL_CHECKSUM', /checksums\.json is missing/));

  const badSums = copyOfSaved('bad-checksums');
  writeFileSync(join(badSums, 'checksums.json'), JSON.stringify({ algorithm: 'md5', files: {} }));
  await assert.rejects(load(badSums), isCode('AEMON_MODEL_CHECKSUM', /checksums\.json must give a sha256/));
});

test('metadata that does not fit the topology is AEMON_MODEL_INVALID', async () => {
  const load = (dir: string) => loadModelFolder(dir, sel.tf, sel.backend, TEST_KERNEL);
  const edit = (name: string, change: (m: ModelMetadata) => void) => {
    const dir = copyOfSaved(name);
    const metadata = structuredClone(bundle.metadata);
    change(metadata);
    rewriteWithChecksum(dir, 'metadata.json', JSON.stringify(metadata, null, 2));
    return dir;
  };
  const window = edit('wrong-window', (m) => (m.params.windowSize = 32));
  await assert.rejects(load(window), isCode('AEMON_MODEL_INVALID', /windowSize 32/));
  const channels = edit('wrong-channels', (m) => {
    m.params.channels = 2;
    m.channels = ['a', 'b'];
    m.fallback = { mean: [0, 0], std: [1, 1], threshold: 1 };
    m.sensors = {};
  });
  await assert.rejects(load(channels), isCode('AEMON_MODEL_INVALID', /channels 2/));
  const units = edit('wrong-units', (m) => (m.params.units = 9));
  await assert.rejects(load(units), isCode('AEMON_MODEL_INVALID', /units 9/));
  const names = edit('wrong-names', (m) => (m.channels = ['a']));
  await assert.rejects(load(names), isCode('AEMON_MODEL_INVALID', /channels must list 3/));
  const levels = edit('bad-levels', (m) => (m.fallback.channelErrors = { combine: 'max', levels: [1, 0] }));
  await assert.rejects(
    load(levels),
    isCode(
      'AEMON_MODEL_INVALID',
      /fallback\.channelErrors must have combine "normalised" or "max" and levels of 3 positive numbers/,
    ),
  );
  const weighted = edit('weighted', (m) => (m.fallback.channelErrors = { combine: 'normalised', levels: [1, 0.5, 2] }));
  const loaded = await load(weighted);
  try {
    assert.deepEqual(loaded.metadata.fallback.channelErrors, { combine: 'normalised', levels: [1, 0.5, 2] });
  } finally {
    loaded.model.dispose();
  }
  const notJson = copyOfSaved('not-json');
  rewriteWithChecksum(notJson, 'metadata.json', '{"version": ');
  await assert.rejects(load(notJson), isCode('AEMON_MODEL_INVALID', /metadata\.json is not valid JSON/));
});

test('a folder that cannot be read is AEMON_MODEL_IO', async () => {
  await assert.rejects(
    loadModelFolder(join(root, 'nowhere'), sel.tf, sel.backend),
    isCode('AEMON_MODEL_IO', /nowhere/),
  );
  const file = join(root, 'a-file');
  writeFileSync(file, 'not a folder');
  await assert.rejects(loadModelFolder(file, sel.tf, sel.backend), isCode('AEMON_MODEL_IO', /is not a folder/));
});

test('saving over an existing folder replaces it whole and leaves nothing beside it', async () => {
  const dir = join(root, 'replaced');
  await saveModelFolder(dir, bundle);
  writeFileSync(join(dir, 'stray.txt'), 'from an older layout');
  const other = await makeBundle(8);
  try {
    await saveModelFolder(dir, other);
    assert.deepEqual(readdirSync(dir).sort(), ['checksums.json', 'metadata.json', 'model.json', 'weights.bin']);
    const loaded = await loadModelFolder(dir, sel.tf, sel.backend, TEST_KERNEL);
    assert.equal(loaded.metadata.version, other.metadata.version);
    assert.deepEqual(await loaded.model.score(data, 60), await other.model.score(data, 60));
    loaded.model.dispose();
  } finally {
    other.model.dispose();
  }
  assert.deepEqual(
    readdirSync(root).filter((f) => f.includes('.tmp-') || f.includes('.old-')),
    [],
  );
});

test('saving metadata that does not describe the model is refused before anything is written', async () => {
  const dir = join(root, 'refused');
  const metadata = { ...bundle.metadata, params: { ...bundle.metadata.params, windowSize: 8 } };
  await assert.rejects(
    saveModelFolder(dir, { model: bundle.model, metadata }),
    isCode('AEMON_MODEL_INVALID', /windowSize 8 ≠ 16/),
  );
  assert.equal(readdirSync(root).includes('refused'), false);
});

test('loading and disposing a model leaves no tensors behind', async () => {
  const before = sel.tf.memory().numTensors;
  const loaded = await loadModelFolder(saved, sel.tf, sel.backend, TEST_KERNEL);
  loaded.model.dispose();
  assert.equal(sel.tf.memory().numTensors, before);
});
