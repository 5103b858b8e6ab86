import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aemon, DATASETS, type CliRun } from './run.js';
import { tempDir } from '../tempdir.js';

// A learning rate no fit survives: Adam's first steps throw the weights to ~1e30, the loss of the
// first epoch is no longer finite, and the fit stops with "training diverged". A real training
// failure, on every backend, reached through a setting a user can make.
const DIVERGING = { AEMON_MODEL_LEARNING_RATE: '1e30', AEMON_MODEL_EPOCHS: '3', AEMON_MODEL_UNITS: '4' };
const DIVERGED = /training diverged: loss is (NaN|-?Infinity) in epoch \d+/;

/** Two channels of one sensor, one reading a second, as NDJSON. */
function readingsFile(dir: string, n: number): string {
  const file = join(dir, 'readings.ndjson');
  const lines = Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      sensor: 'pump-1',
      ts: 1_700_000_000_000 + i * 1000,
      values: { a: Math.sin(i / 5), b: Math.cos(i / 7) },
    }),
  );
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** The command failed with exit code 1 and said why in one line, with nothing else on stderr. */
function assertTrainingError(run: CliRun, context: RegExp): void {
  assert.equal(run.code, 1, `exit code ${run.code}; stderr:\n${run.stderr}`);
  const lines = run.stderr.trim().split('\n');
  const errors = lines.filter((l) => l.startsWith('aemon: '));
  assert.equal(errors.length, 1, run.stderr);
  const line = errors[0]!;
  assert.match(line, /^aemon: AEMON_TRAINING: /);
  assert.match(line, context);
  assert.match(line, DIVERGED);
  assert.equal(lines.at(-1), line, 'the error is the last thing said');
  assert.ok(!lines.some((l) => l.startsWith('{')), `no JSON log with a stack besides the line:\n${run.stderr}`);
}

test('replay: a model that cannot be trained fails the replay (exit 1, AEMON_TRAINING) and writes no rows', async () => {
  const dir = tempDir('aemon-trainfail-');
  const input = readingsFile(dir, 300);
  const out = join(dir, 'scores.csv');
  const run = await aemon(['replay', input, '--train-first', '100', '--out', out], {
    env: { ...DIVERGING, AEMON_WINDOWING_SIZE: '8' },
  });
  assertTrainingError(run, /no model could be trained for channels \[a,b\]: /);
  assert.doesNotMatch(run.stderr, /^replayed /m, 'no summary of a replay that did not happen');
  const rows = existsSync(out)
    ? readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .filter((l) => l !== '')
    : [];
  assert.ok(rows.length <= 1, `only a header at most, got ${rows.length} lines`);
  if (rows.length === 1) assert.match(rows[0]!, /^timestamp,sensor,score,threshold,anomaly(,|$)/);
});

test('train: a model that cannot be trained fails with its reason, and nothing is promoted', async () => {
  const dir = tempDir('aemon-trainfail-');
  const input = readingsFile(dir, 120);
  const models = join(dir, 'models');
  const run = await aemon(['train', input, '--out', models], { env: { ...DIVERGING, AEMON_WINDOWING_SIZE: '8' } });
  assertTrainingError(run, /no model could be trained for channels \[a,b\]: /);
  assert.doesNotMatch(run.stdout, /saved model/);
  assert.ok(!existsSync(models) || readdirSync(models).length === 0, 'no registry entry');
});

test('evaluate: a file whose model cannot be trained fails the evaluation, naming the file', async () => {
  const dir = tempDir('aemon-trainfail-');
  mkdirSync(join(dir, 'valve1'));
  copyFileSync(join(DATASETS, 'skab/valve1/1.csv'), join(dir, 'valve1/1.csv'));
  const json = join(dir, 'skab.json');
  const run = await aemon(['evaluate', 'skab', '--data', dir, '--json', json], { env: DIVERGING });
  assertTrainingError(
    run,
    /^aemon: AEMON_TRAINING: valve1\/1\.csv: no model could be trained for channels \[Accelerometer1RMS,/,
  );
  assert.ok(!existsSync(json), 'no scores JSON for an evaluation that did not score');
  assert.doesNotMatch(run.stdout, /F1/);
});

test('demo: a model that cannot be trained ends the demo (exit 1) instead of running on unscored', async () => {
  const dir = tempDir('aemon-trainfail-');
  const summary = join(dir, 'demo.json');
  // Without the failure this demo would run its whole 120 s and exit 0.
  const run = await aemon(
    ['demo', '--duration', '120s', '--sensors', '2', '--port', '0', '--speedup', '200', '--summary', summary],
    {
      env: { ...DIVERGING, AEMON_TRAINING_BOOTSTRAP_READINGS: '100', AEMON_WINDOWING_SIZE: '8' },
    },
  );
  assertTrainingError(run, /no model could be trained for channels \[/);
  assert.match(run.stdout, /bootstrap done: training the LSTM autoencoder on \d+ windows of 2 sensors/);
  assert.doesNotMatch(run.stdout, /^summary: /m);
  assert.ok(!existsSync(summary), 'no summary of a demo that scored nothing');
});
