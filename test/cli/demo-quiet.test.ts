import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_DEFAULTS } from '../../src/cli/demo.js';
import { aemon } from './run.js';
import { tempDir } from '../tempdir.js';

// The demo's first run, replayed at full speed: the simulator's stream with the demo's settings,
// the first 600 readings of each sensor train (the demo's bootstrap), every later reading is
// scored. The simulated plant's load wanders beyond what the bootstrap saw within the hour.
for (const seed of [1, 2, 3]) {
  test(`the demo's settings raise no false alarm and find every injected anomaly (simulator seed ${seed})`, async () => {
    const dir = tempDir('aemon-demo-quiet-');
    const config = join(dir, 'demo.json');
    writeFileSync(config, JSON.stringify(DEMO_DEFAULTS));
    const sim = join(dir, 'sim.ndjson');
    const labels = join(dir, 'labels.json');
    const made = await aemon([
      'simulate',
      '-c',
      config,
      '--seed',
      String(seed),
      '--duration',
      '3600s',
      '--out',
      sim,
      '--labels',
      labels,
    ]);
    assert.equal(made.code, 0, made.stderr);
    const run = await aemon([
      'replay',
      sim,
      '-c',
      config,
      '--train-first',
      String(DEMO_DEFAULTS.training.bootstrapReadings),
      '--labels',
      labels,
      '--out',
      join(dir, 'scores.csv'),
    ]);
    assert.equal(run.code, 0, run.stderr);
    const m = /labels: (\d+) injected anomalies, (\d+) detected, (\d+) anomalies opened outside them/.exec(run.stderr);
    assert.ok(m, run.stderr);
    const [injected, detected, falseAlarms] = [Number(m[1]), Number(m[2]), Number(m[3])];
    assert.ok(injected >= 3, `the hour holds injected anomalies (${injected})`);
    assert.equal(falseAlarms, 0, run.stderr);
    assert.equal(detected, injected, run.stderr);
  });
}
