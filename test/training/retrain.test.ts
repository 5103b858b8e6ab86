import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { aemon } from '../cli/run.js';
import { tempDir } from '../tempdir.js';

// Retraining end to end, through the same replay path as live scoring: challengers train in a
// child process (`aemon train-job`), the gate decides, and the stream has no gap.
const ENV = {
  AEMON_WINDOWING_SIZE: '16',
  AEMON_MODEL_EPOCHS: '4',
  AEMON_TRAINING_INTERVAL_MS: String(10 * 60_000),
  AEMON_TRAINING_MIN_WINDOWS: '32',
  AEMON_LOG_LEVEL: 'info',
};

test('a replay with retraining every 10 minutes of event time: runs in a child process, the gate decides, every reading after the bootstrap is scored, the same output twice', async () => {
  const dir = tempDir('aemon-retrain-');
  const file = join(dir, 'sim.ndjson');
  const sim = await aemon(['simulate', '--sensors', '2', '--duration', '40m', '--seed', '3', '--out', file]);
  assert.equal(sim.code, 0, sim.stderr);
  const readings = readFileSync(file, 'utf8').trim().split('\n').length;
  const outs: string[] = [];
  for (const k of [1, 2]) {
    const out = join(dir, `scores-${k}.csv`);
    const r = await aemon(['replay', file, '--train-first', '300', '--out', out, '--verbose'], { env: ENV });
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    const runs = [...r.stderr.matchAll(/retraining of \[[^\]]+\] (promoted|rejected|failed) after/g)].map((m) => m[1]);
    assert.ok(runs.length >= 2, `retraining runs: ${runs.join(', ')}\n${r.stderr.slice(-2000)}`);
    assert.ok(!runs.includes('failed'), r.stderr.slice(-3000));
    assert.ok(runs.includes('promoted'), `no challenger promoted: ${runs.join(', ')}`);
    assert.match(r.stderr, /retraining channels \[[^\]]+\] on \d+ normal windows of 2 sensor\(s\), in a child process/);
    const rows = readFileSync(out, 'utf8').trim().split('\n').slice(1);
    assert.equal(rows.length, readings - 2 * 300, 'one row per reading after the training rows');
    const unscored = rows.filter((row) => row.split(',')[2] === '');
    assert.equal(unscored.length, 0, `no gap: ${unscored.length} rows without a score, e.g. ${unscored[0]}`);
    outs.push(readFileSync(out, 'utf8'));
  }
  assert.equal(outs[0], outs[1], 'a replay waits for its retraining runs, so it repeats byte for byte');
  // The promoted models scored: the same replay without retraining writes other scores after the first promotion.
  const frozen = join(dir, 'scores-frozen.csv');
  const noRetrain = { ...ENV, AEMON_TRAINING_INTERVAL_MS: '0' };
  const r = await aemon(['replay', file, '--train-first', '300', '--out', frozen], { env: noRetrain });
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  assert.notEqual(readFileSync(frozen, 'utf8'), outs[0], 'retraining changed no score: no promoted model ever scored');
});
