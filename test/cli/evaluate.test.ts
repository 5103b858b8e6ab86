import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aemon, DATASETS } from './run.js';
import { tempDir } from '../tempdir.js';

// Few epochs: this checks the wiring and the arithmetic, not the detector.
const FAST = { AEMON_MODEL_EPOCHS: '3' };

test('evaluate skab on two real files (copied to a temp folder): table, JSON and labels agree', async () => {
  const dir = tempDir('aemon-evaluate-');
  mkdirSync(join(dir, 'valve1'));
  mkdirSync(join(dir, 'anomaly-free'));
  copyFileSync(join(DATASETS, 'skab/valve1/1.csv'), join(dir, 'valve1/1.csv'));
  copyFileSync(join(DATASETS, 'skab/valve2/0.csv'), join(dir, 'valve1/20.csv'));
  const free = readFileSync(join(DATASETS, 'skab/anomaly-free/anomaly-free.csv'), 'utf8').split('\n').slice(0, 500);
  writeFileSync(join(dir, 'anomaly-free/anomaly-free.csv'), free.join('\n') + '\n');
  const json = join(dir, 'skab.json');

  const reportDir = join(dir, 'report');
  const run = await aemon(['evaluate', 'skab', '--data', dir, '--json', json, '--report', reportDir], { env: FAST });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /^\[1\/2\] valve1\/1\.csv: 745 test rows \(\d+ anomalous\): F1 /m);
  assert.match(run.stderr, /^\[2\/2\] valve1\/20\.csv: /m);
  assert.match(run.stdout, /skipped anomaly-free\/anomaly-free\.csv: no anomaly column/);

  const out = JSON.parse(readFileSync(json, 'utf8')) as Record<string, number> & {
    perFile: Array<Record<string, number>>;
  };
  for (const key of ['f1', 'far', 'mar', 'files', 'seconds']) assert.equal(typeof out[key], 'number', key);
  assert.equal(out.files, 2);
  assert.ok(out.f1! >= 0 && out.f1! <= 1 && out.far! >= 0 && out.far! <= 100 && out.mar! >= 0 && out.mar! <= 100);
  assert.ok(out.seconds! > 0);
  assert.match(String(out.backend), /^(wasm|tensorflow|cpu)$/);
  assert.match(run.stdout, new RegExp(`^${out.seconds!.toFixed(1)} s \\(backend ${String(out.backend)}\\)$`, 'm'));

  // The labels, counted here from the files: every row after the first 400, pooled.
  let test = 0;
  let anomalous = 0;
  for (const f of ['valve1/1.csv', 'valve1/20.csv']) {
    const rows = readFileSync(join(dir, f), 'utf8')
      .trim()
      .split('\n')
      .slice(1 + 400);
    test += rows.length;
    anomalous += rows.filter((r) => Number(r.split(';')[9]) === 1).length;
  }
  assert.equal(out.tp! + out.fp! + out.fn! + out.tn!, test);
  assert.equal(out.tp! + out.fn!, anomalous);
  assert.ok(Math.abs(out.f1! - (2 * out.tp!) / (2 * out.tp! + out.fp! + out.fn!)) < 1e-12, `f1 ${out.f1}`);
  assert.ok(Math.abs(out.far! - (100 * out.fp!) / (out.fp! + out.tn!)) < 1e-9, `far ${out.far}`);
  assert.ok(Math.abs(out.mar! - (100 * out.fn!) / (out.fn! + out.tp!)) < 1e-9, `mar ${out.mar}`);

  // The printed pooled row says the same.
  const pooled = run.stdout.split('\n').find((l) => l.startsWith('aemon, pooled (anomaly state)'));
  assert.ok(pooled, run.stdout);
  const cells = pooled.trim().split(/\s+/).slice(-9);
  assert.deepEqual(
    cells,
    [test, anomalous, out.tp, out.fp, out.fn, out.tn]
      .map(String)
      .concat([out.f1!.toFixed(3), out.far!.toFixed(1), out.mar!.toFixed(1)]),
  );
  assert.match(run.stdout, /^Conv-AE\s+0\.78\s+13\.6\s+28\.0$/m);

  // --report: an index with the per-file table linking to one page per file, each with the file's labelled windows.
  const index = readFileSync(join(reportDir, 'index.html'), 'utf8');
  assert.match(index, /<a href="valve1__1\.csv\.html">valve1\/1\.csv<\/a>/);
  assert.match(index, /<a href="valve1__20\.csv\.html">valve1\/20\.csv<\/a>/);
  assert.ok(index.includes(`F1 ${out.f1!.toFixed(3)}`), 'the index shows the pooled F1');
  assert.ok(index.includes(`<td>${out.perFile[0]!.f1!.toFixed(3)}</td>`), "the index shows the first file's F1");
  const page = readFileSync(join(reportDir, 'valve1__1.csv.html'), 'utf8');
  const data = JSON.parse(/<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(page)![1]!) as {
    sensors: Array<{ labelled: unknown[]; stats: { readings: number; labelledRows: number } }>;
  };
  assert.equal(data.sensors.length, 1);
  assert.equal(data.sensors[0]!.stats.readings, 1145);
  assert.ok(data.sensors[0]!.labelled.length >= 1, 'the labelled anomaly of valve1/1.csv is in its page');
});

test('evaluate nab on a small NAB-layout folder writes NAB’s results layout and the JSON keys', async () => {
  const dir = tempDir('aemon-evaluate-nab-');
  mkdirSync(join(dir, 'data', 'synthetic'), { recursive: true });
  const t0 = Date.UTC(2014, 3, 1);
  const stamp = (i: number): string => new Date(t0 + i * 300_000).toISOString().replace('T', ' ').slice(0, 19);
  const lines = ['timestamp,value'];
  for (let i = 0; i < 400; i++)
    lines.push(`${stamp(i)},${(10 + Math.sin(i / 6) + (i >= 300 && i < 310 ? 8 : 0)).toFixed(3)}`);
  writeFileSync(join(dir, 'data', 'synthetic', 'spike.csv'), lines.join('\n') + '\n');
  writeFileSync(
    join(dir, 'combined_windows.json'),
    JSON.stringify({ 'synthetic/spike.csv': [[`${stamp(290)}.000000`, `${stamp(320)}.000000`]] }),
  );
  const results = join(dir, 'results');
  const json = join(dir, 'nab.json');

  const reportDir = join(dir, 'report');
  const run = await aemon(['evaluate', 'nab', '--data', dir, '--out', results, '--json', json, '--report', reportDir], {
    env: { ...FAST, AEMON_WINDOWING_SIZE: '16' },
  });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /^\[1\/1\] synthetic\/spike\.csv: 400 records \(60 probationary\), 1 window\(s\)/m);
  const out = JSON.parse(readFileSync(json, 'utf8')) as Record<string, number>;
  for (const key of ['standard', 'rewardLowFP', 'rewardLowFN', 'files', 'seconds'])
    assert.equal(typeof out[key], 'number', key);
  for (const key of ['standard', 'rewardLowFP', 'rewardLowFN'])
    assert.ok(Number.isFinite(out[key]) && out[key]! <= 100, key);
  assert.equal(out.files, 1);
  assert.match(run.stdout, new RegExp(`^aemon \\(this run, 1 files\\)\\s+${out.standard!.toFixed(1)}$`, 'm'));

  const rows = readFileSync(join(results, 'aemon', 'synthetic', 'aemon_spike.csv'), 'utf8')
    .trim()
    .split('\n');
  assert.equal(rows[0], 'timestamp,value,anomaly_score,label');
  assert.equal(rows.length, 401);
  const parsed = rows.slice(1).map((r) => r.split(','));
  assert.ok(
    parsed.slice(0, 60).every((r) => r[2] === '0'),
    'the probationary period scores 0',
  );
  assert.ok(parsed.every((r) => Number(r[2]) >= 0 && Number(r[2]) < 1));
  assert.deepEqual(
    parsed
      .map((r, i) => [i, r[3]])
      .filter(([, l]) => l === '1')
      .map(([i]) => i),
    Array.from({ length: 31 }, (_, k) => 290 + k),
  );

  // --report: NAB's labelled window comes from combined_windows.json (the file has no labels), in epoch ms.
  assert.match(
    readFileSync(join(reportDir, 'index.html'), 'utf8'),
    /<a href="synthetic__spike\.csv\.html">synthetic\/spike\.csv<\/a>/,
  );
  const page = readFileSync(join(reportDir, 'synthetic__spike.csv.html'), 'utf8');
  const data = JSON.parse(/<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(page)![1]!) as {
    sensors: Array<{ labelled: number[][] }>;
  };
  assert.deepEqual(data.sensors[0]!.labelled, [[t0 + 290 * 300_000, t0 + 320 * 300_000]]);
});

test('evaluate: an unknown benchmark and --out for skab are usage errors', async () => {
  const bad = await aemon(['evaluate', 'ucr', '--data', '.']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^aemon: AEMON_USAGE: unknown benchmark "ucr" \(nab or skab\)/);
  const out = await aemon(['evaluate', 'skab', '--data', join(DATASETS, 'skab'), '--out', '/tmp/x']);
  assert.equal(out.code, 2);
  assert.match(out.stderr, /^aemon: AEMON_USAGE: --out writes NAB results files/);
});
