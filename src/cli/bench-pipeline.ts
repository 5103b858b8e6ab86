import { Observable } from 'rxjs';
import { loadConfig, parseConfig } from '../config/load.js';
import { createEngine } from '../main.js';
import { createAutoencoder } from '../model/autoencoder.js';
import type { LstmAutoencoder } from '../model/autoencoder.js';
import { createLogger } from '../observability/logger.js';
import type { PipelineOutput, Sink, SourceRecord } from '../pipeline/contracts.js';
import type { ModelBundle, SensorCalibration } from '../pipeline/model.js';
import { quantile } from '../pipeline/calibration.js';
import { metricsSink } from '../sinks/prometheus.js';

export interface PipelineRow {
  name: 'pipeline';
  sensors: number;
  readings: number;
  readingsPerSecond: number;
  p50Seconds: number;
  p99Seconds: number;
  rssBytes: number;
  engine: string;
}

const CHANNELS = ['a', 'b', 'c', 'd'];

/**
 * Readings/s through decode → reorder → windows → micro-batch → score → decide → metrics, for a
 * fleet of `sensors` with 4 channels each, windows of 32 every 8 readings (stride 8), scored by
 * an M0-sized model (untrained weights: the arithmetic is the same). Reading→score latency is
 * measured per reading from its arrival to the write of its window's score.
 */
export async function benchPipeline(sensors: number, readingsPerSensor: number): Promise<PipelineRow> {
  // AEMON_* env applies (e.g. AEMON_MODEL_BACKEND=wasm); the bench's own shape wins over it.
  const cfg = loadConfig({
    env: process.env,
    overrides: { windowing: { size: 32, stride: 8, reorder: { maxDelayMs: 0 } }, scoring: { batchSize: 512, maxWaitMs: 20 }, metrics: { maxSensors: 1000 } },
  });
  const log = createLogger('warn');
  const engine0 = await createEngine(cfg, { mode: 'live', log });
  const params = { windowSize: 32, channels: CHANNELS.length, units: 32, depth: 1, dropout: 0, loss: 'mse' as const, learningRate: 0.001, seed: 1 };
  const model = createAutoencoder(engine0.tf, engine0.backend, params, cfg.model.kernel);
  const calibration: SensorCalibration = { mean: CHANNELS.map(() => 0), std: CHANNELS.map(() => 1), threshold: 1 };
  const bundle: ModelBundle = {
    model,
    metadata: {
      version: 'm-bench',
      createdAt: new Date().toISOString(),
      group: CHANNELS.join(','),
      channels: CHANNELS,
      params,
      dataFrom: null,
      dataTo: null,
      trainingWindows: 0,
      fit: null,
      sensors: Object.fromEntries(Array.from({ length: sensors }, (_, i) => [`s${i}`, calibration])),
      fallback: calibration,
    },
  };
  const engine = await createEngine(cfg, { mode: 'live', log, bundles: [bundle] });
  const t0 = Date.UTC(2026, 0, 1);
  const total = sensors * readingsPerSensor;
  const latencies = new Float64Array(total);
  let n = 0;
  const latency: Sink = {
    name: 'latency',
    async write(outputs: readonly PipelineOutput[]) {
      const now = Date.now();
      for (const o of outputs) if (o.kind === 'scored' && o.window) for (const r of o.rows) latencies[n++] = (now - r.reading.arrivedAt) / 1000;
    },
    async close() {},
  };
  const records$ = new Observable<SourceRecord>((sub) => {
    let stop = false;
    void (async () => {
      let seq = 0;
      for (let i = 0; i < readingsPerSensor && !stop; i++) {
        for (let s = 0; s < sensors && !stop; s++) {
          const wait = engine.gate.ready();
          if (wait) await wait;
          const values = { a: Math.sin(i / 5 + s), b: Math.cos(i / 7), c: (i % 13) / 13, d: s % 3 };
          sub.next({ raw: '', fields: { sensor: `s${s}`, ts: t0 + i * 1000, values }, origin: { source: 'bench' }, arrivedAt: Date.now(), seq: seq++, ack: () => {} });
        }
        // Let scoring run between rounds, as a live source does.
        if (i % 8 === 7) await new Promise((r) => setImmediate(r));
      }
      sub.complete();
    })();
    return () => {
      stop = true;
    };
  });
  const rss0 = process.memoryUsage().rss;
  const start = performance.now();
  const stats = await engine.run(records$, [metricsSink(engine.metrics), latency]);
  const seconds = (performance.now() - start) / 1000;
  const scored = latencies.subarray(0, n);
  model.dispose();
  return {
    name: 'pipeline',
    sensors,
    readings: stats.readings,
    readingsPerSecond: Math.round(stats.readings / seconds),
    p50Seconds: Number(quantile(scored, 0.5).toFixed(4)),
    p99Seconds: Number(quantile(scored, 0.99).toFixed(4)),
    rssBytes: Math.max(0, process.memoryUsage().rss - rss0),
    engine: `${engine.backend}-${(model as LstmAutoencoder).kernel}`,
  };
}

export interface ScrapeRow {
  name: 'scrape';
  sensors: number;
  bytes: number;
  seconds: number;
}

/** Size and time of one /metrics scrape with `sensors` sensors' series (4 channels each). */
export async function benchScrape(sensors: number): Promise<ScrapeRow> {
  const cfg = parseConfig({ metrics: { maxSensors: sensors } });
  const { Registry } = await import('prom-client');
  const { createMetrics } = await import('../observability/metrics.js');
  const metrics = createMetrics(new Registry(), { maxSensors: cfg.metrics.maxSensors });
  for (let s = 0; s < sensors; s++) {
    metrics.observeWindow({ sensor: `sensor-${s}`, score: 0.5, error: 0.1, threshold: 0.2, anomaly: false, channels: CHANNELS, channelShares: [0.25, 0.25, 0.25, 0.25] });
  }
  await metrics.registry.metrics();
  const t0 = performance.now();
  const text = await metrics.registry.metrics();
  return { name: 'scrape', sensors, bytes: Buffer.byteLength(text), seconds: Number(((performance.now() - t0) / 1000).toFixed(4)) };
}
