import { collectDefaultMetrics } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Health } from './health.js';
import { alarmMetrics } from './metrics/alarms.js';
import type { AlarmMetrics } from './metrics/alarms.js';
import { kafkaMetrics } from './metrics/kafka.js';
import type { KafkaMetrics } from './metrics/kafka.js';
import { modelMetrics } from './metrics/model.js';
import type { ModelMetrics } from './metrics/model.js';
import { pipelineMetrics } from './metrics/pipeline.js';
import type { PipelineMetrics } from './metrics/pipeline.js';
import { sensorSeriesMetrics } from './metrics/sensors.js';
import type { SensorSeriesMetrics } from './metrics/sensors.js';
import { sinkMetrics } from './metrics/sinks.js';
import type { SinkMetrics } from './metrics/sinks.js';
import { trainingMetrics } from './metrics/training.js';
import type { TrainingMetrics } from './metrics/training.js';

export { FEEDBACK_VERDICTS } from './metrics/alarms.js';
export type { FeedbackVerdict } from './metrics/alarms.js';
export { MODEL_RECORD_RESULTS } from './metrics/model.js';
export type { ModelRecordResult } from './metrics/model.js';
export { SEVERITY_LEVEL } from './metrics/sensors.js';
export type { WindowObservation } from './metrics/sensors.js';
export { TRAINING_RESULTS } from './metrics/training.js';
export type { TrainingResult } from './metrics/training.js';

/**
 * aemon's metrics (docs/operations.md#metrics), behind typed calls, one family per file under
 * metrics/. Callers observe once per window or batch, never per message.
 */
export interface AemonMetrics
  extends SensorSeriesMetrics, PipelineMetrics, ModelMetrics, TrainingMetrics, KafkaMetrics, SinkMetrics, AlarmMetrics {
  readonly registry: Registry;
  /**
   * `aemon_sink_failing{sink}` (1 while retrying), `aemon_kafka_partitions_stopped` and
   * `aemon_kafka_fetch_age_seconds`, read from `health` when scraped.
   */
  healthAtScrape(health: Health, sinks: readonly string[]): void;
}

export function createMetrics(registry: Registry, cfg: { maxSensors: number }): AemonMetrics {
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  const sensors = sensorSeriesMetrics(registers, cfg);
  const pipeline = pipelineMetrics(registers);
  const model = modelMetrics(registers);
  const training = trainingMetrics(registers);
  const alarms = alarmMetrics(registers);
  const { watchHealth: kafkaHealth, ...kafka } = kafkaMetrics(registers);
  const { watchHealth: sinkHealth, ...sinks } = sinkMetrics(registers);
  return {
    registry,
    ...sensors,
    ...pipeline,
    ...model,
    ...training,
    ...alarms,
    ...kafka,
    ...sinks,
    healthAtScrape(h, sinkNames) {
      sinkHealth(h, sinkNames);
      kafkaHealth(h);
    },
  };
}
