import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { KAFKA_CODECS } from '../../config/schema.js';
import type { Health } from '../health.js';

/** The Kafka consumer: lag, commits, rebalances, undecodable batches, stopped partitions. */
export interface KafkaMetrics {
  kafkaLag(topic: string, partition: number, lag: number): void;
  /** Drops a partition's lag series (after a rebalance took it away). */
  forgetKafkaPartition(topic: string, partition: number): void;
  /** `aemon_kafka_commits_total`: offset commits that reached the broker. */
  kafkaCommit(): void;
  /** `aemon_kafka_rebalances_total`: group (re)joins of this instance. */
  kafkaRebalance(): void;
  /** `aemon_kafka_decompress_errors_total`: record batches that could not be decompressed, by codec. */
  kafkaDecompressError(codec: string): void;
  /**
   * `aemon_decision_states_restored_total{result}`: sensors' decision states read back for newly
   * owned partitions, taken (`restored`) or not (`discarded`: other settings, ill-formed, or
   * written for offsets that were never committed).
   */
  decisionStateRestored(result: 'restored' | 'discarded', n: number): void;
}

/** `watchHealth` makes `aemon_kafka_partitions_stopped` and `aemon_kafka_fetch_age_seconds` read `health` when scraped. */
export function kafkaMetrics(registers: Registry[]): KafkaMetrics & { watchHealth(health: Health): void } {
  let health: Health | undefined;
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
  const statesRestored = new Counter({
    name: 'aemon_decision_states_restored_total',
    help: "Sensors' decision states read back for newly owned partitions: restored, or discarded (decided under other settings, ill-formed, or written for offsets never committed; those sensors start afresh).",
    labelNames: ['result'] as const,
    registers,
  });
  for (const result of ['restored', 'discarded']) statesRestored.inc({ result }, 0);
  const partitionsStopped = new Gauge({
    name: 'aemon_kafka_partitions_stopped',
    help: 'Input partitions stopped because a record derived from them could not be written anywhere.',
    registers,
    collect() {
      if (health) partitionsStopped.set(health.stoppedPartitions);
    },
  });
  const fetchAge = new Gauge({
    name: 'aemon_kafka_fetch_age_seconds',
    help: 'Seconds since the consumer last fetched or handed out a record.',
    registers,
    collect() {
      if (health) fetchAge.set(health.sinceProgressMs() / 1000);
    },
  });

  return {
    watchHealth(h) {
      health = h;
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
    decisionStateRestored(result, n) {
      if (n > 0) statesRestored.inc({ result }, n);
    },
    forgetKafkaPartition(topic, partition) {
      kafkaLagGauge.remove({ topic, partition: String(partition) });
    },
  };
}
