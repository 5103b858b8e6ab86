import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
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
      '--summary',
      join(dir, 'summary.json'),
    ]);
    assert.equal(run.code, 0, run.stderr);
    const m = /labels: (\d+) injected anomalies, (\d+) detected, (\d+) anomalies opened outside them/.exec(run.stderr);
    assert.ok(m, run.stderr);
    const [injected, detected, falseAlarms] = [Number(m[1]), Number(m[2]), Number(m[3])];
    assert.ok(injected >= 3, `the hour holds injected anomalies (${injected})`);
    assert.equal(falseAlarms, 0, run.stderr);
    assert.equal(detected, injected, run.stderr);

    // --summary holds the same figures, and the scored event time is the scores file's.
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as {
      labels: { injected: number; detected: number; falseEvents: number; sensorHours: number };
      windowsScored: number;
      config: Record<string, unknown>;
    };
    assert.deepEqual(Object.keys(summary.config).sort(), ['detection', 'model', 'scoring', 'training', 'windowing']);
    assert.deepEqual(
      [summary.labels.injected, summary.labels.detected, summary.labels.falseEvents],
      [injected, detected, falseAlarms],
    );
    const span = new Map<string, [number, number]>();
    for (const line of readFileSync(join(dir, 'scores.csv'), 'utf8').trim().split('\n').slice(1)) {
      const [ts, sensor] = line.split(',');
      const t = Date.parse(ts!);
      const s = span.get(sensor!);
      span.set(sensor!, s === undefined ? [t, t] : [Math.min(s[0], t), Math.max(s[1], t)]);
    }
    const hours = [...span.values()].reduce((a, [from, to]) => a + (to - from) / 3_600_000, 0);
    assert.ok(hours > 1, `${hours} sensor-hours scored`);
    assert.ok(Math.abs(summary.labels.sensorHours - hours) < 1e-9, `${summary.labels.sensorHours} vs ${hours}`);
    assert.ok(summary.windowsScored > 0);
  });
}
