import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aemon } from './run.js';
import { tempDir } from '../tempdir.js';

/** Small settings: the point is the decoders, not the model. */
const ENV = {
  AEMON_WINDOWING_SIZE: '16',
  AEMON_WINDOWING_STRIDE: '4',
  AEMON_MODEL_EPOCHS: '3',
  AEMON_MODEL_UNITS: '8',
};

interface Sim {
  sensor: string;
  ts: string;
  values: Record<string, number>;
}

/** The simulator's readings, each format's way (`json`: nested, seconds, a template, one array per event time). */
const encoders: Record<string, (r: Sim, i: number, all: Sim[]) => string[]> = {
  json: (r, i, all) =>
    i > 0 && all[i - 1]!.ts === r.ts
      ? []
      : [
          JSON.stringify(
            all
              .filter((o) => o.ts === r.ts)
              .map((o) => ({
                id: o.sensor.split('-')[1],
                meta: { t: Date.parse(o.ts) / 1000 },
                data: { v: o.values },
              })),
          ),
        ],
  // The measurement alone is the default sensor id of a line with no tags.
  influx: (r) => [
    `${r.sensor} ${Object.entries(r.values)
      .map(([k, v]) => `${k}=${v}`)
      .join(',')} ${Date.parse(r.ts)}000000`,
  ],
  'telegraf-json': (r) => [
    JSON.stringify({
      fields: r.values,
      name: 'sim',
      tags: { plant: 'p1', sensor: r.sensor },
      timestamp: Date.parse(r.ts) / 1000,
    }),
  ],
  // Channels in reverse order, so a reading's messages do not arrive in name order.
  narrow: (r) =>
    Object.entries(r.values)
      .reverse()
      .map(([channel, value]) => JSON.stringify({ sensor: r.sensor, ts: r.ts, channel, value })),
};

/** Malformed records of each format, put in the middle of the good ones, with the reason each must get. */
const malformed: Record<string, Array<[string, ...string[]]>> = {
  json: [
    [
      '[{"id":"9","meta":{"t":1767225605},"data":{"v":{"temperature":"hot"}}},{"meta":{"t":1767225605},"data":{"v":{"temperature":1}}}]',
      'non_finite',
      'missing_sensor',
    ],
    ['[]', 'bad_record'],
  ],
  influx: [
    ['sensor-1 temperature=hot 1767225600000000000', 'bad_record'],
    ['sensor-1,site=x', 'bad_record'],
    ['sensor-9 temperature=1 99999999999999999999999', 'bad_timestamp'],
    [`sensor-1 temperature=1 ${'9'.repeat(300_000)}`, 'too_large'],
  ],
  'telegraf-json': [
    ['{"fields":{"temperature":"hot"},"name":"sim","tags":{"sensor":"sensor-9"},"timestamp":1767225600}', 'bad_record'],
    ['{"fields":{"temperature":1},"name":"sim","tags":{"plant":"p1"},"timestamp":1767225600}', 'missing_sensor'],
    ['{"fields":', 'not_json'],
  ],
  narrow: [
    ['{"sensor":"sensor-9","ts":"2026-01-01T00:00:05.000Z","channel":"temperature","value":1}', 'incomplete'],
    ['{"sensor":"sensor-1","ts":"2026-01-01T00:00:05.000Z","channel":"humidity","value":1}', 'unknown_channel'],
    ['{"sensor":"sensor-1","ts":"2026-01-01T00:00:06.000Z","channel":"temperature","value":"NaN"}', 'non_finite'],
  ],
};

const config: Record<string, object> = {
  json: {
    reading: { arrays: true, sensorTemplate: 'sensor-{id}', timeField: 'meta.t', timeUnit: 's', valuesField: 'data.v' },
  },
  influx: {},
  'telegraf-json': { reading: { sensorTemplate: '{tags.sensor}' } },
  narrow: { reading: { channels: ['current', 'pressure', 'temperature', 'vibration'], narrow: { waitMs: 3000 } } },
};

/** Scores by `sensor@timestamp`: every numeric column. */
function scores(file: string): Map<string, number[]> {
  const [head, ...rows] = readFileSync(file, 'utf8').trim().split('\n');
  assert.match(head!, /^timestamp,sensor,score,threshold,anomaly,error_/);
  const out = new Map<string, number[]>();
  for (const row of rows) {
    const [ts, sensor, ...cols] = row.split(',');
    out.set(
      `${sensor}@${ts}`,
      cols.map((c) => (c === '' ? Number.NaN : Number(c))),
    );
  }
  return out;
}

test('the simulator stream re-encoded as line protocol, Telegraf JSON and narrow gives the same window scores as the same stream in JSON; malformed records are dead-lettered with their reason and every good reading is scored', async () => {
  const dir = tempDir('aemon-formats-');
  const sim = join(dir, 'sim.ndjson');
  const made = await aemon(['simulate', '--sensors', '3', '--duration', '6m', '--seed', '4', '--out', sim]);
  assert.equal(made.code, 0, made.stderr);
  const models = join(dir, 'models');
  const trained = await aemon(['train', sim, '--out', models], { env: ENV });
  assert.equal(trained.code, 0, trained.stderr);

  const base = await aemon(['replay', sim, '--model', models, '--out', join(dir, 'json.csv')], { env: ENV });
  assert.equal(base.code, 0, base.stderr);
  const want = scores(join(dir, 'json.csv'));
  const readings = readFileSync(sim, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Sim);
  assert.equal(want.size, readings.length, 'the JSON replay scores every reading');

  for (const format of Object.keys(encoders)) {
    const lines = readings.flatMap((r, i) => encoders[format]!(r, i, readings));
    const bad = malformed[format]!;
    // Spread through the middle of the stream, between readings.
    const at = (i: number): number => Math.floor(((i + 1) * lines.length) / (bad.length + 2));
    for (let i = bad.length - 1; i >= 0; i--) lines.splice(at(i), 0, bad[i]![0]);
    const file = join(dir, `sim.${format === 'influx' ? 'lp' : `${format}.ndjson`}`);
    writeFileSync(file, lines.join('\n') + '\n');
    const cfgFile = join(dir, `${format}.json`);
    writeFileSync(cfgFile, JSON.stringify(config[format]));
    const out = join(dir, `${format}.csv`);
    const dlq = join(dir, `${format}.dlq.ndjson`);
    const run = await aemon(
      ['replay', file, '--format', format, '-c', cfgFile, '--model', models, '--out', out, '--dlq', dlq],
      { env: ENV },
    );
    assert.equal(run.code, 0, `${format}: ${run.stderr}`);

    const got = scores(out);
    assert.equal(got.size, want.size, `${format}: every good reading scored`);
    let compared = 0;
    for (const [key, row] of want) {
      const other = got.get(key);
      assert.ok(other, `${format}: no score for ${key}`);
      assert.equal(other.length, row.length);
      row.forEach((v, i) =>
        assert.ok(
          Number.isNaN(v) ? Number.isNaN(other[i]!) : Math.abs(v - other[i]!) <= 1e-6,
          `${format} ${key} column ${i}: ${other[i]} vs ${v}`,
        ),
      );
      if (Number.isFinite(row[0])) compared++;
    }
    assert.ok(compared > want.size / 2, `${format}: only ${compared} rows had a score to compare`);
    const dead = readFileSync(dlq, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { reason: string });
    assert.deepEqual(
      dead.map((d) => d.reason).sort(),
      bad.flatMap(([, ...reasons]) => reasons).sort(),
      `${format}: ${run.stderr}`,
    );
  }
});
