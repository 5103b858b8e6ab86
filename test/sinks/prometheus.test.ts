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
  assert.deepEqual(named('anomalyOpened'), [['a', 'e1']], 'an opened event is counted, with its id');
  assert.deepEqual(named('anomalyClosed'), [['a', 'e1']], 'a closed one ends its id');
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

test("aemon_anomaly_score is the decision's score, aemon_threshold the threshold in force, the raw score has its own series", async () => {
  const registry = new Registry();
  const metrics = createMetrics(registry, { maxSensors: 10 });
  await metricsSink(metrics).write([
    // A dynamic-like decision: raw 0.6 of the calibrated threshold, 1.8 × the threshold in force.
    scoredOutput([reading('a', 1, v)], CH, {
      score: 0.6,
      threshold: 0.5,
      shares: [0.5, 0.5],
      anomaly: true,
      decision: { score: 1.8, threshold: 0.3 / 1.8 },
    }),
    // A likelihood-like decision: no threshold in force.
    scoredOutput([reading('b', 1, v)], CH, {
      score: 0.4,
      threshold: 0.5,
      shares: [0.5, 0.5],
      anomaly: false,
      decision: { score: 0.2, threshold: null },
    }),
  ]);
  const families = parseExposition(await registry.metrics());
  const value = (name: string, sensor: string) => sampleValue(families, name, { sensor });
  assert.equal(value('aemon_anomaly_score', 'a'), 1.8);
  assert.equal(value('aemon_window_score_raw', 'a'), 0.6);
  assert.ok(Math.abs(value('aemon_threshold', 'a')! - 0.3 / 1.8) < 1e-12);
  assert.equal(value('aemon_anomaly_severity', 'a'), 1, 'the open anomaly is minor');
  assert.equal(value('aemon_anomaly_score', 'b'), 0.2);
  assert.equal(value('aemon_window_score_raw', 'b'), 0.4);
  assert.equal(value('aemon_threshold', 'b'), undefined, 'no threshold series without a threshold in force');
  assert.equal(value('aemon_anomaly_severity', 'b'), 0);
});
