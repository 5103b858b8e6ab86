import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { REJECT_REASONS } from '../../pipeline/contracts.js';
import { BatchHistogram } from './batch-histogram.js';
import type { RejectReason, SensorState } from '../../pipeline/contracts.js';

/** Readings in, rejected, windows scored and how long scoring takes; sensors by state. */
export interface PipelineMetrics {
  readingsIn(source: string, n?: number): void;
  rejected(reason: RejectReason, n?: number): void;
  /** `aemon_schema_registry_errors_total`: schema lookups that failed and are retried (registry down, 5xx, 401/403). */
  schemaRegistryError(): void;
  windowsScored(n: number): void;
  scoringBatch(seconds: number): void;
  /** Arrival → scored latency of each reading a batch of windows released. */
  eventToScore(seconds: ArrayLike<number>): void;
  /** Sensors by state; a state left out is exported as 0. */
  sensors(countsByState: Readonly<Partial<Record<SensorState, number>>>): void;
  /**
   * Sensors by state, counted by `counts` when scraped (so a scrape sees states go stale even
   * while no reading comes, and counting costs nothing per batch).
   */
  sensorsAtScrape(counts: () => Readonly<Partial<Record<SensorState, number>>>): void;
}

const SENSOR_STATES: readonly SensorState[] = ['warming', 'scoring', 'stale'];

// Buckets: scoring a micro-batch takes sub-millisecond (pure JS, tiny batch) to seconds (large
// batch on WASM); event → score includes micro-batch waits and reordering delays.
const SCORING_BATCH_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const EVENT_TO_SCORE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 60];

export function pipelineMetrics(registers: Registry[]): PipelineMetrics {
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
  // One observation per reading: a histogram that takes a batch's in one call.
  const eventToScoreSeconds = new BatchHistogram(
    'aemon_event_to_score_seconds',
    "Time from a reading's arrival to its window being scored.",
    EVENT_TO_SCORE_BUCKETS,
    registers,
  );
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

  // Zero series up front, so rate() and increase() see the first event of each kind.
  for (const reason of REJECT_REASONS) rejectedTotal.inc({ reason }, 0);
  const schemaRegistryErrors = new Counter({
    name: 'aemon_schema_registry_errors_total',
    help: 'Schema lookups that failed and are retried (the registry cannot be reached, answered 5xx, or refused the credentials); the records of that schema wait meanwhile.',
    registers,
  });
  for (const state of SENSOR_STATES) sensorsGauge.set({ state }, 0);

  return {
    readingsIn(source, n = 1) {
      readingsTotal.inc({ source }, n);
    },
    rejected(reason, n = 1) {
      rejectedTotal.inc({ reason }, n);
    },
    schemaRegistryError() {
      schemaRegistryErrors.inc();
    },
    windowsScored(n) {
      windowsScoredTotal.inc(n);
    },
    scoringBatch(seconds) {
      scoringBatchSeconds.observe(seconds);
    },
    eventToScore(seconds) {
      eventToScoreSeconds.observeMany(seconds);
    },
    sensors(countsByState) {
      for (const state of SENSOR_STATES) sensorsGauge.set({ state }, countsByState[state] ?? 0);
    },
    sensorsAtScrape(counts) {
      sensorCounts = counts;
    },
  };
}
