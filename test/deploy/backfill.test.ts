import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aemon } from '../cli/run.js';
import { openMetricsSink } from '../../src/sinks/openmetrics.js';
import { reading, scoredOutput } from '../sinks/fixtures.js';
import { requireTool, run, startPrometheus, tempDir } from './tools.js';

// Backfill as docs/deployment.md tells users to do it: replay history with --openmetrics, turn the file into
// TSDB blocks with promtool, start Prometheus on them, and read the replayed values back at their
// event times. The data is from 2014, so Prometheus must keep old blocks (retention).
const RETENTION = ['--storage.tsdb.retention.time=100y'];
const MINIMAL_CONFIG = 'global:\n  scrape_interval: 1m\n';

/** 200 readings every 5 minutes from 2014-02-14, with a level shift at readings 150-169. */
function machineCsv(): string {
  const t0 = Date.UTC(2014, 1, 14);
  const lines = ['timestamp,value'];
  for (let i = 0; i < 200; i++) {
    const ts = new Date(t0 + i * 300_000).toISOString().replace('T', ' ').slice(0, 19);
    const v = 10 + Math.sin(i / 5) + ((i * 7919) % 13) / 50 + (i >= 150 && i < 170 ? 4 : 0);
    lines.push(`${ts},${v.toFixed(3)}`);
  }
  return lines.join('\n') + '\n';
}

interface CsvRow {
  ts: number;
  sensor: string;
  score: string;
  threshold: string;
  anomaly: string;
  errorValue: string;
}

function readCsv(path: string): CsvRow[] {
  const [header, ...lines] = readFileSync(path, 'utf8').trimEnd().split('\n');
  assert.equal(header, 'timestamp,sensor,score,threshold,anomaly,error_value');
  return lines.map((l) => {
    const [ts, sensor, score, threshold, anomaly, errorValue] = l.split(',') as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    return { ts: Date.parse(ts), sensor, score, threshold, anomaly, errorValue };
  });
}

test('replay --openmetrics → promtool tsdb create-blocks-from openmetrics → Prometheus returns the replayed values at their event times', async (t) => {
  requireTool('promtool');
  requireTool('prometheus');
  const dir = tempDir(t, 'backfill');
  const input = join(dir, 'machine.csv');
  writeFileSync(input, machineCsv());
  const replay = await aemon(
    [
      'replay',
      input,
      '--train-first',
      '100',
      '--out',
      join(dir, 'scores.csv'),
      '--openmetrics',
      join(dir, 'scores.om'),
    ],
    {
      env: { AEMON_WINDOWING_SIZE: '16', AEMON_MODEL_EPOCHS: '3' },
    },
  );
  assert.equal(replay.code, 0, replay.stderr);
  assert.match(replay.stderr, /OpenMetrics → .*scores\.om/);

  const rows = readCsv(join(dir, 'scores.csv')).filter((r) => r.score !== '');
  assert.equal(rows.length, 100);
  const anomalous = rows.filter((r) => r.anomaly === '1');
  assert.ok(anomalous.length > 0, 'the level shift should have been flagged, so anomaly = 1 is checked too');

  const blocks = join(dir, 'blocks');
  const created = await run('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', join(dir, 'scores.om'), blocks]);
  assert.equal(created.code, 0, created.stderr + created.stdout);
  assert.ok(
    readdirSync(blocks).some((f) => /^[0-9A-Z]{26}$/.test(f)),
    `no block in ${readdirSync(blocks).join(', ')}`,
  );

  const prom = await startPrometheus(t, { config: MINIMAL_CONFIG, storage: blocks, args: RETENTION });
  const sensor = rows[0]!.sensor;
  const one = async (expr: string, ts: number): Promise<number> => {
    const result = await prom.query(expr, ts / 1000);
    assert.equal(result.length, 1, `${expr} at ${new Date(ts).toISOString()}: ${JSON.stringify(result)}`);
    return Number(result[0]!.value[1]);
  };
  const sel = `{sensor="${sensor}"}`;
  for (const row of [rows[0]!, rows[37]!, anomalous[0]!, anomalous.at(-1)!, rows.at(-1)!]) {
    const at = new Date(row.ts).toISOString();
    assert.equal(await one(`aemon_anomaly_score${sel}`, row.ts), Number(row.score), `score at ${at}`);
    assert.equal(await one(`aemon_threshold${sel}`, row.ts), Number(row.threshold), `threshold at ${at}`);
    assert.equal(await one(`aemon_anomaly${sel}`, row.ts), Number(row.anomaly), `anomaly at ${at}`);
    assert.equal(
      await one(`aemon_channel_error{sensor="${sensor}",channel="value"}`, row.ts),
      Number(row.errorValue),
      `error share at ${at}`,
    );
  }
  // Every scored row is one sample: nothing lost, nothing doubled.
  const span = (rows.at(-1)!.ts - rows[0]!.ts) / 1000 + 1;
  assert.equal(await one(`count_over_time(aemon_anomaly_score${sel}[${span}s])`, rows.at(-1)!.ts), rows.length);
});

test('promtool accepts what the sink writes for awkward input: escaped labels, interleaved sensors, rows out of order', async (t) => {
  requireTool('promtool');
  requireTool('prometheus');
  const dir = tempDir(t, 'backfill-odd');
  const file = join(dir, 'odd.om');
  const odd = 'pump "7"\\north\nline';
  const out = (sensor: string, i: number, score: number) =>
    scoredOutput([reading(sensor, i, { a: 1, b: 2 })], ['a', 'b'], {
      score,
      threshold: 2,
      shares: [0.25, 0.75],
      anomaly: score > 1,
    });
  const sink = openMetricsSink(file);
  await sink.write([out(odd, 30, 1.5), out('plain', 10, 0.1), out(odd, 10, 0.5)]);
  await sink.write([out('plain', 20, 0.2), out(odd, 20, 0.7)]);
  await sink.close();

  const blocks = join(dir, 'blocks');
  const created = await run('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', file, blocks]);
  assert.equal(created.code, 0, created.stderr + created.stdout);
  const prom = await startPrometheus(t, { config: MINIMAL_CONFIG, storage: blocks, args: RETENTION });
  const series = await prom.api<Array<Record<string, string>>>('series', {
    'match[]': 'aemon_anomaly_score',
    start: '0',
  });
  assert.deepEqual(series.map((s) => s.sensor).sort(), [odd, 'plain'].sort());
  const T = reading('x', 20, {}).ts / 1000;
  const at20 = await prom.query(`aemon_anomaly_score{sensor=${JSON.stringify(odd)}}`, T);
  assert.equal(at20[0]?.value[1], '0.7');
});
