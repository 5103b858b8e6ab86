import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aemon, DATASETS } from './run.js';
import { tempDir } from '../tempdir.js';
import { isLatentSpace, latentPoint } from '../../src/pipeline/latent.js';

const SKAB_1 = join(DATASETS, 'skab/valve1/1.csv');

test('replay of a SKAB file writes one row per reading after the training rows, byte-identical twice', async () => {
  const dir = tempDir('aemon-replay-');
  const inputRows = readFileSync(SKAB_1, 'utf8').trim().split('\n').length - 1;
  const one = await aemon(['replay', SKAB_1, '--train-first', '400', '--out', join(dir, 'one.csv')]);
  assert.equal(one.code, 0, one.stderr);
  const two = await aemon(['replay', SKAB_1, '--train-first', '400', '--out', join(dir, 'two.csv')]);
  assert.equal(two.code, 0, two.stderr);

  const lines = readFileSync(join(dir, 'one.csv'), 'utf8').trim().split('\n');
  assert.match(lines[0]!, /^timestamp,sensor,score,threshold,anomaly,error_Accelerometer1RMS,/);
  assert.equal(lines.length - 1, inputRows - 400);
  assert.match(lines[1]!, /^2020-03-09T\d\d:\d\d:\d\d\.000Z,1,[\d.e-]+,[\d.e-]+,[01],/);
  assert.ok(readFileSync(join(dir, 'one.csv')).equals(readFileSync(join(dir, 'two.csv'))), 'the two runs differ');
  assert.match(
    one.stderr,
    new RegExp(`replayed ${inputRows} records .*400 training rows, ${inputRows - 400} rows written`),
  );
});

test('malformed lines are reported with their reason and counted; every good line is scored; exit 0', async () => {
  const dir = tempDir('aemon-replay-');
  const lines = ['timestamp,value'];
  const t0 = Date.UTC(2014, 1, 14);
  const iso = (i: number): string => new Date(t0 + i * 300_000).toISOString().replace('T', ' ').slice(0, 19);
  for (let i = 0; i < 200; i++) {
    lines.push(`${iso(i)},${(10 + Math.sin(i / 5) + ((i * 7919) % 13) / 50).toFixed(3)}`);
    if (i === 120) lines.push(`${iso(i)}.5,abc`, 'garbage', `not-a-date,1.0`, `${iso(i)},1.0`, `${iso(i + 1)},1.0,2.0`);
  }
  const file = join(dir, 'machine.csv');
  writeFileSync(file, lines.join('\n') + '\n');
  const out = join(dir, 'scores.csv');
  const run = await aemon(['replay', file, '--train-first', '100', '--out', out, '--dlq', join(dir, 'dlq.ndjson')], {
    env: { AEMON_WINDOWING_SIZE: '16', AEMON_MODEL_EPOCHS: '3' },
  });
  assert.equal(run.code, 0, run.stderr);
  // Lines 123-127 of the file are the bad ones (line 1 is the header, row i is line i + 2).
  assert.match(run.stderr, /machine\.csv:123: non_finite: values\.value is "abc", not a finite number/);
  assert.match(run.stderr, /machine\.csv:124: bad_record: expected 2 columns, got 1/);
  assert.match(run.stderr, /machine\.csv:125: bad_timestamp: /);
  assert.match(run.stderr, /machine\.csv:126: duplicate: /);
  assert.match(run.stderr, /machine\.csv:127: bad_record: expected 2 columns, got 3/);
  assert.match(
    run.stderr,
    /replayed 205 records .* 100 training rows, 100 rows written \(100 scored\).* 5 rejected \(/,
  );
  assert.equal(readFileSync(out, 'utf8').trim().split('\n').length - 1, 100);
  const dlq = readFileSync(join(dir, 'dlq.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { reason: string });
  assert.deepEqual(dlq.map((d) => d.reason).sort(), [
    'bad_record',
    'bad_record',
    'bad_timestamp',
    'duplicate',
    'non_finite',
  ]);
});

test('a missing input is one clear line and a non-zero exit; a bad flag is a usage error', async () => {
  const missing = await aemon(['replay', '/nonexistent/file.csv']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^aemon: AEMON_INPUT_READ: no such file or folder: \/nonexistent\/file\.csv\n$/);
  const bad = await aemon(['replay', SKAB_1, '--train-first', 'many']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--train-first must be a positive integer/);
});

test('--help lists the commands and explains replay', async () => {
  const help = await aemon(['--help']);
  assert.equal(help.code, 0);
  for (const cmd of ['demo', 'replay', 'simulate', 'train']) assert.match(help.stdout, new RegExp(`\\n  ${cmd} `));
  const replayHelp = await aemon(['replay', '--help']);
  assert.match(replayHelp.stdout, /--train-first <n>/);
  assert.match(replayHelp.stdout, /One row per reading after the training rows/);
});

test('replay --latent with a saved model: each window placed by the latent space in its metadata, scores unchanged', async () => {
  const dir = tempDir('aemon-latent-');
  const small = { AEMON_MODEL_EPOCHS: '3', AEMON_WINDOWING_SIZE: '16', AEMON_MODEL_UNITS: '6' };
  const trained = await aemon(['train', SKAB_1, '--out', join(dir, 'models')], { env: small });
  assert.equal(trained.code, 0, trained.stderr);
  const m = /^saved model (m-[0-9a-f]+) \(channels .*\) to (.*); current in /m.exec(trained.stdout);
  assert.ok(m, trained.stdout);
  const metadata = JSON.parse(readFileSync(join(m[2]!, 'metadata.json'), 'utf8')) as { latent: unknown };
  assert.ok(isLatentSpace(metadata.latent), 'the saved model has its latent space');
  const space = metadata.latent;
  assert.equal(space.size, 6, 'the LSTM code is the last encoder state: units numbers');

  const replay = (out: string, ...flags: string[]) =>
    aemon(['replay', SKAB_1, '--model', join(dir, 'models'), '--out', join(dir, out), ...flags], { env: small });
  for (const run of await Promise.all([
    replay('plain.csv'),
    replay('l.csv', '--latent'),
    replay('l.ndjson', '--latent'),
  ]))
    assert.equal(run.code, 0, run.stderr);
  const plain = readFileSync(join(dir, 'plain.csv'), 'utf8').trim().split('\n');
  const csv = readFileSync(join(dir, 'l.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], `${plain[0]},latent_x,latent_y,latent_distance`);
  assert.equal(csv.length, plain.length);
  const rows = readFileSync(join(dir, 'l.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { latent?: { x: number; y: number; distance: number; code: number[] } });
  assert.equal(rows.length, plain.length - 1);
  let placed = 0;
  let far = 0;
  rows.forEach((row, i) => {
    const cells = csv[i + 1]!.split(',');
    assert.equal(cells.slice(0, -3).join(','), plain[i + 1], 'the latent columns change nothing else');
    if (row.latent === undefined) return assert.deepEqual(cells.slice(-3), ['', '', '']);
    placed++;
    const { x, y, distance, code } = row.latent;
    assert.equal(code.length, 6);
    // The NDJSON code, through the saved space, gives the row's projection and distance.
    const p = latentPoint(space, Float32Array.from(code), 0);
    assert.ok(Math.abs(p.x - x) < 1e-3 && Math.abs(p.y - y) < 1e-3, `(${p.x}, ${p.y}) ≠ (${x}, ${y})`);
    assert.ok(Math.abs(p.distance - distance) < 1e-3 * Math.max(1, distance));
    assert.deepEqual(cells.slice(-3).map(Number), [x, y, distance]);
    if (distance > 1) far++;
  });
  assert.ok(placed > rows.length / 2, `${placed} of ${rows.length} rows placed`);
  assert.ok(far > 0 && far < placed, `${far} of ${placed} windows beyond the held-out quantile`);
});
