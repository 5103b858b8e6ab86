import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

export type TrainingResult = 'promoted' | 'rejected' | 'failed';

export const TRAINING_RESULTS: readonly TrainingResult[] = ['promoted', 'rejected', 'failed'];

/** Training runs and the normal data they learn from. */
export interface TrainingMetrics {
  trainingRun(result: TrainingResult, seconds?: number): void;
  normalWindows(n: number): void;
  /** `n` more windows taken as the new normal. */
  newNormalWindows(n: number): void;
}

// Training runs from seconds (demo) to an hour (many sensors, many epochs).
const TRAINING_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600];

export function trainingMetrics(registers: Registry[]): TrainingMetrics {
  const trainingRuns = new Counter({
    name: 'aemon_training_runs_total',
    help: 'Training runs, by result (promoted, rejected, failed).',
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

  const newNormal = new Counter({
    name: 'aemon_new_normal_windows_total',
    help: 'Windows taken into the normal-data buffer as a new normal: a sensor steady out of the normal range for training.newNormalAfterMs.',
    registers,
  });

  // Zero series up front, so rate() and increase() see the first event of each kind.
  for (const result of TRAINING_RESULTS) trainingRuns.inc({ result }, 0);

  return {
    trainingRun(result, seconds) {
      trainingRuns.inc({ result });
      if (seconds !== undefined) trainingSeconds.observe(seconds);
    },
    normalWindows(n) {
      normalWindowsGauge.set(n);
    },
    newNormalWindows(n) {
      newNormal.inc(n);
    },
  };
}
