import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { kerasPeerPath, ROOT } from '../bench/keras.js';
import { kerasRatio, mergeRounds, type ModelRow } from '../bench/rows.js';
import { benchDecode } from '../bench/decode.js';

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
