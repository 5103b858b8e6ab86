import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

/** What became of a models-topic record: one this instance published, or one it read. */
export type ModelRecordResult = 'published' | 'publish_failed' | 'applied' | 'skipped' | 'refused';

export const MODEL_RECORD_RESULTS: readonly ModelRecordResult[] = [
  'published',
  'publish_failed',
  'applied',
  'skipped',
  'refused',
];

/** The model in use and the models topic. */
export interface ModelMetrics {
  /** Replaces the `aemon_model_info` series: exactly one is exported, set to 1. */
  modelInfo(version: string, backend: string): void;
  modelTrained(epochSeconds: number): void;
  /** `aemon_model_records_total{result}`: a models-topic record published, applied, skipped or refused. */
  modelRecord(result: ModelRecordResult): void;
}

export function modelMetrics(registers: Registry[]): ModelMetrics {
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
  const modelRecords = new Counter({
    name: 'aemon_model_records_total',
    help: 'Models-topic records: published (or publish_failed) by this instance; read and applied, skipped (already current or older) or refused (checksum or shape).',
    labelNames: ['result'] as const,
    registers,
  });

  // Zero series up front, so rate() and increase() see the first event of each kind.
  for (const result of MODEL_RECORD_RESULTS) modelRecords.inc({ result }, 0);

  return {
    modelInfo(version, backend) {
      modelInfoGauge.reset();
      modelInfoGauge.set({ version, backend }, 1);
    },
    modelTrained(epochSeconds) {
      modelTrainedTs.set(epochSeconds);
    },
    modelRecord(result) {
      modelRecords.inc({ result });
    },
  };
}
