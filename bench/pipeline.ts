import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Observable, type Subscriber } from 'rxjs';
import { loadConfig, parseConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { createEngine, type Engine } from '../src/main.js';
import { createAutoencoder } from '../src/model/autoencoder.js';
import type { LstmAutoencoder } from '../src/model/autoencoder.js';
import { createLogger } from '../src/observability/logger.js';
import type { PipelineOutput, Sink, SourceRecord } from '../src/pipeline/contracts.js';
import type {
  Autoencoder,
  BatchErrors,
  ModelBundle,
  ModelHyperParams,
  SensorCalibration,
} from '../src/pipeline/model.js';
import { quantile } from '../src/pipeline/calibration.js';
import type { InFlightGate } from '../src/pipeline/runner.js';
import { metricsSink } from '../src/sinks/prometheus.js';

export interface PipelineRow {
  /** `pipeline`: scored by M0; `pipeline-nomodel`: a no-op scorer, so the row is the pipeline alone. */
  name: 'pipeline' | 'pipeline-nomodel';
  sensors: number;
  readings: number;
  readingsPerSecond: number;
  /** Readings per second of this process's CPU time (user + system): steadier than wall time on a shared machine. */
  readingsPerCpuSecond: number;
  p50Seconds: number;
  p99Seconds: number;
  rssBytes: number;
  engine: string;
}

export const CHANNELS = ['a', 'b', 'c', 'd'];

/** What scores the bench's windows: M0-sized LSTM (untrained weights) or nothing at all. */
export type BenchScorer = 'lstm' | 'none';

/**
 * An autoencoder that does no arithmetic: zero errors of the right shape. It stands in for the
 * model where the bench measures everything around it.
 */
export function noopAutoencoder(params: ModelHyperParams): Autoencoder {
  return {
    params,
    backend: 'none',
    fit: () => Promise.reject(new Error('the no-op scorer cannot be trained')),
    score: (_x: Float32Array, n: number): Promise<BatchErrors> =>
      Promise.resolve({ errors: new Float32Array(n), channelErrors: new Float32Array(n * params.channels) }),
    reconstruct: (x: Float32Array) => Promise.resolve(new Float32Array(x.length)),
    encode: (_x: Float32Array, n: number) => Promise.resolve(new Float32Array(n * params.units)),
    dispose: () => {},
  };
}

/** The bench's config: windows of 32 every 8 readings, no reordering delay, batches of ≤ 512 windows, series for `maxSensors` sensors. */
export function benchConfig(maxSensors = 1000): Readonly<Config> {
  // AEMON_* env applies (e.g. AEMON_MODEL_BACKEND=wasm); the bench's own shape wins over it.
  return loadConfig({
    env: process.env,
    overrides: {
      windowing: { size: 32, stride: 8, reorder: { maxDelayMs: 0 } },
      scoring: { batchSize: 512, maxWaitMs: 20 },
      metrics: { maxSensors },
    },
  });
}

/** An engine scoring sensors `s0…s{n-1}` (4 channels, identity scalers, threshold 1) with `scorer`. */
export async function benchEngine(
  cfg: Readonly<Config>,
  sensors: number,
  scorer: BenchScorer,
): Promise<{ engine: Engine; model: Autoencoder }> {
  const log = createLogger('warn');
  const engine0 = await createEngine(cfg, { mode: 'live', log });
  const params = {
    windowSize: 32,
    channels: CHANNELS.length,
    units: 32,
    depth: 1,
    dropout: 0,
    loss: 'mse' as const,
    learningRate: 0.001,
    seed: 1,
  };
  const model =
    scorer === 'lstm'
      ? createAutoencoder(engine0.tf, engine0.backend, params, cfg.model.kernel)
      : noopAutoencoder(params);
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
  return { engine: await createEngine(cfg, { mode: 'live', log, bundles: [bundle] }), model };
}

/** Channel values of sensor `s` at step `i`. */
export function benchValues(i: number, s: number): Record<string, number> {
  return { a: Math.sin(i / 5 + s), b: Math.cos(i / 7), c: (i % 13) / 13, d: s % 3 };
}

/** The bench's records need no ack: one shared function, so the source allocates no closure per record. */
const NO_ACK = (): void => {};

/** A Kafka-like record: the JSON bytes of the documented reading (ISO-8601 `ts`), keyed by sensor. */
export function jsonRecord(
  sensor: string,
  ts: number,
  values: Record<string, number>,
  seq: number,
  arrivedAt: number,
): SourceRecord {
  const raw = Buffer.from(JSON.stringify({ sensor, ts: new Date(ts).toISOString(), values }));
  return { raw, key: sensor, origin: { source: 'bench' }, arrivedAt, seq, ack: NO_ACK };
}

/**
 * Emits `records(i, s, seq)` for steps `i` of every sensor `s`, round by round, as fast as the
 * gate lets it; lets scoring run every 8 rounds, as a live source does.
 */
export function fleet(
  gate: InFlightGate,
  sensors: number,
  readingsPerSensor: number,
  record: (i: number, s: number, seq: number) => SourceRecord,
): Observable<SourceRecord> {
  return new Observable<SourceRecord>((sub: Subscriber<SourceRecord>) => {
    let stop = false;
    void (async () => {
      let seq = 0;
      for (let i = 0; i < readingsPerSensor && !stop; i++) {
        for (let s = 0; s < sensors && !stop; s++) {
          const wait = gate.ready();
          if (wait) await wait;
          sub.next(record(i, s, seq++));
        }
        if (i % 8 === 7) await new Promise((r) => setImmediate(r));
      }
      sub.complete();
    })();
    return () => {
      stop = true;
    };
  });
}

/**
 * Readings/s through decode → reorder → windows → micro-batch → score → decide → metrics, for a
 * fleet of `sensors` with 4 channels each, windows of 32 every 8 readings (stride 8). With the
 * `lstm` scorer windows go through an M0-sized model (untrained weights: the arithmetic is the
 * same) and readings arrive as parsed fields; with `none` a no-op scorer returns zeros and
 * readings arrive as JSON bytes in the documented layout (ISO-8601 `ts`; pre-encoded, as a Kafka
 * consumer hands them out), so the row is the pipeline's own cost. All readings are offered at once, as fast as the in-flight limit
 * lets them in: reading→score latency (arrival to the write of its window's score) is then mostly
 * queueing and waiting for the fleet's next `stride` rounds — see {@link benchPaced} for latency
 * at a real arrival rate.
 */
export async function benchPipeline(
  sensors: number,
  readingsPerSensor: number,
  scorer: BenchScorer = 'lstm',
): Promise<PipelineRow> {
  const cfg = benchConfig();
  const { engine, model } = await benchEngine(cfg, sensors, scorer);
  const t0 = Date.UTC(2026, 0, 1);
  const total = sensors * readingsPerSensor;
  const latencies = new Float64Array(total);
  let n = 0;
  const latency: Sink = {
    name: 'latency',
    async write(outputs: readonly PipelineOutput[]) {
      const now = Date.now();
      for (const o of outputs)
        if (o.kind === 'scored' && o.window)
          for (const r of o.rows) latencies[n++] = (now - r.reading.arrivedAt) / 1000;
    },
    async close() {},
  };
  let record: (i: number, s: number, seq: number) => SourceRecord;
  if (scorer === 'lstm') {
    record = (i, s, seq) => ({
      raw: '',
      fields: { sensor: `s${s}`, ts: t0 + i * 1000, values: benchValues(i, s) },
      origin: { source: 'bench' },
      arrivedAt: Date.now(),
      seq,
      ack: NO_ACK,
    });
  } else {
    const ids = Array.from({ length: sensors }, (_, s) => `s${s}`);
    const bytes = new Array<Buffer>(total);
    for (let i = 0, k = 0; i < readingsPerSensor; i++) {
      for (let s = 0; s < sensors; s++, k++)
        bytes[k] = jsonRecord(ids[s]!, t0 + i * 1000, benchValues(i, s), k, 0).raw as Buffer;
    }
    record = (_i, s, seq) => ({
      raw: bytes[seq]!,
      key: ids[s]!,
      origin: { source: 'bench' },
      arrivedAt: Date.now(),
      seq,
      ack: NO_ACK,
    });
  }
  const records$ = fleet(engine.gate, sensors, readingsPerSensor, record);
  const rss0 = process.memoryUsage().rss;
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  const stats = await engine.run(records$, [metricsSink(engine.metrics), latency]);
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - start) / 1000;
  const scored = latencies.subarray(0, n);
  model.dispose();
  return {
    name: scorer === 'lstm' ? 'pipeline' : 'pipeline-nomodel',
    sensors,
    readings: stats.readings,
    readingsPerSecond: Math.round(stats.readings / seconds),
    readingsPerCpuSecond: Math.round(stats.readings / ((cpu.user + cpu.system) / 1e6)),
    p50Seconds: Number(quantile(scored, 0.5).toFixed(4)),
    p99Seconds: Number(quantile(scored, 0.99).toFixed(4)),
    rssBytes: Math.max(0, process.memoryUsage().rss - rss0),
    engine: scorer === 'lstm' ? `${engine.backend}-${(model as LstmAutoencoder).kernel}` : 'none',
  };
}

/**
 * {@link benchPipeline} in a process of its own, as `aemon run` has one, after an untimed pass of
 * a quarter of the readings (JIT and allocation warmed up, the steady state a running service is
 * in): rows measured one after another in one process otherwise carry each other's heap and
 * compiled code. The process inherits the environment (AEMON_MODEL_BACKEND and the rest).
 */
export async function benchPipelineFresh(
  sensors: number,
  readingsPerSensor: number,
  scorer: BenchScorer = 'lstm',
): Promise<PipelineRow> {
  return rowInChild<PipelineRow>('pipeline-row.ts', [String(sensors), String(readingsPerSensor), scorer]);
}

/** Runs `bench/<script> ...args` in a process of its own (this one's node flags and environment); its last stdout line is the row, as JSON. */
export async function rowInChild<T>(script: string, args: string[]): Promise<T> {
  const child = spawn(
    process.execPath,
    [...process.execArgv, fileURLToPath(new URL(`./${script}`, import.meta.url)), ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  // TensorFlow's start-up notice (printed by every process that loads tfjs-node) once is enough.
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    const lines = err.split('\n');
    err = lines.pop() ?? '';
    for (const l of lines) if (!TF_NOTICE.test(l)) process.stderr.write(l + '\n');
  });
  const code = await new Promise<number>((done) => child.on('close', (c) => done(c ?? 1)));
  if (err !== '' && !TF_NOTICE.test(err)) process.stderr.write(err + '\n');
  const last = out.trim().split('\n').pop() ?? '';
  if (code !== 0 || !last.startsWith('{')) throw new Error(`bench: ${script} failed (exit ${code}):\n${out}`);
  return JSON.parse(last) as T;
}

const TF_NOTICE = /^WARNING: All log messages before absl::InitializeLog|oneDNN custom operations are on/;

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
  const { createMetrics } = await import('../src/observability/metrics.js');
  const metrics = createMetrics(new Registry(), { maxSensors: cfg.metrics.maxSensors });
  const observeAll = (score: number): void => {
    for (let s = 0; s < sensors; s++) {
      metrics.observeWindow({
        sensor: `sensor-${s}`,
        score,
        rawScore: score,
        error: 0.1,
        threshold: 0.2,
        anomaly: false,
        channels: CHANNELS,
        channelShares: [0.25, 0.25, 0.25, 0.25],
      });
    }
  };
  observeAll(0.5);
  await metrics.registry.metrics();
  // Every sensor has a new window since the last scrape, as between two real scrapes.
  observeAll(0.6);
  const t0 = performance.now();
  const text = await metrics.registry.metrics();
  return {
    name: 'scrape',
    sensors,
    bytes: Buffer.byteLength(text),
    seconds: Number(((performance.now() - t0) / 1000).toFixed(4)),
  };
}
