import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, register as globalRegistry } from 'prom-client';
import { createMetrics } from '../../src/observability/metrics.js';
import type { AemonMetrics, WindowObservation } from '../../src/observability/metrics.js';
import { parseExposition, sampleValue, samplesOf } from './exposition.js';

// docs/operations.md#metrics: name, type, labels, exactly.
const DOCUMENTED_METRICS: ReadonlyArray<[string, string, string[]]> = [
  ['aemon_anomaly_score', 'gauge', ['sensor']],
  ['aemon_reconstruction_error', 'gauge', ['sensor']],
  ['aemon_threshold', 'gauge', ['sensor']],
  ['aemon_anomaly', 'gauge', ['sensor']],
  ['aemon_anomalies_total', 'counter', ['sensor']],
  ['aemon_anomaly_event_info', 'gauge', ['event', 'sensor']],
  ['aemon_channel_error', 'gauge', ['channel', 'sensor']],
  ['aemon_readings_total', 'counter', ['source']],
  ['aemon_readings_rejected_total', 'counter', ['reason']],
  ['aemon_windows_scored_total', 'counter', []],
  ['aemon_scoring_batch_seconds', 'histogram', []],
  ['aemon_event_to_score_seconds', 'histogram', []],
  ['aemon_model_info', 'gauge', ['backend', 'version']],
  ['aemon_model_trained_timestamp_seconds', 'gauge', []],
  ['aemon_training_runs_total', 'counter', ['result']],
  ['aemon_training_seconds', 'histogram', []],
  ['aemon_normal_windows', 'gauge', []],
  ['aemon_sensors', 'gauge', ['state']],
  ['aemon_kafka_lag', 'gauge', ['partition', 'topic']],
  ['aemon_sensor_series_dropped', 'gauge', []],
];

function win(sensor: string, score: number, extra: Partial<WindowObservation> = {}): WindowObservation {
  return {
    sensor,
    score,
    rawScore: score,
    error: score * 0.5,
    threshold: 0.5,
    anomaly: score > 1,
    channels: ['pressure', 'temperature'],
    channelShares: Float32Array.of(0.25, 0.75),
    ...extra,
  };
}

function exerciseAll(m: AemonMetrics): void {
  m.observeWindow(win('pump-1', 1.5));
  m.anomalyOpened('pump-1', 'a-1');
  m.readingsIn('kafka', 10);
  m.rejected('not_json');
  m.windowsScored(3);
  m.scoringBatch(0.002);
  m.eventToScore([0.05, 0.2]);
  m.modelInfo('v1', 'cpu');
  m.modelTrained(1_800_000_000);
  m.trainingRun('promoted', 42);
  m.normalWindows(128);
  m.sensors({ warming: 1, scoring: 2 });
  m.kafkaLag('sensors', 0, 17);
}

async function scrape(m: AemonMetrics) {
  return parseExposition(await m.registry.metrics());
}

test('every metric of docs/operations.md is exported with its type, labels and help, on the registry passed in', async () => {
  const m = createMetrics(new Registry(), { maxSensors: 10 });
  exerciseAll(m);
  const families = await scrape(m);
  for (const [name, type, labels] of DOCUMENTED_METRICS) {
    const f = families.get(name);
    assert.ok(f, `${name} is exported`);
    assert.equal(f.type, type, `${name} type`);
    assert.ok(f.help !== undefined && f.help.length > 10, `${name} has a help text`);
    assert.ok(f.samples.length > 0, `${name} has samples`);
    for (const s of f.samples) {
      assert.deepEqual(
        Object.keys(s.labels)
          .filter((k) => k !== 'le')
          .sort(),
        labels,
        `${name} labels`,
      );
    }
  }
  assert.ok(families.has('process_cpu_user_seconds_total'), "Node's default metrics are there too");
  assert.equal(
    globalRegistry.getSingleMetric('aemon_windows_scored_total'),
    undefined,
    'the global registry is untouched',
  );

  assert.equal(sampleValue(families, 'aemon_anomaly_score', { sensor: 'pump-1' }), 1.5);
  assert.equal(sampleValue(families, 'aemon_reconstruction_error', { sensor: 'pump-1' }), 0.75);
  assert.equal(sampleValue(families, 'aemon_anomaly', { sensor: 'pump-1' }), 1);
  assert.equal(sampleValue(families, 'aemon_channel_error', { sensor: 'pump-1', channel: 'temperature' }), 0.75);
  assert.equal(sampleValue(families, 'aemon_anomalies_total', { sensor: 'pump-1' }), 1);
  assert.equal(sampleValue(families, 'aemon_anomaly_event_info', { sensor: 'pump-1', event: 'a-1' }), 1);
  assert.equal(sampleValue(families, 'aemon_readings_total', { source: 'kafka' }), 10);
  assert.equal(sampleValue(families, 'aemon_readings_rejected_total', { reason: 'not_json' }), 1);
  assert.equal(sampleValue(families, 'aemon_readings_rejected_total', { reason: 'too_late' }), 0, 'reasons start at 0');
  assert.equal(sampleValue(families, 'aemon_windows_scored_total'), 3);
  assert.equal(sampleValue(families, 'aemon_event_to_score_seconds_count'), 2);
  assert.equal(sampleValue(families, 'aemon_event_to_score_seconds_bucket', { le: '0.1' }), 1);
  assert.equal(sampleValue(families, 'aemon_scoring_batch_seconds_bucket', { le: '0.0005' }), 0);
  assert.equal(sampleValue(families, 'aemon_training_seconds_bucket', { le: '3600' }), 1);
  assert.equal(sampleValue(families, 'aemon_training_runs_total', { result: 'promoted' }), 1);
  assert.equal(sampleValue(families, 'aemon_training_runs_total', { result: 'failed' }), 0);
  assert.equal(sampleValue(families, 'aemon_model_trained_timestamp_seconds'), 1_800_000_000);
  assert.equal(sampleValue(families, 'aemon_normal_windows'), 128);
  assert.equal(sampleValue(families, 'aemon_sensors', { state: 'scoring' }), 2);
  assert.equal(sampleValue(families, 'aemon_sensors', { state: 'stale' }), 0, 'a state left out is 0');
  assert.equal(sampleValue(families, 'aemon_kafka_lag', { topic: 'sensors', partition: '0' }), 17);
  assert.equal(sampleValue(families, 'aemon_sensor_series_dropped'), 0);
});

test('two metric sets live side by side on their own registries', async () => {
  const a = createMetrics(new Registry(), { maxSensors: 10 });
  const b = createMetrics(new Registry(), { maxSensors: 10 });
  a.windowsScored(5);
  assert.equal(sampleValue(await scrape(a), 'aemon_windows_scored_total'), 5);
  assert.equal(sampleValue(await scrape(b), 'aemon_windows_scored_total'), 0);
});

test('aemon_model_info has exactly one series, the current model', async () => {
  const m = createMetrics(new Registry(), { maxSensors: 10 });
  m.modelInfo('v1', 'cpu');
  m.modelInfo('v2', 'wasm');
  const series = samplesOf(await scrape(m), 'aemon_model_info');
  assert.deepEqual(series, [{ name: 'aemon_model_info', labels: { version: 'v2', backend: 'wasm' }, value: 1 }]);
});

test('with maxSensors 2, a third sensor replaces the lowest-scoring one only when it scores higher', async () => {
  const m = createMetrics(new Registry(), { maxSensors: 2 });
  m.observeWindow(win('a', 0.5));
  m.anomalyOpened('a', 'a-a');
  m.observeWindow(win('b', 0.9));
  m.observeWindow(win('c', 0.3));
  assert.deepEqual(m.trackedSensors().sort(), ['a', 'b'], 'c scores below both: not tracked');
  m.anomalyOpened('c', 'a-c');
  let families = await scrape(m);
  assert.equal(sampleValue(families, 'aemon_anomaly_score', { sensor: 'c' }), undefined);
  assert.equal(sampleValue(families, 'aemon_anomalies_total', { sensor: 'c' }), undefined);
  assert.equal(sampleValue(families, 'aemon_sensor_series_dropped'), 1);

  m.observeWindow(win('c', 2.0));
  assert.deepEqual(m.trackedSensors().sort(), ['b', 'c'], 'c now outranks a, the lowest');
  families = await scrape(m);
  for (const name of [
    'aemon_anomaly_score',
    'aemon_reconstruction_error',
    'aemon_threshold',
    'aemon_anomaly',
    'aemon_anomalies_total',
    'aemon_anomaly_event_info',
    'aemon_channel_error',
  ]) {
    assert.ok(!samplesOf(families, name).some((s) => s.labels.sensor === 'a'), `a's ${name} series is gone`);
  }
  assert.equal(samplesOf(families, 'aemon_channel_error').length, 4, 'two channels for each of b and c');
  assert.equal(sampleValue(families, 'aemon_anomaly_score', { sensor: 'c' }), 2);
  assert.equal(sampleValue(families, 'aemon_sensor_series_dropped'), 1, 'a is dropped, c no longer is');

  // b falls below c; the lowest is now b, so d (0.2 > 0.1) replaces b, not c.
  m.observeWindow(win('b', 0.1));
  m.observeWindow(win('d', 0.2));
  assert.deepEqual(m.trackedSensors().sort(), ['c', 'd']);
  m.observeWindow(win('e', Number.NaN));
  assert.deepEqual(m.trackedSensors().sort(), ['c', 'd'], 'a NaN score never pushes a sensor out');
  families = await scrape(m);
  assert.equal(sampleValue(families, 'aemon_sensor_series_dropped'), 3, 'a, b and e');

  m.forgetSensor('c');
  m.observeWindow(win('a', 0.01));
  assert.deepEqual(m.trackedSensors().sort(), ['a', 'd'], 'a forgotten sensor frees its place');
  assert.equal(sampleValue(await scrape(m), 'aemon_sensor_series_dropped'), 2, 'b and e');
});

test("aemon_anomaly_event_info names a sensor's open event, one series at most, gone when it closes", async () => {
  const m = createMetrics(new Registry(), { maxSensors: 10 });
  m.observeWindow(win('a', 1.5));
  m.anomalyOpened('a', 'a-1');
  const info = async () => samplesOf(await scrape(m), 'aemon_anomaly_event_info').map((s) => s.labels);
  assert.deepEqual(await info(), [{ sensor: 'a', event: 'a-1' }]);
  m.anomalyClosed('a', 'a-0');
  assert.deepEqual(await info(), [{ sensor: 'a', event: 'a-1' }], 'closing another event leaves it');
  m.anomalyOpened('a', 'a-2');
  assert.deepEqual(await info(), [{ sensor: 'a', event: 'a-2' }], 'a new event replaces it: one series per sensor');
  m.anomalyClosed('a', 'a-2');
  assert.deepEqual(await info(), []);
  m.anomalyOpened('a', 'a-3');
  m.forgetSensor('a');
  assert.deepEqual(await info(), [], "a forgotten sensor's event goes with its series");
});

test('a sensor whose channels change loses the old channel series', async () => {
  const m = createMetrics(new Registry(), { maxSensors: 5 });
  m.observeWindow(win('a', 1));
  m.observeWindow(win('a', 1, { channels: ['pressure', 'flow'], channelShares: [0.5, 0.5] }));
  const channels = samplesOf(await scrape(m), 'aemon_channel_error')
    .map((s) => s.labels.channel)
    .sort();
  assert.deepEqual(channels, ['flow', 'pressure']);
});

test('aemon_anomaly keeps its value when a window carries no decision', async () => {
  const m = createMetrics(new Registry(), { maxSensors: 5 });
  m.observeWindow(win('a', 2));
  m.observeWindow(win('a', 0.5, { anomaly: undefined }));
  const families = await scrape(m);
  assert.equal(sampleValue(families, 'aemon_anomaly', { sensor: 'a' }), 1);
  assert.equal(sampleValue(families, 'aemon_anomaly_score', { sensor: 'a' }), 0.5);
});

test('kafka lag series of a revoked partition are dropped', async () => {
  const m = createMetrics(new Registry(), { maxSensors: 5 });
  m.kafkaLag('sensors', 0, 3);
  m.kafkaLag('sensors', 1, 4);
  m.forgetKafkaPartition('sensors', 0);
  assert.deepEqual(
    samplesOf(await scrape(m), 'aemon_kafka_lag').map((s) => s.labels.partition),
    ['1'],
  );
});

test('per-sensor gauges show the latest window at each scrape; sensors by state are counted when scraped', async () => {
  const m = createMetrics(new Registry(), { maxSensors: 10 });
  let scoring = 3;
  m.sensorsAtScrape(() => ({ scoring, stale: 1 }));
  m.observeWindow(win('pump-1', 0.5));
  m.observeWindow(win('pump-1', 0.7, { channelShares: Float32Array.of(0.5, 0.5) }));
  let f = await scrape(m);
  assert.equal(sampleValue(f, 'aemon_anomaly_score', { sensor: 'pump-1' }), 0.7, 'the latest window, not the first');
  assert.equal(sampleValue(f, 'aemon_channel_error', { sensor: 'pump-1', channel: 'temperature' }), 0.5);
  assert.equal(sampleValue(f, 'aemon_sensors', { state: 'scoring' }), 3);
  assert.equal(sampleValue(f, 'aemon_sensors', { state: 'warming' }), 0);
  m.observeWindow(win('pump-1', 1.25));
  scoring = 4;
  f = await scrape(m);
  assert.equal(sampleValue(f, 'aemon_anomaly_score', { sensor: 'pump-1' }), 1.25);
  assert.equal(sampleValue(f, 'aemon_sensors', { state: 'scoring' }), 4, 'counted again at the next scrape');
  f = await scrape(m);
  assert.equal(sampleValue(f, 'aemon_anomaly_score', { sensor: 'pump-1' }), 1.25, 'no new window: the value stays');
});
