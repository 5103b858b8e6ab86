import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { kerasPeerPath, peerRows, REPO_PEER, ROOT } from '../bench/keras.js';
import { benchModel } from '../bench/model.js';
import { kerasRatio, kerasRowOf, mergeRounds, networkMismatch, type ModelRow } from '../bench/rows.js';
import { benchDecode } from '../bench/decode.js';
import { expectedConvLayers } from '../src/model/conv.js';
import { selectTestBackend } from './model/fixtures.js';

const row = (engine: string, channels: number, windowsPerSecond: number): ModelRow => ({
  name: 'score-m0',
  engine,
  channels,
  windowsPerSecond,
});

test('mergeRounds keeps one row per row, engine and channels: the median of the rounds, each round in order', () => {
  const merged = mergeRounds([
    [row('tensorflow-fused', 1, 30_000), row('keras', 1, 20_000), row('tensorflow-layers', 1, 5_000)],
    [row('tensorflow-fused', 1, 36_000), row('keras', 1, 30_000)],
    [row('tensorflow-fused', 1, 33_000), row('keras', 1, 24_000)],
    [row('tensorflow-fused', 1, 31_000), row('keras', 1, 25_000)],
  ]);
  assert.equal(merged.length, 3);
  const fused = merged.find((r) => r.engine === 'tensorflow-fused')!;
  // Sorted 30, 31, 33, 36 thousand: the median is (31 + 33) / 2.
  assert.equal(fused.windowsPerSecond, 32_000);
  assert.deepEqual(fused.samples, [30_000, 36_000, 33_000, 31_000]);
  // Measured once: as it was, no samples.
  assert.deepEqual(
    merged.find((r) => r.engine === 'tensorflow-layers'),
    row('tensorflow-layers', 1, 5_000),
  );
});

test('kerasRatio: the median of round-by-round ratios when both sides have the rounds, else the ratio of the rows', () => {
  const [fused, keras] = mergeRounds([
    [row('fused', 8, 30_000), row('keras', 8, 20_000)],
    [row('fused', 8, 36_000), row('keras', 8, 30_000)],
    [row('fused', 8, 33_000), row('keras', 8, 22_000)],
  ]);
  // Ratios 1.5, 1.2, 1.5 → median 1.5.
  assert.equal(kerasRatio(fused!, keras), 1.5);
  const [f2, k2] = mergeRounds([
    [row('fused', 8, 30_000), row('keras', 8, 20_000)],
    [row('fused', 8, 24_000), row('keras', 8, 30_000)],
    [row('fused', 8, 33_000), row('keras', 8, 30_000)],
  ]);
  // Ratios 1.5, 0.8, 1.1 → 1.1, while the medians give 30 / 30 = 1.
  assert.ok(Math.abs(kerasRatio(f2!, k2)! - 1.1) < 1e-12);
  assert.equal(kerasRatio(row('fused', 1, 30_000), row('keras', 1, 24_000)), 1.25);
  assert.equal(kerasRatio(row('fused', 1, 30_000), undefined), undefined);
});

test('benchDecode: a row per reading.format, every generated record decoded to a reading (none rejected)', async () => {
  const rows = await benchDecode(20, 5, 1);
  assert.deepEqual(
    rows.map((r) => r.format),
    ['json', 'telegraf-json', 'influx', 'narrow', 'avro', 'protobuf', 'json-schema'],
  );
  for (const r of rows) {
    assert.equal(r.readings, 100, r.format);
    assert.ok(r.messagesPerSecond > 0 && r.readingsPerSecond > 0, JSON.stringify(r));
  }
  const narrow = rows.find((r) => r.format === 'narrow')!;
  // Four one-channel messages per reading.
  assert.ok(Math.abs(narrow.messagesPerSecond / narrow.readingsPerSecond - 4) < 0.01, JSON.stringify(narrow));
});

test('kerasPeerPath: --keras-peer, then BENCH_KERAS_PEER, then ../shared/bench/keras_m0.py, relative ones from the repository root', () => {
  assert.equal(ROOT, resolve(fileURLToPath(new URL('..', import.meta.url))));
  assert.equal(kerasPeerPath(undefined, {}), resolve(ROOT, '..', 'shared/bench/keras_m0.py'));
  assert.equal(kerasPeerPath(undefined, { BENCH_KERAS_PEER: 'peer/k.py' }), join(ROOT, 'peer/k.py'));
  assert.equal(kerasPeerPath('/opt/k.py', { BENCH_KERAS_PEER: 'peer/k.py' }), '/opt/k.py');
});

test('aemon has no bench command and its --help points to npm run bench', async () => {
  const run = (args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], { cwd: ROOT });
  const { stdout } = await run(['--help']);
  assert.doesNotMatch(stdout, /^ {2}bench\b/m);
  assert.match(stdout, /npm run bench/);
  await assert.rejects(
    run(['bench']),
    (err: { code?: number; stderr?: string }) => err.code === 2 && /unknown command 'bench'/.test(err.stderr ?? ''),
  );
});

test('the console and the performance page show the same tables from the same rows: each decode format in both, counts grouped only in the docs', async () => {
  const { printTables } = await import('../bench/report.js');
  const { renderBench } = await import('../scripts/docs-performance.js');
  const { dataFiles } = await import('../scripts/docs/blocks.js');
  const rows = [...(await benchDecode(20, 5, 1)), row('wasm-simd', 1, 12_345)];
  let printed = '';
  printTables(rows, { write: (s: string) => (printed += s) });
  const docs = renderBench(dataFiles('bench-')[0]!, rows);
  for (const text of [printed, docs]) {
    assert.match(text, /Decode alone/);
    assert.match(text, /Model M0/);
    assert.match(text, /No Kafka row in this run/);
    for (const r of rows.filter((r) => r.name === 'decode')) assert.match(text, new RegExp(`\\| ${r.format} +\\|`));
  }
  assert.match(printed, /\| 12345 +\|/);
  assert.match(docs, /\| 12,345 \|/);
  // No pipeline row was measured: neither prints an empty pipeline table.
  assert.doesNotMatch(printed + docs, /readings\/CPU-s/);
});

// bench/keras_peer.py's Conv1D layers at window 64, units 32, one channel (what it printed).
const CONV_LAYERS = [
  'encoder_1:64:7:1',
  'encoder_2:32:7:1',
  'decoder_2:32:7:1',
  'decoder_1:64:7:1',
  'reconstruction:1:7:1',
];

const convRow = (
  name: 'score-conv' | 'train-conv',
  engine: string,
  windowsPerSecond: number,
  network: Pick<ModelRow, 'parameters' | 'convLayers'> = { parameters: 36_929, convLayers: CONV_LAYERS },
): ModelRow => ({ name, engine, channels: 1, windowsPerSecond, ...network });

test('mergeRounds keeps the conv rows apart from the M0 rows of the same engine and channels, with their network', () => {
  const merged = mergeRounds([
    [row('wasm-layers', 1, 2_000), convRow('score-conv', 'wasm-layers', 9_000)],
    [row('wasm-layers', 1, 2_200), convRow('score-conv', 'wasm-layers', 11_000)],
    [row('wasm-layers', 1, 2_100), convRow('score-conv', 'wasm-layers', 10_000)],
  ]);
  assert.deepEqual(
    merged.map((r) => [r.name, r.windowsPerSecond, r.samples]),
    [
      ['score-m0', 2_100, [2_000, 2_200, 2_100]],
      ['score-conv', 10_000, [9_000, 11_000, 10_000]],
    ],
  );
  assert.equal(merged[1]!.parameters, 36_929);
  assert.deepEqual(merged[1]!.convLayers, CONV_LAYERS);
  // A conv row is compared with the Keras conv row, never with Keras' M0 row of the same channels.
  const keras = [row('keras', 1, 20_000), convRow('score-conv', 'keras', 30_000)];
  assert.equal(kerasRowOf(keras, merged[1]!)?.windowsPerSecond, 30_000);
  assert.equal(kerasRowOf(keras, convRow('train-conv', 'wasm-layers', 1)), undefined);
});

test('networkMismatch: a different parameter count or different Conv1D layers (a stride) is named; agreement or silence is not', () => {
  const aemon = convRow('score-conv', 'wasm-layers', 10_000);
  assert.equal(networkMismatch(aemon, convRow('score-conv', 'keras', 30_000)), undefined);
  assert.equal(networkMismatch(aemon, undefined), undefined);
  // The M0 peer prints no parameter count: nothing to compare.
  assert.equal(networkMismatch(aemon, convRow('score-conv', 'keras', 30_000, {})), undefined);
  const moreParams = networkMismatch(aemon, convRow('score-conv', 'keras', 30_000, { parameters: 36_930 }));
  assert.match(moreParams ?? '', /score-conv wasm-layers, 1 channel\(s\): 36929 parameters, Keras 36930/);
  // Conv1D(strides=2) instead of stride 1 and every second step: the same parameters, another network.
  const strided = CONV_LAYERS.map((l) => (l.startsWith('encoder_') ? l.replace(/:1$/, ':2') : l));
  const stride = networkMismatch(
    aemon,
    convRow('score-conv', 'keras', 30_000, { parameters: 36_929, convLayers: strided }),
  );
  assert.match(stride ?? '', /Conv1D layers \[encoder_1:64:7:1, .*\], Keras \[encoder_1:64:7:2, /);
  assert.doesNotMatch(stride ?? '', /parameters/);
});

test('peerRows reads the last line of either peer: the repository peer with its network, keras_m0.py without one', () => {
  const repo = JSON.stringify({
    engine: 'keras 3.15.1 / tensorflow 2.21.0',
    architecture: 'conv',
    parameters: 36_929,
    conv_layers: CONV_LAYERS,
    infer_windows_per_s: 36_732,
    train_windows_per_s: 8_587,
  });
  const conv = peerRows('conv', 1, `a TensorFlow log line\n${repo}\n`);
  assert.deepEqual(
    conv.map((r) => [r.name, r.engine, r.channels, r.windowsPerSecond, r.parameters]),
    [
      ['score-conv', 'keras', 1, 36_732, 36_929],
      ['train-conv', 'keras', 1, 8_587, 36_929],
    ],
  );
  assert.deepEqual(conv[0]!.convLayers, CONV_LAYERS);
  const m0 = peerRows('m0', 8, '{"engine": "keras 2.21.0", "infer_windows_per_s": 24354, "train_windows_per_s": 1951}');
  assert.deepEqual(m0[1], {
    name: 'train-m0',
    engine: 'keras',
    channels: 8,
    windowsPerSecond: 1_951,
    note: 'keras 2.21.0',
  });
  assert.throws(() => peerRows('conv', 1, 'Traceback (most recent call last):'));
  assert.throws(() => peerRows('conv', 1, '{"engine": "keras"}'), /not a peer's output/);
  assert.equal(REPO_PEER, join(ROOT, 'bench/keras_peer.py'));
});

test("the bench's conv rows measure aemon's conv model: the parameters Keras counts for the peer's network, the expected Conv1D layers", async () => {
  const { tf, backend } = await selectTestBackend();
  const tiny = {
    tf,
    backend,
    architecture: 'conv',
    batch: 2,
    repeats: 1,
    trainWindows: 4,
    trainBatch: 4,
    trainEpochs: 1,
  } as const;
  const r1 = await benchModel({ ...tiny, channels: 1 });
  const r8 = await benchModel({ ...tiny, channels: 8 });
  // Keras' count_params for bench/keras_peer.py --architecture conv (window 64, units 32): kernel 7,
  // 7·1·64+64 + 7·64·32+32 + 7·32·32+32 + 7·32·64+64 + 7·64·F+F.
  assert.equal(r1.parameters, 36_929);
  assert.equal(r8.parameters, 43_208);
  assert.deepEqual(r1.convLayers, CONV_LAYERS);
  assert.deepEqual(r8.convLayers, expectedConvLayers({ windowSize: 64, units: 32, channels: 8 }));
  assert.equal(r1.kernel, 'layers');
  assert.ok(
    r1.scoreWindowsPerSecond > 0 && r1.encodeWindowsPerSecond > 0 && r1.trainWindowsPerSecond > 0,
    JSON.stringify(r1),
  );
  // M0 carries its parameter count too, and no Conv1D layers.
  const m0 = await benchModel({ ...tiny, architecture: 'lstm', channels: 1, trainEpochs: 0 });
  assert.equal(m0.parameters, 4 * (32 * 33 + 32) + 4 * (32 * 64 + 32) + 33);
  assert.equal(m0.convLayers, undefined);
});

test('the model table: conv rows after the M0 rows with their own × Keras, described in a note, and a differing network marked', async () => {
  const { printTables } = await import('../bench/report.js');
  const print = (rows: ModelRow[]): string => {
    let out = '';
    printTables(rows, { write: (s: string) => (out += s) });
    return out;
  };
  const rows = [
    convRow('score-conv', 'wasm-layers', 9_000),
    row('wasm-simd', 1, 12_000),
    convRow('score-conv', 'keras', 36_000),
    row('keras', 1, 24_000),
  ];
  const printed = print(rows);
  assert.match(printed, /^Model M0 and the conv autoencoder: window 64, LSTM 32/m);
  assert.match(
    printed,
    /^\(score-conv, train-conv: the conv autoencoder at window 64 and units 32, Conv1D 64 → 32 \(kernel 7, stride 2\) → 16 × 32 code → 2 × \(upsampling, Conv1D\)/m,
  );
  const lines = printed.split('\n').filter((l) => /^\| (score|train)-/.test(l));
  assert.deepEqual(
    lines.map((l) =>
      l
        .split('|')
        .slice(1, 6)
        .map((c) => c.trim()),
    ),
    [
      ['score-m0', 'wasm-simd', '1', '12000', '0.50'],
      ['score-m0', 'keras', '1', '24000', '1.00'],
      ['score-conv', 'wasm-layers', '1', '9000', '0.25'],
      ['score-conv', 'keras', '1', '36000', '1.00'],
    ],
  );
  assert.doesNotMatch(printed, /≠/);
  // Without conv rows the table is as it was: the title the generated docs blocks have.
  assert.match(print([row('wasm-simd', 1, 12_000)]), /^Model M0: /m);
  assert.doesNotMatch(print([row('wasm-simd', 1, 12_000)]), /conv/);

  const other = print([
    convRow('score-conv', 'wasm-layers', 9_000),
    convRow('score-conv', 'keras', 36_000, { parameters: 40_000 }),
  ]);
  assert.match(other, /\| score-conv \| wasm-layers \| 1 +\| 9000 +\| 0\.25 ≠ +\|/);
  assert.match(
    other,
    /≠ NOT THE SAME NETWORK AS KERAS: score-conv wasm-layers, 1 channel\(s\): 36929 parameters, Keras 40000/,
  );
});

test('benchMemory counts what a fleet keeps, typed-array buffers included, and the memory table shows it per 1,000 sensors', async () => {
  const { benchMemory } = await import('../bench/memory.js');
  const { printTables } = await import('../bench/report.js');
  const r = await benchMemory(50, 40);
  // Each sensor's live-view ring alone: 600 points of time (8 bytes), score (4), two flags (1 + 1)
  // and values, reconstruction and tolerance for 4 channels (3 × 4 × 4), in typed arrays off the JS heap.
  const ring = 600 * (8 + 4 + 1 + 1 + 3 * 4 * 4);
  assert.ok(r.bytes >= 50 * ring, `${r.bytes} bytes for 50 sensors`);
  assert.ok(r.heapBytes > 0 && r.heapBytes < r.bytes);
  assert.equal(r.bytesPer1000Sensors, Math.round((r.bytes / 50) * 1000));
  let printed = '';
  printTables([r], { write: (s: string) => (printed += s) });
  assert.match(printed, /Memory per sensor/);
  assert.match(
    printed,
    new RegExp(
      `\\| 50 +\\| 40 +\\| ${(r.bytes / 2 ** 20).toFixed(1)} +\\| ${(r.bytesPer1000Sensors / 2 ** 20).toFixed(1)} +\\|`,
    ),
  );
});
