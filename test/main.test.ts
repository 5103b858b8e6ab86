import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.js';
import { createEngine } from '../src/main.js';
import { createLogger } from '../src/observability/logger.js';
import type { AnomalyEvent, PipelineOutput, Sink } from '../src/pipeline/contracts.js';
import { scoreFileSink } from '../src/sinks/scores.js';
import { fileSource } from '../src/sources/file.js';
import { tempDir } from './tempdir.js';

const T0 = Date.UTC(2026, 0, 1);
const log = createLogger('silent');

/** Two sensors, two correlated channels each, seeded noise; a spike on sensor `b` at step 300. */
function writeStream(dir: string, extraLines: string[] = []): string {
  let seed = 12345;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31 - 0.5;
  };
  const lines: string[] = [];
  for (let i = 0; i < 360; i++) {
    for (const sensor of ['a', 'b']) {
      const load = Math.sin((2 * Math.PI * i) / 20) + (sensor === 'b' ? 0.3 : 0);
      let x = 10 + 2 * load + 0.1 * rnd();
      const y = 5 - load + 0.1 * rnd();
      if (sensor === 'b' && i >= 300 && i < 306) x += 8;
      lines.push(JSON.stringify({ sensor, ts: T0 + i * 1000, values: { x, y } }));
    }
    if (i === 250) lines.push(...extraLines);
  }
  const file = join(dir, 'stream.ndjson');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

const cfg = parseConfig({
  windowing: { size: 12 },
  model: { units: 8, epochs: 12, batchSize: 32, learningRate: 0.01 },
  training: { bootstrapReadings: 200 },
  detection: { quantile: 0.99, margin: 2, openAfter: 2 },
});

function collector(): Sink & { outputs: PipelineOutput[] } {
  const outputs: PipelineOutput[] = [];
  return { name: 'collect', outputs, write: async (o) => void outputs.push(...o), close: async () => {} };
}

async function replay(file: string, out: string) {
  const engine = await createEngine(cfg, { mode: 'replay', log });
  const collect = collector();
  const stats = await engine.run(fileSource(file, { flow: engine.gate }), [scoreFileSink(out), collect]);
  return { engine, stats, outputs: collect.outputs };
}

test('a replay trains on the bootstrap, scores every later reading once, rejects bad lines, and flags the spike', async () => {
  const dir = tempDir('aemon-main-');
  const bad = [
    'not json at all',
    JSON.stringify({ sensor: 'a', ts: T0 + 250_500, values: { x: 'NaN?', y: 1 } }),
    JSON.stringify({ sensor: 'a', ts: T0 + 250_600, values: { x: 1 } }),
    JSON.stringify({ sensor: 'a', ts: T0 + 250_000, values: { x: 1, y: 2 } }),
  ];
  const file = writeStream(dir, bad);
  const { engine, stats, outputs } = await replay(file, join(dir, 'scores.csv'));

  assert.equal(stats.records, 720 + bad.length);
  assert.equal(stats.acked, stats.records, 'every record acked');
  assert.deepEqual(stats.rejected, { not_json: 1, non_finite: 1, missing_channel: 1, duplicate: 1 });
  assert.equal(stats.readings, 720);
  assert.equal(stats.trainingRows, 400);
  assert.equal(stats.scoredRows, 320, 'every reading after the bootstrap is scored (the window is already full)');

  const rows = readFileSync(join(dir, 'scores.csv'), 'utf8').trim().split('\n');
  assert.equal(rows[0], 'timestamp,sensor,score,threshold,anomaly,error_x,error_y');
  assert.equal(rows.length - 1, 320);

  const models = engine.trainer.models();
  assert.equal(models.length, 1);
  assert.deepEqual(Object.keys(models[0]!.metadata.sensors).sort(), ['a', 'b']);

  const opened = outputs.flatMap((o) =>
    o.kind === 'event' && o.event.kind === 'opened' ? [o.event] : [],
  ) as AnomalyEvent[];
  const spike = opened.filter((e) => e.sensor === 'b' && e.start >= T0 + 300_000 && e.start <= T0 + 318_000);
  assert.equal(
    spike.length,
    1,
    `one anomaly opened on b during the spike, got ${JSON.stringify(opened.map((e) => [e.sensor, e.start - T0]))}`,
  );
  assert.equal(spike[0]!.topChannels[0]!.channel, 'x', 'the spiked channel carries most of the error');
});

test('the same input replays to byte-identical scores', async () => {
  const dir = tempDir('aemon-main-');
  const file = writeStream(dir);
  await replay(file, join(dir, 'one.csv'));
  await replay(file, join(dir, 'two.csv'));
  const one = readFileSync(join(dir, 'one.csv'));
  assert.ok(one.length > 1000);
  assert.ok(one.equals(readFileSync(join(dir, 'two.csv'))));
});
