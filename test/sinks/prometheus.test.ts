import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { metricsSink } from '../../src/sinks/prometheus.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { AemonMetrics } from '../../src/observability/metrics.js';
import type { PipelineOutput } from '../../src/pipeline/contracts.js';
import { parseExposition, sampleValue } from '../observability/exposition.js';
import { T0, reading, rejection, scoredOutput, warming } from './fixtures.js';

const CH = ['pressure', 'temperature'] as const;
const v = { pressure: 1, temperature: 2 };

function batch(): PipelineOutput[] {
  return [
    { kind: 'scored', window: null, rows: [warming(reading('a', 0, v), CH)] },
    scoredOutput([reading('a', 1, v), reading('a', 2, v)], CH, {
      score: 1.5,
      threshold: 0.2,
      shares: [0.25, 0.75],
      anomaly: true,
    }),
    scoredOutput([reading('b', 3, v)], CH, { score: 0.5, threshold: 0.4, shares: [0.5, 0.5], anomaly: false }),
    {
      kind: 'event',
      event: {
        id: 'e1',
        kind: 'opened',
        sensor: 'a',
        group: 'pressure,temperature',
        start: T0,
        peakScore: 1.5,
        severity: 'minor',
        topChannels: [],
        modelVersion: 'v1',
      },
    },
    {
      kind: 'event',
      event: {
        id: 'e1',
        kind: 'closed',
        sensor: 'a',
        group: 'x',
        start: T0,
        end: T0,
        peakScore: 1.5,
        severity: 'minor',
        topChannels: [],
        modelVersion: 'v1',
      },
    },
    rejection('{', 'not_json'),
    rejection('{}', 'missing_sensor'),
    rejection('{"x', 'not_json'),
  ];
}

test('a batch of outputs updates the metrics once per window and once per batch for counters', async () => {
  const calls: Array<[string, unknown]> = [];
  const spy = new Proxy({} as AemonMetrics, {
    get:
      (_t, method: string) =>
      (arg: unknown, ...rest: unknown[]) =>
        calls.push([method, rest.length > 0 ? [arg, ...rest] : arg]),
  });
  const now = T0 + 10_000;
  await metricsSink(spy, () => now).write(batch());
  const named = (m: string) => calls.filter(([name]) => name === m).map(([, arg]) => arg);
  assert.equal(named('observeWindow').length, 2, 'one observation per window');
  assert.deepEqual(
    named('observeWindow').map((o) => (o as { sensor: string; anomaly: boolean }).anomaly),
    [true, false],
    "the window's hysteresis state comes from its rows",
  );
  assert.deepEqual(
    named('readingsIn'),
    [
      ['file', 4],
      ['kafka', 3],
    ],
    'every reading once, a rejection too',
  );
  assert.deepEqual(named('rejected'), [
    ['not_json', 2],
    ['missing_sensor', 1],
  ]);
  assert.deepEqual(named('windowsScored'), [2]);
  assert.deepEqual(named('eventToScore'), [[9, 8, 7]], 'now − arrival of each released reading, in seconds');
  assert.deepEqual(named('anomalyOpened'), ['a'], 'closed events are not counted');
});

test('through real metrics, a scrape shows what the batch said', async () => {
  const metrics = createMetrics(new Registry(), { maxSensors: 10 });
  const sink = metricsSink(metrics, () => T0 + 10_000);
  await sink.write(batch());
  await sink.close();
  const f = parseExposition(await metrics.registry.metrics());
  assert.equal(sampleValue(f, 'aemon_anomaly_score', { sensor: 'a' }), 1.5);
  assert.equal(sampleValue(f, 'aemon_threshold', { sensor: 'b' }), 0.4);
  assert.equal(sampleValue(f, 'aemon_anomaly', { sensor: 'a' }), 1);
  assert.equal(sampleValue(f, 'aemon_anomaly', { sensor: 'b' }), 0);
  assert.equal(sampleValue(f, 'aemon_channel_error', { sensor: 'a', channel: 'temperature' }), 0.75);
  assert.equal(sampleValue(f, 'aemon_anomalies_total', { sensor: 'a' }), 1);
  assert.equal(sampleValue(f, 'aemon_readings_total', { source: 'file' }), 4);
  assert.equal(sampleValue(f, 'aemon_readings_rejected_total', { reason: 'not_json' }), 2);
  assert.equal(sampleValue(f, 'aemon_windows_scored_total'), 2);
  assert.equal(sampleValue(f, 'aemon_event_to_score_seconds_count'), 3);
  assert.equal(sampleValue(f, 'aemon_event_to_score_seconds_sum'), 24);
});
