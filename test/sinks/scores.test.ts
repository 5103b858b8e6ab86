import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { scoreFileSink } from '../../src/sinks/scores.js';
import { AemonError } from '../../src/errors.js';
import type { PipelineOutput } from '../../src/pipeline/contracts.js';
import { T0, reading, rejection, sampleOutputs, warming } from './fixtures.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'aemon-scores-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const PT = ['pressure', 'temperature'] as const;
const pt = { pressure: 1, temperature: 2 };
const outputs = sampleOutputs;

const EXPECTED_CSV = [
  'timestamp,sensor,score,threshold,anomaly,error_pressure,error_temperature,error_rpm',
  '2026-11-27T10:00:00.000Z,a,,,0,,,',
  '2026-11-27T10:00:01.000Z,a,1.23457,0.0123,1,0.1,0.9,',
  '2026-11-27T10:00:02.000Z,a,1.23457,0.0123,1,0.1,0.9,',
  '2026-11-27T10:00:03.000Z,"b,1",0.5,2,0,,,1',
  '',
].join('\n');

const EXPECTED_NDJSON = [
  {
    ts: '2026-11-27T10:00:00.000Z',
    sensor: 'a',
    score: null,
    rawScore: null,
    threshold: null,
    anomaly: false,
    errors: null,
    windowId: null,
  },
  ...[1, 2].map((i) => ({
    ts: `2026-11-27T10:00:0${i}.000Z`,
    sensor: 'a',
    score: 1.23457,
    rawScore: 1.23457,
    threshold: 0.0123,
    anomaly: true,
    errors: { pressure: 0.1, temperature: 0.9 },
    windowId: `a@${T0 + 2000}`,
  })),
  {
    ts: '2026-11-27T10:00:03.000Z',
    sensor: 'b,1',
    score: 0.5,
    rawScore: 0.5,
    threshold: 2,
    anomaly: false,
    errors: { rpm: 1 },
    windowId: `b,1@${T0 + 3000}`,
  },
]
  .map((o) => JSON.stringify(o) + '\n')
  .join('');

async function writeAll(path: string, batches: PipelineOutput[][], channels?: string[]): Promise<string> {
  const sink = scoreFileSink(path, channels);
  for (const b of batches) await sink.write(b);
  await sink.close();
  return readFileSync(path, 'utf8');
}

test('CSV: the replay columns, one row per reading in order, empty cells while warming or for absent channels', async (t) => {
  const dir = tempDir(t);
  const csv = await writeAll(join(dir, 'scores.csv'), [outputs()], ['pressure', 'temperature', 'rpm']);
  assert.equal(csv, EXPECTED_CSV);
});

test('NDJSON (.ndjson and .jsonl): one object per reading', async (t) => {
  const dir = tempDir(t);
  assert.equal(await writeAll(join(dir, 'scores.ndjson'), [outputs()]), EXPECTED_NDJSON);
  assert.equal(await writeAll(join(dir, 'scores.JSONL'), [outputs().slice(0, 2), outputs().slice(2)]), EXPECTED_NDJSON);
});

test('the same input gives byte-identical files, however it is batched', async (t) => {
  const dir = tempDir(t);
  for (const ext of ['csv', 'ndjson']) {
    const channels = ['pressure', 'temperature', 'rpm'];
    await writeAll(join(dir, `one.${ext}`), [outputs()], channels);
    await writeAll(
      join(dir, `two.${ext}`),
      outputs().map((o) => [o]),
      channels,
    );
    assert.ok(readFileSync(join(dir, `one.${ext}`)).equals(readFileSync(join(dir, `two.${ext}`))), ext);
  }
});

test('CSV without a channel list takes the channels of the first rows; an empty run still has a header', async (t) => {
  const dir = tempDir(t);
  const csv = await writeAll(join(dir, 'late.csv'), [[rejection('x')], outputs()]);
  assert.equal(
    csv.split('\n')[0],
    'timestamp,sensor,score,threshold,anomaly,error_pressure,error_temperature,error_rpm',
  );
  assert.equal(csv.split('\n')[4], '2026-11-27T10:00:03.000Z,"b,1",0.5,2,0,,,1');
  assert.equal(await writeAll(join(dir, 'empty.csv'), [], ['x']), 'timestamp,sensor,score,threshold,anomaly,error_x\n');
  assert.equal(await writeAll(join(dir, 'none.csv'), [[rejection('x')]]), 'timestamp,sensor,score,threshold,anomaly\n');
});

test('many rows at once go through the stream (backpressure) and all arrive', async (t) => {
  const dir = tempDir(t);
  const rows = Array.from({ length: 5000 }, (_, i) => warming(reading('s', i, pt), PT));
  const csv = await writeAll(join(dir, 'big.csv'), [[{ kind: 'scored', window: null, rows }]], [...PT]);
  const lines = csv.trimEnd().split('\n');
  assert.equal(lines.length, 5001);
  assert.equal(lines[5000], `${new Date(T0 + 4999_000).toISOString()},s,,,0,,`);
});

test('an unknown extension is a usage error; a failed write is AEMON_SINK_WRITE', async (t) => {
  const dir = tempDir(t);
  assert.throws(
    () => scoreFileSink(join(dir, 'scores.txt')),
    (err: unknown) => err instanceof AemonError && err.code === 'AEMON_USAGE',
  );
  const sink = scoreFileSink(join(dir, 'missing', 'scores.csv'), ['pressure']);
  const isSinkWrite = (err: unknown) =>
    err instanceof AemonError && err.code === 'AEMON_SINK_WRITE' && /missing/.test(err.message);
  await assert.rejects(sink.write(outputs()), isSinkWrite);
  await assert.rejects(sink.close(), isSinkWrite);
});

test('training rows are left out, and their channels do not make the header', async (t) => {
  const dir = tempDir(t);
  const train = { ...warming(reading('t', 0, { flow: 1 }), ['flow']), training: true };
  const batches: PipelineOutput[][] = [[{ kind: 'scored', window: null, rows: [train] }], outputs()];
  assert.equal(await writeAll(join(dir, 'late.csv'), batches), EXPECTED_CSV);
  assert.equal(await writeAll(join(dir, 'late.ndjson'), batches), EXPECTED_NDJSON);
});

test('"-" writes CSV to stdout and leaves stdout open', async () => {
  const code = `
    import { scoreFileSink } from ${JSON.stringify(fileURLToPath(new URL('../../src/sinks/scores.ts', import.meta.url)))};
    import { sampleOutputs } from ${JSON.stringify(fileURLToPath(new URL('./fixtures.ts', import.meta.url)))};
    const sink = scoreFileSink('-', ['pressure', 'temperature', 'rpm']);
    await sink.write(sampleOutputs());
    await sink.close();
    process.stdout.write('after close\\n');`;
  const { stdout } = await promisify(execFile)(process.execPath, [
    '--import',
    'tsx',
    '--input-type=module',
    '-e',
    code,
  ]);
  assert.equal(stdout, EXPECTED_CSV + 'after close\n');
});
