/**
 * Wiring only: builds the stages from config and hands them to the runner. The CLI commands
 * (src/cli/) choose sources and sinks; everything in between is the same for live and replay.
 */
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import type { Observable, SchedulerLike } from 'rxjs';
import type { Config } from './config/schema.js';
import { configWarnings } from './config/load.js';
import { alarmRoutes, feedbackHandler } from './admin/alarms.js';
import { digest, reply, tokenMatches } from './admin/server.js';
import { AnomalyDetector } from './detection/detector.js';
import { FeedbackDesk, type FeedbackResult } from './detection/feedback.js';
import type { PostedSpan } from './detection/suppress.js';
import { SensorTracker } from './detection/sensors.js';
import { detectStage } from './detection/stage.js';
import { selectBackend, type Tf } from './model/backend.js';
import { lstmOpAvailable } from './model/kernels/blockLstm.js';
import { createAutoencoder } from './model/autoencoder.js';
import { checkKernelPreference, simdTrainingNote } from './model/kernels/select.js';
import { exportArtifacts, loadModelFolder, modelVersion } from './model/io.js';
import type { ModelRegistry } from './model/registry.js';
import type { Health } from './observability/health.js';
import type { Logger } from './observability/logger.js';
import { createMetrics, type AemonMetrics, type FeedbackVerdict } from './observability/metrics.js';
import { eventTimeOnly } from './pipeline/clock.js';
import type { Sink, SourceRecord } from './pipeline/contracts.js';
import type { EpochProgress, ModelBundle } from './pipeline/model.js';
import type { Ownerships } from './pipeline/ownership.js';
import { InFlightGate, runPipeline, WriteBarrier, type RunStats } from './pipeline/runner.js';
import { startHttpServer, type ExtraRoute, type HttpServer } from './observability/http.js';
import { createRecordDecoder } from './sources/decoders/select.js';
import type { SchemaRegistryClient } from './sources/decoders/registry.js';
import { createLiveView, type LiveViewHandle } from './view/routes.js';
import { BootstrapTrainer } from './training/bootstrap.js';
import { trainInChild } from './training/child.js';
import { Retrainer } from './training/retrain.js';
import { LabelStore, type Label, type MaintenanceLabel } from './training/labels.js';
import { windowReadings } from './windowing/windows.js';

export interface EngineHooks {
  onTrainingStart?(group: string, windows: number, sensors: number): void;
  onEpoch?(group: string, progress: EpochProgress): void;
  onTrained?(bundle: ModelBundle, seconds: number): void;
  /** A group's first model could not be trained: the run then rejects with an `AEMON_TRAINING` error saying why. */
  onFailed?(group: string, error: unknown): void;
  /** A sensor new to a model got its scaler and threshold (the model's metadata now has it). */
  onSensorCalibrated?(sensor: string, group: string): void;
  /** A retrained model passed the gate and replaced its group's model. */
  onPromoted?(bundle: ModelBundle): void;
  /** A retraining run ended: promoted, rejected by the gate, or failed (with why). */
  onRetrained?(
    group: string,
    result: 'promoted' | 'rejected' | 'failed',
    seconds: number,
    version: string | undefined,
    why: string,
    at: number,
  ): void;
}

export interface EngineOptions {
  /** `replay` runs on event time only (processing-time timers never fire); `live` on the wall clock. */
  mode: 'live' | 'replay';
  log: Logger;
  /** Model folders to score with instead of training on a bootstrap period. */
  modelDirs?: readonly string[];
  /** A model registry whose groups' current versions are scored with (checksums verified). */
  models?: ModelRegistry;
  /** Models already in memory (benchmarks, tests) to score with, like loaded folders. */
  bundles?: readonly ModelBundle[];
  hooks?: EngineHooks;
  /** Clock for the decoder's future-timestamp check (the demo runs on simulated time). */
  now?: () => number;
  scheduler?: SchedulerLike;
  /** Operator labels the trainer respects (anomalous spans are never learned as normal). */
  labels?: LabelStore;
  /** Where `avro`/`protobuf`/`json-schema` schemas come from instead of `reading.schemaRegistry` (embedding, tests). */
  schemaRegistry?: SchemaRegistryClient;
  /**
   * The consumer group's partition ownerships (`aemon run`): what was read under an assignment
   * that ended is neither decided nor written, and a sensor read under one starts afresh.
   */
  ownership?: Ownerships;
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
  /** The consumer group's partition ownerships the engine was built with (`aemon run`). */
  ownership: Ownerships | undefined;
  /** Retraining (when training.intervalMs or training.afterWindows is set): a sink every run includes. */
  retrainer: Retrainer | undefined;
  /** The operator labels the trainers respect (the one given, or the engine's own). */
  labels: LabelStore;
  /** Operators' verdicts on anomaly events: a sink every run includes. */
  feedback: FeedbackDesk;
  /**
   * A label from the labels topic or the admin API: `normal` / `anomaly` go to the trainers,
   * `maintenance` becomes a suppressed span (sensor `*`: every sensor).
   */
  label(label: Label | MaintenanceLabel): void;
  /** Suppresses a span of event time (a maintenance window posted at run time). */
  suppress(span: PostedSpan): void;
  /**
   * Marks event `id` as a false alarm or confirmed (`undefined`: no such event remembered), with
   * the event's windows now in the retraining's normal buffer (`null` without retraining).
   */
  markEvent(id: string, verdict: FeedbackVerdict): (FeedbackResult & { normalWindows: number | null }) | undefined;
  /**
   * Scores the bundle's model group with it from now on (e.g. after a rollback); the model it
   * replaces is disposed once no batch uses it. `aemon_model_info` follows.
   */
  swapModel(bundle: ModelBundle): void;
  run(records$: Observable<SourceRecord>, sinks: readonly Sink[], signal?: AbortSignal): Promise<RunStats>;
}

/**
 * `/metrics`, `/healthz` and `/readyz` (ready once a model is, and while `health` has no
 * problem) on `metrics.host:port`, if enabled, plus extra routes (the live view's page, snapshots and event stream).
 */
export async function serveMetrics(
  engine: Engine,
  log: Logger,
  extraRoutes: readonly ExtraRoute[] = [],
  health?: Health,
): Promise<HttpServer | undefined> {
  const m = engine.cfg.metrics;
  if (!m.enabled) return undefined;
  return startHttpServer({
    host: m.host,
    port: m.port,
    registry: engine.registry,
    ready: () => engine.trainer.models().length > 0,
    ...(health ? { problems: () => health.problems() } : {}),
    extraRoutes,
    log,
  });
}

/**
 * The live view (`GET /` on the metrics server) for a live engine: add `sink` to the run's
 * sinks, pass `routes` to {@link serveMetrics}, call `close` when the run ends.
 */
export function liveViewFor(engine: Engine): LiveViewHandle {
  const { cfg } = engine;
  const token = cfg.admin.token.trim();
  // With an admin token the page can mark events, sending that token: the same check as the admin port's.
  const mark = feedbackHandler({ feedback: (id, verdict) => engine.markEvent(id, verdict) });
  const expected = digest(token);
  return createLiveView({
    backend: engine.backend,
    maxSensors: cfg.metrics.maxSensors,
    staleAfterMs: cfg.sensors.staleAfterMs,
    // The models in use: a sensor's windows are drawn over its current model's training sample.
    latentSpace: (version) => engine.trainer.models().find((b) => b.metadata.version === version)?.metadata.latent,
    feedback:
      token === ''
        ? undefined
        : async (req, res) => {
            if (tokenMatches(req.headers.authorization, expected)) return mark(req, res);
            reply(res, 401, { error: 'a valid admin token is required to mark events' });
          },
  });
}

/** The admin port's routes about alarms (maintenance spans, verdicts on events) for an engine. */
export function adminAlarmRoutes(engine: Engine, log: Logger): ReturnType<typeof alarmRoutes> {
  return alarmRoutes({
    suppress: (span) => engine.suppress(span),
    feedback: (id, verdict) => engine.markEvent(id, verdict),
    log,
  });
}

/** The decoder of `reading.format`, checking channels against the models and reporting schema-registry retries. */
function engineDecoder(
  cfg: Readonly<Config>,
  opts: EngineOptions,
  trainer: BootstrapTrainer,
  metrics: AemonMetrics,
): ReturnType<typeof createRecordDecoder> {
  const { log } = opts;
  return createRecordDecoder(cfg.reading, {
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.schemaRegistry ? { registry: opts.schemaRegistry } : {}),
    channelsFor: (sensor: string) => trainer.modelChannels(sensor),
    onRegistryRetry: (err, attempt, delayMs) => {
      metrics.schemaRegistryError();
      // The first failure may be a blip; from the second on, every one is an error to act on.
      (attempt === 1 ? log.warn : log.error).call(
        log,
        { code: 'AEMON_SCHEMA_REGISTRY', attempt, retryInMs: delayMs },
        `AEMON_SCHEMA_REGISTRY: ${err.message}; its records wait (nothing is committed past them), retrying in ${delayMs} ms`,
      );
    },
  });
}

/** The scoring and decision stage over the trainer's models (in lockstep with the writes when `barrier` is given). */
function scoringStage(
  cfg: Readonly<Config>,
  opts: EngineOptions,
  parts: {
    trainer: BootstrapTrainer;
    detector: AnomalyDetector;
    tracker: SensorTracker;
    metrics: AemonMetrics;
    barrier: WriteBarrier | undefined;
  },
): ReturnType<typeof detectStage> {
  const { trainer, detector, tracker, metrics, barrier } = parts;
  return detectStage({
    scoring: cfg.scoring,
    detection: cfg.detection,
    provider: trainer,
    detector,
    tracker,
    // No model yet means nothing to score with: the stream waits (Kafka keeps the records, the
    // simulator pauses) rather than letting readings pass unscored.
    awaitTraining: true,
    // Replay with retraining: micro-batches close by size only (no wall-clock flush), so a
    // promotion lands on the same batch every run and the replay repeats byte for byte.
    ...(barrier ? { scheduler: eventTimeOnly } : opts.scheduler ? { scheduler: opts.scheduler } : {}),
    onBatch: (seconds) => metrics.scoringBatch(seconds),
    ...(barrier ? { lockstep: barrier } : {}),
    ...(opts.ownership ? { ownership: opts.ownership } : {}),
  });
}

function logVoided(log: Logger, n: number): void {
  log.info(
    { voided: n },
    `${n} readings read under a partition assignment that ended were acked without writing their outputs (the partition's owner writes them)`,
  );
}

/** In-flight records at most, before sources wait (explicit backpressure). */
const HIGH_WATER = 10_000;

export async function createEngine(cfg: Readonly<Config>, opts: EngineOptions): Promise<Engine> {
  const { log } = opts;
  for (const warning of configWarnings(cfg)) log.warn({ deprecated: true }, warning);
  const { tf, backend } = await startBackend(cfg, log);

  const registry = new Registry();
  const metrics = createMetrics(registry, { maxSensors: cfg.metrics.maxSensors });
  const loaded = await loadModels(cfg, opts, tf, backend, metrics);

  const labels = opts.labels ?? new LabelStore();
  const trainer = bootstrapTrainer(cfg, { ...opts, labels }, { tf, backend, metrics, loaded });

  const detector = new AnomalyDetector(cfg.detection);
  if (cfg.view.externalUrl !== '') metrics.viewInfo(cfg.view.externalUrl);
  const tracker = new SensorTracker(cfg.sensors.staleAfterMs);
  // Counted when scraped, not after every batch (a pass over every sensor).
  metrics.sensorsAtScrape(() => tracker.counts(Date.now()));
  const gate = new InFlightGate(HIGH_WATER);
  const t = cfg.training;
  const retrainer =
    t.intervalMs > 0 || t.afterWindows > 0
      ? retrainerFor(cfg, { ...opts, labels }, { tf, backend, metrics, trainer })
      : undefined;
  const feedback = new FeedbackDesk({
    mutes: detector.mutes,
    label: (l) => labels.add(l),
    counted: (verdict) => metrics.feedback(verdict),
  });
  const suppress = (span: PostedSpan): void => {
    detector.suppressor.post(span);
    log.info(
      { span: { ...span, start: new Date(span.start).toISOString(), end: new Date(span.end).toISOString() } },
      `maintenance span posted for ${span.sensors === 'all' ? 'every sensor' : span.sensors.join(', ')}`,
    );
  };
  const decode = engineDecoder(cfg, opts, trainer, metrics);
  const replay = opts.mode === 'replay';
  // Replay with retraining scores each micro-batch after the previous one is written (and a
  // model it promoted is in place), as live scoring would after a promotion.
  const barrier = replay && retrainer ? new WriteBarrier() : undefined;
  const window = windowReadings(cfg.windowing, replay ? eventTimeOnly : opts.scheduler, opts.ownership);
  const detect = scoringStage(cfg, opts, { trainer, detector, tracker, metrics, barrier });

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
    ownership: opts.ownership,
    retrainer,
    labels,
    feedback,
    label: (l) => {
      if (l.label === 'maintenance')
        suppress({ sensors: l.sensor === '*' ? 'all' : [l.sensor], start: l.from, end: l.to, reason: 'labels' });
      else labels.add(l);
    },
    suppress,
    markEvent: (id, verdict) => {
      const result = feedback.mark(id, verdict);
      if (!result) return undefined;
      const { sensor, from, to } = result.label;
      log.info({ event: id, sensor, verdict, muted: result.muted }, `event ${id} of ${sensor} marked ${verdict}`);
      return { ...result, normalWindows: retrainer ? retrainer.buffer.normalWithin(sensor, from, to).length : null };
    },
    swapModel: (bundle) => {
      trainer.replace(bundle);
      metrics.modelInfo(bundle.metadata.version, backend);
      metrics.modelTrained(Date.parse(bundle.metadata.createdAt) / 1000);
      log.info(
        { group: bundle.metadata.group, version: bundle.metadata.version },
        `now scoring [${bundle.metadata.group}] with model ${bundle.metadata.version}`,
      );
    },
    run: (records$, sinks, signal) =>
      runPipeline({
        records$,
        decode,
        window,
        detect,
        sinks: retrainer ? [...sinks, feedback, retrainer] : [...sinks, feedback],
        gate,
        ...(signal ? { signal } : {}),
        ...(barrier ? { barrier } : {}),
        ...(opts.ownership ? { ownership: opts.ownership, onVoided: (n: number) => logVoided(log, n) } : {}),
      }),
  };
}

/** aemon's CLI beside this module (dist/cli/index.js, or src/cli/index.ts under tsx), for child processes. */
export const CLI = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? './cli/index.ts' : './cli/index.js', import.meta.url),
);

/** The TensorFlow.js backend `model.backend` asks for, said in the log; a kernel it cannot run fails here. */
async function startBackend(cfg: Readonly<Config>, log: Logger): Promise<{ tf: Tf; backend: string }> {
  const { tf, backend, note, degraded } = await selectBackend(cfg.model.backend);
  // A faster backend that is installed but broken is worth a warning (commands show warnings).
  (degraded ? log.warn : log.info).call(
    log,
    { backend, note },
    `tensorflow.js backend: ${backend}${note ? ` (${note})` : ''}`,
  );
  if (backend === 'tensorflow' && cfg.model.kernel !== 'layers' && cfg.model.kernel !== 'simd') {
    const op = lstmOpAvailable();
    log.info(
      { lstmOp: op },
      op
        ? "fused kernel scores with aemon's LSTM op"
        : `fused kernel scores with TensorFlow's BlockLSTM (${cfg.model.lstmOp ? "aemon's LSTM op is not built: npm run lstm-op" : 'model.lstmOp is false'})`,
    );
  }
  // An explicit `fused` kernel off the tensorflow backend fails here, not at the first training.
  checkKernelPreference(tf, cfg.model.kernel);
  if (backend !== 'tensorflow') log.debug({ kernel: cfg.model.kernel }, simdTrainingNote(cfg.model));
  return { tf, backend };
}

interface EngineParts {
  tf: Tf;
  backend: string;
  metrics: AemonMetrics;
}

/** The models to score with from the start: given bundles, model folders, the registry's current versions. */
async function loadModels(
  cfg: Readonly<Config>,
  opts: EngineOptions,
  tf: Tf,
  backend: string,
  metrics: AemonMetrics,
): Promise<ModelBundle[]> {
  const { log } = opts;
  const loaded: ModelBundle[] = [...(opts.bundles ?? [])];
  for (const b of loaded) metrics.modelInfo(b.metadata.version, backend);
  const noteLoaded = (bundle: ModelBundle, dir: string): void => {
    log.info(
      { dir, version: bundle.metadata.version, group: bundle.metadata.group },
      `loaded model ${bundle.metadata.version} from ${dir}`,
    );
    metrics.modelInfo(bundle.metadata.version, backend);
    metrics.modelTrained(Date.parse(bundle.metadata.createdAt) / 1000);
  };
  for (const dir of opts.modelDirs ?? []) {
    const bundle = await loadModelFolder(dir, tf, backend, cfg.model);
    noteLoaded(bundle, dir);
    loaded.push(bundle);
  }
  if (opts.models) {
    for (const bundle of await opts.models.loadCurrent(tf, backend, cfg.model)) {
      noteLoaded(bundle, opts.models.root);
      loaded.push(bundle);
    }
  }
  return loaded;
}

/** The trainer of each group's first model (and keeper of the models in use), reporting to log, metrics and hooks. */
function bootstrapTrainer(
  cfg: Readonly<Config>,
  opts: EngineOptions,
  { tf, backend, metrics, loaded }: EngineParts & { loaded: ModelBundle[] },
): BootstrapTrainer {
  const { log } = opts;
  const hooks = opts.hooks ?? {};
  return new BootstrapTrainer(
    { model: cfg.model, training: cfg.training, detection: cfg.detection, windowing: cfg.windowing },
    {
      createModel: async (params) => createAutoencoder(tf, backend, params, cfg.model),
      versionOf: async (model) => {
        const { weights, topology } = await exportArtifacts(model);
        return modelVersion(weights, topology);
      },
      onTrainingStart: (group, windows, sensors) => {
        log.info(
          { group, windows, sensors },
          `training a model for channels [${group}] on ${windows} windows of ${sensors} sensor(s)`,
        );
        hooks.onTrainingStart?.(group, windows, sensors);
      },
      onEpoch: (group, p) => hooks.onEpoch?.(group, p),
      onTrained: (bundle, seconds) => {
        const { version, fit, group } = bundle.metadata;
        log.info(
          { group, version, seconds, epochs: fit?.epochs, valLoss: fit?.valLoss.at(-1) },
          `model ${version} trained in ${seconds.toFixed(1)} s`,
        );
        metrics.modelInfo(version, backend);
        metrics.modelTrained(Date.now() / 1000);
        metrics.trainingRun('promoted', seconds);
        hooks.onTrained?.(bundle, seconds);
      },
      onFailed: (group, error) => {
        // Not logged as an error here: the run fails with it, and the command prints it once.
        log.debug({ group, err: error }, `training failed for channels [${group}]: ${(error as Error).message}`);
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
}

/** Retraining in a child process, promoting into `trainer`'s models; reports to log, metrics and hooks. */
function retrainerFor(
  cfg: Readonly<Config>,
  opts: EngineOptions,
  { tf, backend, metrics, trainer }: EngineParts & { trainer: BootstrapTrainer },
): Retrainer {
  const { log } = opts;
  const hooks = opts.hooks ?? {};
  return new Retrainer(
    { training: cfg.training, ...(opts.labels ? { labels: opts.labels } : {}), awaitRuns: opts.mode === 'replay' },
    {
      champion: (group) => trainer.models().find((b) => b.metadata.group === group),
      train: (job, onEpoch, signal) =>
        trainInChild(
          job,
          { cfg, backend, cli: CLI, load: (dir) => loadModelFolder(dir, tf, backend, cfg.model) },
          onEpoch,
          signal,
        ),
      promote: async (bundle) => {
        trainer.replace(bundle);
        metrics.modelInfo(bundle.metadata.version, backend);
        metrics.modelTrained(Date.now() / 1000);
        hooks.onPromoted?.(bundle);
      },
      onStart: (group, windows, sensors) => {
        log.info(
          { group, windows, sensors },
          `retraining channels [${group}] on ${windows} normal windows of ${sensors} sensor(s), in a child process`,
        );
      },
      onEpoch: (group, p) =>
        log.debug(
          { group, epoch: p.epoch, loss: p.loss, valLoss: p.valLoss },
          `retraining [${group}]: epoch ${p.epoch}`,
        ),
      onRun: (group, result, seconds, detail) => {
        metrics.trainingRun(result, seconds);
        const what = `retraining of [${group}] ${result} after ${seconds.toFixed(1)} s`;
        if (result === 'failed') log.error({ group, err: detail.error }, `${what}: ${(detail.error as Error).message}`);
        else
          log.info(
            { group, version: detail.version, gate: detail.gate },
            `${what}: model ${detail.version}; ${detail.gate?.reason ?? ''}`,
          );
        hooks.onRetrained?.(
          group,
          result,
          seconds,
          detail.version,
          result === 'failed' ? (detail.error as Error).message : (detail.gate?.reason ?? ''),
          detail.at,
        );
      },
      onBufferSize: (n) => metrics.normalWindows(n),
      onNewNormal: (n) => metrics.newNormalWindows(n),
    },
  );
}
