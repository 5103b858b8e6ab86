/**
 * Wiring only: builds the stages from config and hands them to the runner. The CLI commands
 * (src/cli/) choose sources and sinks; everything in between is the same for live and replay.
 */
import { Registry } from 'prom-client';
import type { Observable, SchedulerLike } from 'rxjs';
import type { Config } from './config/schema.js';
import { AnomalyDetector } from './detection/detector.js';
import { SensorTracker } from './detection/sensors.js';
import { detectStage } from './detection/stage.js';
import { selectBackend, type Tf } from './model/backend.js';
import { createAutoencoder } from './model/autoencoder.js';
import { checkKernelPreference } from './model/fusedModel.js';
import { exportArtifacts, loadModelFolder, modelVersion } from './model/io.js';
import type { Logger } from './observability/logger.js';
import { createMetrics, type AemonMetrics } from './observability/metrics.js';
import { eventTimeOnly } from './pipeline/clock.js';
import type { Reading, Rejection, Sink, SourceRecord } from './pipeline/contracts.js';
import type { EpochProgress, ModelBundle } from './pipeline/model.js';
import { InFlightGate, runPipeline, type RunStats } from './pipeline/runner.js';
import { startHttpServer, type HttpServer } from './sinks/http.js';
import { createDecoder } from './sources/decode.js';
import { BootstrapTrainer } from './training/bootstrap.js';
import type { LabelStore } from './training/labels.js';
import { windowReadings } from './windowing/windows.js';

export interface EngineHooks {
  onTrainingStart?(group: string, windows: number, sensors: number): void;
  onEpoch?(group: string, progress: EpochProgress): void;
  onTrained?(bundle: ModelBundle, seconds: number): void;
  onFailed?(group: string, error: unknown): void;
  /** A sensor new to a model got its scaler and threshold (the model's metadata now has it). */
  onSensorCalibrated?(sensor: string, group: string): void;
}

export interface EngineOptions {
  /** `replay` runs on event time only (processing-time timers never fire); `live` on the wall clock. */
  mode: 'live' | 'replay';
  log: Logger;
  /** Model folders to score with instead of training on a bootstrap period. */
  modelDirs?: readonly string[];
  /** Models already in memory (benchmarks, tests) to score with, like loaded folders. */
  bundles?: readonly ModelBundle[];
  hooks?: EngineHooks;
  /** Clock for the decoder's future-timestamp check (the demo runs on simulated time). */
  now?: () => number;
  scheduler?: SchedulerLike;
  /** Operator labels the trainer respects (anomalous spans are never learned as normal). */
  labels?: LabelStore;
}

/** Everything between a source and the sinks, built from config. */
export interface Engine {
  cfg: Readonly<Config>;
  backend: string;
  /** The TensorFlow.js namespace on the chosen backend. */
  tf: Tf;
  registry: Registry;
  metrics: AemonMetrics;
  trainer: BootstrapTrainer;
  detector: AnomalyDetector;
  tracker: SensorTracker;
  gate: InFlightGate;
  run(records$: Observable<SourceRecord>, sinks: readonly Sink[], signal?: AbortSignal): Promise<RunStats>;
}

/** `/metrics`, `/healthz` and `/readyz` (ready once a model is) on `metrics.host:port`, if enabled. */
export async function serveMetrics(engine: Engine, log: Logger): Promise<HttpServer | undefined> {
  const m = engine.cfg.metrics;
  if (!m.enabled) return undefined;
  return startHttpServer({ host: m.host, port: m.port, registry: engine.registry, ready: () => engine.trainer.models().length > 0, log });
}

/** In-flight records at most, before sources wait (explicit backpressure). */
const HIGH_WATER = 10_000;

export async function createEngine(cfg: Readonly<Config>, opts: EngineOptions): Promise<Engine> {
  const { log } = opts;
  const { tf, backend, note } = await selectBackend(cfg.model.backend);
  log.info({ backend, note }, `tensorflow.js backend: ${backend}${note ? ` (${note})` : ''}`);
  // An explicit `fused` kernel off the tensorflow backend fails here, not at the first training.
  checkKernelPreference(tf, cfg.model.kernel);

  const registry = new Registry();
  const metrics = createMetrics(registry, { maxSensors: cfg.metrics.maxSensors });
  const loaded: ModelBundle[] = [...(opts.bundles ?? [])];
  for (const b of loaded) metrics.modelInfo(b.metadata.version, backend);
  for (const dir of opts.modelDirs ?? []) {
    const bundle = await loadModelFolder(dir, tf, backend, cfg.model.kernel);
    log.info({ dir, version: bundle.metadata.version, group: bundle.metadata.group }, `loaded model ${bundle.metadata.version} from ${dir}`);
    metrics.modelInfo(bundle.metadata.version, backend);
    metrics.modelTrained(Date.parse(bundle.metadata.createdAt) / 1000);
    loaded.push(bundle);
  }

  const hooks = opts.hooks ?? {};
  const trainer = new BootstrapTrainer(
    { model: cfg.model, training: cfg.training, detection: cfg.detection, windowing: cfg.windowing },
    {
      createModel: async (params) => createAutoencoder(tf, backend, params, cfg.model.kernel),
      versionOf: async (model) => {
        const { weights, topology } = await exportArtifacts(model);
        return modelVersion(weights, topology);
      },
      onTrainingStart: (group, windows, sensors) => {
        log.info({ group, windows, sensors }, `training a model for channels [${group}] on ${windows} windows of ${sensors} sensor(s)`);
        hooks.onTrainingStart?.(group, windows, sensors);
      },
      onEpoch: (group, p) => hooks.onEpoch?.(group, p),
      onTrained: (bundle, seconds) => {
        const { version, fit, group } = bundle.metadata;
        log.info({ group, version, seconds, epochs: fit?.epochs, valLoss: fit?.valLoss.at(-1) }, `model ${version} trained in ${seconds.toFixed(1)} s`);
        metrics.modelInfo(version, backend);
        metrics.modelTrained(Date.now() / 1000);
        metrics.trainingRun('promoted', seconds);
        hooks.onTrained?.(bundle, seconds);
      },
      onFailed: (group, error) => {
        log.error({ group, err: error }, `training failed for channels [${group}]: ${(error as Error).message}`);
        metrics.trainingRun('failed');
        hooks.onFailed?.(group, error);
      },
      ...(opts.labels ? { labels: opts.labels } : {}),
      onSensorCalibrated: (sensor, group, c) => {
        log.info({ sensor, threshold: c.threshold }, `calibrated ${sensor} against the existing model`);
        hooks.onSensorCalibrated?.(sensor, group);
      },
    },
    loaded,
  );

  const detector = new AnomalyDetector(cfg.detection);
  const tracker = new SensorTracker(cfg.sensors.staleAfterMs);
  // Counted when scraped, not after every batch (a pass over every sensor).
  metrics.sensorsAtScrape(() => tracker.counts(Date.now()));
  const gate = new InFlightGate(HIGH_WATER);
  const decode = createDecoder(cfg.reading, {
    ...(opts.now ? { now: opts.now } : {}),
    channelsFor: (sensor: string) => trainer.modelChannels(sensor),
  });
  const replay = opts.mode === 'replay';
  const window = windowReadings(cfg.windowing, replay ? eventTimeOnly : opts.scheduler);
  const detect = detectStage({
    scoring: cfg.scoring,
    detection: cfg.detection,
    provider: trainer,
    detector,
    tracker,
    // No model yet means nothing to score with: the stream waits (Kafka keeps the records, the
    // simulator pauses) rather than letting readings pass unscored.
    awaitTraining: true,
    ...(opts.scheduler ? { scheduler: opts.scheduler } : {}),
    onBatch: (seconds) => metrics.scoringBatch(seconds),
  });

  return {
    cfg,
    backend,
    tf,
    registry,
    metrics,
    trainer,
    detector,
    tracker,
    gate,
    run: (records$, sinks, signal) =>
      runPipeline({
        records$,
        decode: decode as (r: SourceRecord) => Reading | Rejection,
        window,
        detect,
        sinks,
        gate,
        ...(signal ? { signal } : {}),
      }),
  };
}
