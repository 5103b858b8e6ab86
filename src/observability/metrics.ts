import { Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';
import type { Registry } from 'prom-client';
import { KAFKA_CODECS } from '../config/schema.js';
import { REJECT_REASONS, SUPPRESS_REASONS } from '../pipeline/contracts.js';
import type { RejectReason, SensorState, SuppressReason } from '../pipeline/contracts.js';
import type { Health } from './health.js';

/** One scored window of one sensor, as `aemon_anomaly_score` and its siblings export it. */
export interface WindowObservation {
  sensor: string;
  /** `error / threshold`. */
  score: number;
  error: number;
  threshold: number;
  /** State after hysteresis; when absent `aemon_anomaly` keeps its previous value. */
  anomaly?: boolean | undefined;
  channels: readonly string[];
  /** Each channel's share of `error`, in `channels` order. */
  channelShares: ArrayLike<number>;
}

export const FEEDBACK_VERDICTS = ['false_alarm', 'confirmed'] as const;
/** An operator's mark on an anomaly event. */
export type FeedbackVerdict = (typeof FEEDBACK_VERDICTS)[number];

export type TrainingResult = 'promoted' | 'rejected' | 'failed';

export const TRAINING_RESULTS: readonly TrainingResult[] = ['promoted', 'rejected', 'failed'];

/** What became of a models-topic record: one this instance published, or one it read. */
export type ModelRecordResult = 'published' | 'publish_failed' | 'applied' | 'skipped' | 'refused';

export const MODEL_RECORD_RESULTS: readonly ModelRecordResult[] = [
  'published',
  'publish_failed',
  'applied',
  'skipped',
  'refused',
];
const SENSOR_STATES: readonly SensorState[] = ['warming', 'scoring', 'stale'];

/**
 * aemon's metrics (docs/operations.md#metrics), behind typed calls. Callers observe once per
 * window or batch, never per message. Per-sensor series exist for at most `maxSensors` sensors:
 * a newcomer takes the place of the tracked sensor with the lowest latest score if its own score
 * is higher, so the sensors worth looking at stay visible.
 */
export interface AemonMetrics {
  readonly registry: Registry;
  /**
   * The per-sensor gauges and `aemon_channel_error{sensor,channel}` of one window. Only the
   * latest window of a sensor is visible to a scrape, so this keeps the values and the gauges
   * are set when scraped: a window costs a map lookup, not eight label look-ups.
   */
  observeWindow(o: WindowObservation): void;
  /** `aemon_anomalies_total{sensor}` (only for a sensor that has series). */
  anomalyOpened(sensor: string): void;
  readingsIn(source: string, n?: number): void;
  rejected(reason: RejectReason, n?: number): void;
  windowsScored(n: number): void;
  scoringBatch(seconds: number): void;
  /** Arrival → scored latency of each reading a batch of windows released. */
  eventToScore(seconds: readonly number[]): void;
  /** Replaces the `aemon_model_info` series: exactly one is exported, set to 1. */
  modelInfo(version: string, backend: string): void;
  modelTrained(epochSeconds: number): void;
  trainingRun(result: TrainingResult, seconds?: number): void;
  /** `aemon_model_records_total{result}`: a models-topic record published, applied, skipped or refused. */
  modelRecord(result: ModelRecordResult): void;
  normalWindows(n: number): void;
  /** `aemon_suppressed_windows_total{reason}`: windows neither alarmed on nor learnt from. */
  suppressedWindows(reason: SuppressReason, n?: number): void;
  /** `aemon_feedback_total{verdict}`: operators' marks on anomaly events. */
  feedback(verdict: FeedbackVerdict): void;
  /** `aemon_view_info{url}` = 1: the live view's external URL, for links in alerts. */
  viewInfo(url: string): void;
  /** Sensors by state; a state left out is exported as 0. */
  sensors(countsByState: Readonly<Partial<Record<SensorState, number>>>): void;
  /**
   * Sensors by state, counted by `counts` when scraped (so a scrape sees states go stale even
   * while no reading comes, and counting costs nothing per batch).
   */
  sensorsAtScrape(counts: () => Readonly<Partial<Record<SensorState, number>>>): void;
  kafkaLag(topic: string, partition: number, lag: number): void;
  /** Drops a partition's lag series (after a rebalance took it away). */
  forgetKafkaPartition(topic: string, partition: number): void;
  /** `aemon_kafka_commits_total`: offset commits that reached the broker. */
  kafkaCommit(): void;
  /** `aemon_kafka_rebalances_total`: group (re)joins of this instance. */
  kafkaRebalance(): void;
  /** `aemon_kafka_decompress_errors_total`: record batches that could not be decompressed, by codec. */
  kafkaDecompressError(codec: string): void;
  /** `aemon_dlq_truncated_total`: DLQ records whose value was cut to fit the topic's `max.message.bytes`. */
  dlqTruncated(n: number): void;
  /** `aemon_sink_write_retries_total{sink}`: failed writes that are retried. */
  sinkRetry(sink: string): void;
  /** `aemon_sink_fallback_total{topic}`: records written to `kafka.dlqFallbackFile` because `topic` refused them. */
  sinkFallback(topic: string, n: number): void;
  /**
   * `aemon_sink_failing{sink}` (1 while retrying), `aemon_kafka_partitions_stopped` and
   * `aemon_kafka_fetch_age_seconds`, read from `health` when scraped.
   */
  healthAtScrape(health: Health, sinks: readonly string[]): void;
  /** Drops a sensor's series and tracking (e.g. it was evicted as stale). */
  forgetSensor(sensor: string): void;
  /** Sensors that currently have per-sensor series. */
  trackedSensors(): string[];
}

// Buckets: scoring a micro-batch takes sub-millisecond (pure JS, tiny batch) to seconds (large
// batch on WASM); event → score includes micro-batch waits and reordering delays; training runs
// from seconds (demo) to an hour (many sensors, many epochs).
const SCORING_BATCH_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const EVENT_TO_SCORE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const TRAINING_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600];

interface Tracked {
  /** The latest score as ranked for eviction (NaN → -Infinity). */
  score: number;
  channels: readonly string[];
  /** The latest window's values, exported at the next scrape (see `flushWindows`). */
  value: number;
  error: number;
  threshold: number;
  /** 1/0, or undefined while no window carried the hysteresis state. */
  anomaly: number | undefined;
  shares: ArrayLike<number>;
  /** Observed since the last scrape. */
  dirty: boolean;
}

/** NaN never outranks a real score, so it cannot push out a tracked sensor. */
const rank = (score: number): number => (Number.isNaN(score) ? -Infinity : score);

export function createMetrics(registry: Registry, cfg: { maxSensors: number }): AemonMetrics {
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const anomalyScore = new Gauge({
    name: 'aemon_anomaly_score',
    help: 'Latest window reconstruction error divided by the threshold (>1 means above threshold).',
    labelNames: ['sensor'] as const,
    registers,
    collect: () => flushWindows(),
  });
  const reconstructionError = new Gauge({
    name: 'aemon_reconstruction_error',
    help: 'Latest window reconstruction error, in scaled units.',
    labelNames: ['sensor'] as const,
    registers,
    collect: () => flushWindows(),
  });
  const threshold = new Gauge({
    name: 'aemon_threshold',
    help: 'Current anomaly threshold of the sensor, in scaled units.',
    labelNames: ['sensor'] as const,
    registers,
    collect: () => flushWindows(),
  });
  const anomaly = new Gauge({
    name: 'aemon_anomaly',
    help: 'Whether the sensor is anomalous (1) or not (0), after hysteresis.',
    labelNames: ['sensor'] as const,
    registers,
    collect: () => flushWindows(),
  });
  const anomaliesTotal = new Counter({
    name: 'aemon_anomalies_total',
    help: 'Anomaly events opened.',
    labelNames: ['sensor'] as const,
    registers,
  });
  const channelError = new Gauge({
    name: 'aemon_channel_error',
    help: "A channel's share of the latest window reconstruction error (shares sum to 1).",
    labelNames: ['sensor', 'channel'] as const,
    registers,
    collect: () => flushWindows(),
  });
  const readingsTotal = new Counter({
    name: 'aemon_readings_total',
    help: 'Readings received, valid or not, by source.',
    labelNames: ['source'] as const,
    registers,
  });
  const rejectedTotal = new Counter({
    name: 'aemon_readings_rejected_total',
    help: 'Readings rejected and routed to the dead-letter sink, by reason.',
    labelNames: ['reason'] as const,
    registers,
  });
  const windowsScoredTotal = new Counter({
    name: 'aemon_windows_scored_total',
    help: 'Windows scored by the autoencoder.',
    registers,
  });
  const scoringBatchSeconds = new Histogram({
    name: 'aemon_scoring_batch_seconds',
    help: 'Time to score one micro-batch of windows.',
    buckets: SCORING_BATCH_BUCKETS,
    registers,
  });
  const eventToScoreSeconds = new Histogram({
    name: 'aemon_event_to_score_seconds',
    help: "Time from a reading's arrival to its window being scored.",
    buckets: EVENT_TO_SCORE_BUCKETS,
    registers,
  });
  const modelInfoGauge = new Gauge({
    name: 'aemon_model_info',
    help: 'The model in use (always 1), by version and TensorFlow.js backend.',
    labelNames: ['version', 'backend'] as const,
    registers,
  });
  const modelTrainedTs = new Gauge({
    name: 'aemon_model_trained_timestamp_seconds',
    help: 'Unix time the model in use was trained.',
    registers,
  });
  const trainingRuns = new Counter({
    name: 'aemon_training_runs_total',
    help: 'Training runs, by result (promoted, rejected, failed).',
    labelNames: ['result'] as const,
    registers,
  });
  const modelRecords = new Counter({
    name: 'aemon_model_records_total',
    help: 'Models-topic records: published (or publish_failed) by this instance; read and applied, skipped (already current or older) or refused (checksum or shape).',
    labelNames: ['result'] as const,
    registers,
  });
  const trainingSeconds = new Histogram({
    name: 'aemon_training_seconds',
    help: 'Duration of a training run.',
    buckets: TRAINING_BUCKETS,
    registers,
  });
  const normalWindowsGauge = new Gauge({
    name: 'aemon_normal_windows',
    help: 'Windows in the normal-data buffer that training learns from.',
    registers,
  });
  let sensorCounts: (() => Readonly<Partial<Record<SensorState, number>>>) | undefined;
  const sensorsGauge = new Gauge({
    name: 'aemon_sensors',
    help: 'Sensors being tracked, by state (warming, scoring, stale).',
    labelNames: ['state'] as const,
    registers,
    collect: () => {
      if (sensorCounts === undefined) return;
      const counts = sensorCounts();
      for (const state of SENSOR_STATES) sensorsGauge.set({ state }, counts[state] ?? 0);
    },
  });
  const kafkaLagGauge = new Gauge({
    name: 'aemon_kafka_lag',
    help: 'Consumer lag in records, by topic and partition.',
    labelNames: ['topic', 'partition'] as const,
    registers,
  });
  const kafkaCommits = new Counter({
    name: 'aemon_kafka_commits_total',
    help: 'Offset commits that reached the broker (offsets of readings whose outputs were all written).',
    registers,
  });
  const kafkaRebalances = new Counter({
    name: 'aemon_kafka_rebalances_total',
    help: 'Times this instance joined (or re-joined) its consumer group.',
    registers,
  });
  const kafkaDecompressErrors = new Counter({
    name: 'aemon_kafka_decompress_errors_total',
    help: 'Fetched record batches that could not be decompressed (or whose codec is missing), by codec; consuming from its broker waits at such a batch.',
    labelNames: ['codec'] as const,
    registers,
  });
  for (const codec of KAFKA_CODECS) kafkaDecompressErrors.inc({ codec }, 0);
  const dlqTruncatedTotal = new Counter({
    name: 'aemon_dlq_truncated_total',
    help: "Dead-letter records whose value was truncated to fit the DLQ topic's max.message.bytes (headers keep the original size and SHA-256).",
    registers,
  });
  const sinkRetries = new Counter({
    name: 'aemon_sink_write_retries_total',
    help: 'Sink writes that failed for a retryable reason and are retried (commits wait meanwhile).',
    labelNames: ['sink'] as const,
    registers,
  });
  const sinkFallbacks = new Counter({
    name: 'aemon_sink_fallback_total',
    help: 'Records a topic refused for good, written to kafka.dlqFallbackFile instead.',
    labelNames: ['topic'] as const,
    registers,
  });
  let health: { h: Health; sinks: readonly string[] } | undefined;
  const sinkFailing = new Gauge({
    name: 'aemon_sink_failing',
    help: '1 while a sink retries a failed write, else 0.',
    labelNames: ['sink'] as const,
    registers,
    collect() {
      if (health) for (const sink of health.sinks) sinkFailing.set({ sink }, health.h.isSinkFailing(sink) ? 1 : 0);
    },
  });
  const partitionsStopped = new Gauge({
    name: 'aemon_kafka_partitions_stopped',
    help: 'Input partitions stopped because a record derived from them could not be written anywhere.',
    registers,
    collect() {
      if (health) partitionsStopped.set(health.h.stoppedPartitions);
    },
  });
  const fetchAge = new Gauge({
    name: 'aemon_kafka_fetch_age_seconds',
    help: 'Seconds since the consumer last fetched or handed out a record.',
    registers,
    collect() {
      if (health) fetchAge.set(health.h.sinceProgressMs() / 1000);
    },
  });
  const seriesDropped = new Gauge({
    name: 'aemon_sensor_series_dropped',
    help: 'Sensors seen whose per-sensor series are not exported because of metrics.maxSensors.',
    registers,
  });

  const suppressedTotal = new Counter({
    name: 'aemon_suppressed_windows_total',
    help: 'Windows suppressed (no anomaly opened, not learnt from), by why: calendar, maintenance, condition, grace.',
    labelNames: ['reason'] as const,
    registers,
  });
  const feedbackTotal = new Counter({
    name: 'aemon_feedback_total',
    help: "Operators' marks on anomaly events, by verdict (false_alarm, confirmed).",
    labelNames: ['verdict'] as const,
    registers,
  });
  const viewInfoGauge = new Gauge({
    name: 'aemon_view_info',
    help: "The live view's external URL (view.externalUrl), for links in alert annotations; always 1.",
    labelNames: ['url'] as const,
    registers,
  });

  // Zero series up front, so rate() and increase() see the first event of each kind.
  for (const result of TRAINING_RESULTS) trainingRuns.inc({ result }, 0);
  for (const result of MODEL_RECORD_RESULTS) modelRecords.inc({ result }, 0);
  for (const reason of REJECT_REASONS) rejectedTotal.inc({ reason }, 0);
  for (const state of SENSOR_STATES) sensorsGauge.set({ state }, 0);
  for (const reason of SUPPRESS_REASONS) suppressedTotal.inc({ reason }, 0);
  for (const verdict of FEEDBACK_VERDICTS) feedbackTotal.inc({ verdict }, 0);

  const tracked = new Map<string, Tracked>();
  const untracked = new Set<string>();
  // Lowest-scoring tracked sensor, cached so a stream of untracked sensors does not rescan the
  // map for every window; `null` means unknown (rescan when needed).
  let lowest: { sensor: string; score: number } | null = null;

  const findLowest = (): { sensor: string; score: number } | null => {
    if (lowest === null) {
      for (const [sensor, t] of tracked) {
        if (lowest === null || t.score < lowest.score) lowest = { sensor, score: t.score };
      }
    }
    return lowest;
  };

  const setScore = (sensor: string, t: Tracked, score: number): void => {
    t.score = score;
    if (lowest === null) return;
    if (lowest.sensor === sensor) lowest = score <= lowest.score ? { sensor, score } : null;
    else if (score < lowest.score) lowest = { sensor, score };
  };

  // Sets the gauges of every sensor observed since the last scrape (each per-sensor gauge's
  // `collect`: whichever a scrape reads first does it for all).
  function flushWindows(): void {
    for (const [sensor, t] of tracked) {
      if (!t.dirty) continue;
      t.dirty = false;
      const labels = { sensor };
      anomalyScore.set(labels, t.value);
      reconstructionError.set(labels, t.error);
      threshold.set(labels, t.threshold);
      if (t.anomaly !== undefined) anomaly.set(labels, t.anomaly);
      for (let i = 0; i < t.channels.length; i++) {
        channelError.set({ sensor, channel: t.channels[i] as string }, t.shares[i] ?? NaN);
      }
    }
  }

  const removeSeries = (sensor: string): void => {
    const t = tracked.get(sensor);
    if (t === undefined) return;
    for (const g of [anomalyScore, reconstructionError, threshold, anomaly]) g.remove({ sensor });
    anomaliesTotal.remove({ sensor });
    for (const channel of t.channels) channelError.remove({ sensor, channel });
    tracked.delete(sensor);
    if (lowest?.sensor === sensor) lowest = null;
  };

  const admit = (sensor: string, score: number): Tracked | undefined => {
    if (tracked.size >= cfg.maxSensors) {
      const victim = findLowest();
      if (victim === null || !(score > victim.score)) {
        // Every window of an untracked sensor comes here: the gauge changes only for a newcomer.
        if (!untracked.has(sensor)) {
          untracked.add(sensor);
          seriesDropped.set(untracked.size);
        }
        return undefined;
      }
      removeSeries(victim.sensor);
      untracked.add(victim.sensor);
    }
    const t: Tracked = {
      score,
      channels: [],
      value: NaN,
      error: NaN,
      threshold: NaN,
      anomaly: undefined,
      shares: [],
      dirty: false,
    };
    tracked.set(sensor, t);
    // Exported from 0, so increase() sees a sensor's first anomaly.
    anomaliesTotal.inc({ sensor }, 0);
    untracked.delete(sensor);
    seriesDropped.set(untracked.size);
    if (lowest !== null && score < lowest.score) lowest = { sensor, score };
    return t;
  };

  return {
    registry,
    observeWindow(o) {
      const score = rank(o.score);
      const t = tracked.get(o.sensor) ?? admit(o.sensor, score);
      if (t === undefined) return;
      setScore(o.sensor, t, score);
      t.value = o.score;
      t.error = o.error;
      t.threshold = o.threshold;
      if (o.anomaly !== undefined) t.anomaly = o.anomaly ? 1 : 0;
      if (t.channels !== o.channels) {
        for (const channel of t.channels) {
          if (!o.channels.includes(channel)) channelError.remove({ sensor: o.sensor, channel });
        }
        t.channels = o.channels;
      }
      t.shares = o.channelShares;
      t.dirty = true;
    },
    anomalyOpened(sensor) {
      if (tracked.has(sensor)) anomaliesTotal.inc({ sensor });
    },
    readingsIn(source, n = 1) {
      readingsTotal.inc({ source }, n);
    },
    rejected(reason, n = 1) {
      rejectedTotal.inc({ reason }, n);
    },
    windowsScored(n) {
      windowsScoredTotal.inc(n);
    },
    scoringBatch(seconds) {
      scoringBatchSeconds.observe(seconds);
    },
    eventToScore(seconds) {
      for (const s of seconds) eventToScoreSeconds.observe(s);
    },
    modelInfo(version, backend) {
      modelInfoGauge.reset();
      modelInfoGauge.set({ version, backend }, 1);
    },
    modelTrained(epochSeconds) {
      modelTrainedTs.set(epochSeconds);
    },
    trainingRun(result, seconds) {
      trainingRuns.inc({ result });
      if (seconds !== undefined) trainingSeconds.observe(seconds);
    },
    modelRecord(result) {
      modelRecords.inc({ result });
    },
    normalWindows(n) {
      normalWindowsGauge.set(n);
    },
    suppressedWindows(reason, n = 1) {
      suppressedTotal.inc({ reason }, n);
    },
    feedback(verdict) {
      feedbackTotal.inc({ verdict });
    },
    viewInfo(url) {
      viewInfoGauge.reset();
      viewInfoGauge.set({ url }, 1);
    },
    sensors(countsByState) {
      for (const state of SENSOR_STATES) sensorsGauge.set({ state }, countsByState[state] ?? 0);
    },
    sensorsAtScrape(counts) {
      sensorCounts = counts;
    },
    kafkaLag(topic, partition, lag) {
      kafkaLagGauge.set({ topic, partition: String(partition) }, lag);
    },
    kafkaCommit() {
      kafkaCommits.inc();
    },
    kafkaRebalance() {
      kafkaRebalances.inc();
    },
    kafkaDecompressError(codec) {
      kafkaDecompressErrors.inc({ codec });
    },
    forgetKafkaPartition(topic, partition) {
      kafkaLagGauge.remove({ topic, partition: String(partition) });
    },
    dlqTruncated(n) {
      dlqTruncatedTotal.inc(n);
    },
    sinkRetry(sink) {
      sinkRetries.inc({ sink });
    },
    sinkFallback(topic, n) {
      sinkFallbacks.inc({ topic }, n);
    },
    healthAtScrape(h, sinks) {
      health = { h, sinks };
      for (const sink of sinks) sinkRetries.inc({ sink }, 0);
    },
    forgetSensor(sensor) {
      removeSeries(sensor);
      untracked.delete(sensor);
      seriesDropped.set(untracked.size);
    },
    trackedSensors() {
      return [...tracked.keys()];
    },
  };
}
