import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { aemon } from './run.js';
import { tempDir } from '../tempdir.js';

/** Polls `url` until `check` passes on its body (a condition wait with a deadline, not a sleep). */
async function waitFor(url: string, check: (body: string) => boolean, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      last = await (await fetch(url)).text();
      if (check(last)) return last;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting on ${url}; last body:\n${last.slice(0, 2000)}`);
}

function sample(body: string, name: string): Array<{ labels: string; value: number }> {
  const re = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'gm');
  return [...body.matchAll(re)].map((m) => ({ labels: m[1] ?? '', value: Number(m[2]) }));
}

test('the demo trains, scores, serves /metrics while it runs, detects an injected anomaly and writes its summary', async () => {
  const dir = tempDir('aemon-demo-');
  const summaryFile = join(dir, 'demo.json');
  let resolveUrl!: (u: string) => void;
  const metricsUrl = new Promise<string>((r) => (resolveUrl = r));
  // A faster demo than `npm start`: short bootstrap, few epochs, event time 40× the wall clock,
  // an anomaly every ~100 s of event time per sensor after the bootstrap.
  const env = {
    AEMON_TRAINING_BOOTSTRAP_READINGS: '200',
    AEMON_MODEL_EPOCHS: '8',
    AEMON_SIMULATOR_SPEEDUP: '40',
    AEMON_SIMULATOR_QUIET_SECONDS: '400',
    AEMON_SIMULATOR_ANOMALY_EVERY_SECONDS: '150',
  };
  const run = aemon(
    ['demo', '--duration', '40s', '--sensors', '3', '--seed', '3', '--port', '0', '--summary', summaryFile],
    {
      env,
      onStdout: (text) => {
        const m = /metrics: (http:\/\/\S+)\/metrics/.exec(text);
        if (m) resolveUrl(m[1]!);
      },
    },
  );
  const url = await Promise.race([
    metricsUrl,
    run.then((r) => Promise.reject(new Error(`demo exited early: ${r.stderr}`))),
  ]);

  const body = await waitFor(
    `${url}/metrics`,
    (b) =>
      sample(b, 'aemon_windows_scored_total').some((s) => s.value > 0) && sample(b, 'aemon_anomaly_score').length === 3,
    35_000,
  );
  const scores = sample(body, 'aemon_anomaly_score')
    .map((s) => s.labels)
    .sort();
  assert.deepEqual(scores, ['{sensor="sensor-1"}', '{sensor="sensor-2"}', '{sensor="sensor-3"}']);
  assert.ok(
    sample(body, 'aemon_model_info').some((s) => /backend="(wasm|tensorflow|cpu)"/.test(s.labels) && s.value === 1),
  );
  assert.equal((await fetch(`${url}/readyz`)).status, 200);

  const done = await run;
  assert.equal(done.code, 0, done.stderr);
  // An opened anomaly: the one score (> 1), its band, and per top channel the reading against what the model expected.
  const opened =
    /ANOMALY OPENED {2}sensor-\d {2}at \S+ {2}score (\d+\.\d\d) \((minor|major|critical)\) {2}top channels: \w+ -?[\d.e+-]+ \(expected -?[\d.e+-]+, [+−][\d.e+-]+\) \d+%/.exec(
      done.stdout,
    );
  assert.ok(opened, done.stdout);
  assert.ok(Number(opened[1]) > 1, `an anomaly opens above 1: ${opened[0]}`);
  const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as Record<string, unknown>;
  assert.ok((summary.windowsScored as number) > 0);
  assert.ok((summary.injected as number) >= 1);
  assert.ok((summary.detected as number) >= 1, `nothing detected: ${JSON.stringify(summary)}`);
  assert.equal(typeof summary.falseAlarms, 'number');
  const early = summary.falseAlarmsBeforeFirstInjection as number;
  assert.ok(Number.isInteger(early) && early >= 0 && early <= (summary.falseAlarms as number), JSON.stringify(summary));
  const rate = summary.falseEventsPerSensorHour;
  assert.ok(rate === null || (typeof rate === 'number' && rate >= 0), JSON.stringify(summary));
  assert.match(String(summary.backend), /^(wasm|tensorflow|cpu)$/);
});
