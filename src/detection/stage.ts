import { type OperatorFunction, type SchedulerLike, asyncScheduler, concatMap, pipe } from 'rxjs';
import type { DetectionConfig, ScoringConfig } from '../config/schema.js';
import type {
  DecidedWindow,
  PipelineOutput,
  Reading,
  ScoredReading,
  SensorWindow,
  SuppressReason,
  WindowOutput,
  WindowScore,
} from '../pipeline/contracts.js';
import { joinWhileBusy, microBatch } from '../pipeline/microbatch.js';
import type { OwnershipView } from '../pipeline/ownership.js';
import type { ModelProvider, ScoringTarget } from '../pipeline/model.js';
import type { AnomalyDetector } from './detector.js';
import { scoreBatch } from './scorer.js';
import type { SensorTracker } from './sensors.js';

export interface DetectStageOptions {
  scoring: ScoringConfig;
  detection: DetectionConfig;
  provider: ModelProvider;
  detector: AnomalyDetector;
  tracker: SensorTracker;
  /**
   * Wait for a model that is being trained (output then never depends on timing), or go on
   * with readings leaving unscored, as warming.
   */
  awaitTraining: boolean;
  scheduler?: SchedulerLike;
  /** Called once per model call with its duration and window count. */
  onBatch?: (seconds: number, windows: number) => void;
  /**
   * Replay with retraining: awaited before each batch (the sinks have written the previous one,
   * see the runner's WriteBarrier); `emitted` is called when a batch's outputs are ready.
   */
  lockstep?: { settled(): Promise<void> | undefined; emitted(): void };
  /**
   * The source's partition ownerships: a window of readings read under an assignment that has
   * ended is neither scored nor decided (its outputs are void, and the sensor's decision state
   * is the one restored for the partition's next assignment, which such a window must not move).
   */
  ownership?: OwnershipView;
}

type Slot =
  | { kind: 'out'; out: PipelineOutput }
  | { kind: 'score'; window: SensorWindow; target: ScoringTarget; training: number; index: number };

function unscoredRows(
  readings: readonly Reading[],
  channels: readonly string[],
  training: number,
  anomaly: boolean,
): ScoredReading[] {
  return readings.map((reading, i) => ({
    reading,
    score: null,
    rawScore: null,
    error: null,
    threshold: null,
    anomaly,
    channels,
    channelShares: null,
    windowId: null,
    training: i < training,
  }));
}

function readEnded(ownership: OwnershipView, readings: readonly Reading[]): boolean {
  for (const r of readings) if (ownership.state(r.origin, r.seq) === 'ended') return true;
  return false;
}

/** Rows carry the decision's score and threshold (what users see), and the raw score beside them. */
function scoredRows(
  ws: DecidedWindow,
  training: number,
  anomaly: boolean,
  suppressed: SuppressReason | undefined,
): ScoredReading[] {
  const last = ws.window.readings.length - 1;
  return ws.window.readings.map((reading, i) => {
    const row: ScoredReading = {
      reading,
      score: ws.verdict.score,
      rawScore: ws.score,
      error: ws.error,
      threshold: ws.verdict.threshold,
      anomaly,
      channels: ws.window.channels,
      channelShares: ws.channelShares,
      windowId: ws.window.id,
      training: i < training,
    };
    if (suppressed) row.suppressed = suppressed;
    // The reconstruction is of the window's last row, which is the last reading it releases.
    if (i === last && ws.reconstruction !== undefined && reading.ts === ws.window.end) {
      row.reconstruction = Array.from(ws.reconstruction);
      if (ws.tolerance !== undefined) row.tolerance = Array.from(ws.tolerance);
    }
    if (i === last && ws.latent !== undefined) row.latent = ws.latent;
    return row;
  });
}

/**
 * The scoring and decision stage: micro-batches windows across sensors, scores each batch with
 * one model call per model, runs the hysteresis per sensor in window order, and emits, per
 * batch and in input order, the score rows, anomaly events and passed-through rejections.
 */
export function detectStage(opts: DetectStageOptions): OperatorFunction<WindowOutput, PipelineOutput[]> {
  const scheduler = opts.scheduler ?? asyncScheduler;
  const { provider, detector, tracker } = opts;

  async function processBatch(batch: readonly WindowOutput[]): Promise<PipelineOutput[]> {
    await opts.lockstep?.settled();
    const outputs = await decideBatch(batch);
    opts.lockstep?.emitted();
    return outputs;
  }

  async function decideBatch(batch: readonly WindowOutput[]): Promise<PipelineOutput[]> {
    const slots: Slot[] = [];
    const toScore: Array<{ window: SensorWindow; target: ScoringTarget }> = [];
    const now = scheduler.now();
    for (const item of batch) {
      if (item.kind === 'rejected') {
        slots.push({ kind: 'out', out: item });
        continue;
      }
      const window = item.kind === 'window' ? item : null;
      const channels = window ? window.channels : (item.readings[0]?.channels ?? []);
      if (opts.ownership && readEnded(opts.ownership, item.readings)) {
        slots.push({
          kind: 'out',
          out: { kind: 'scored', rows: unscoredRows(item.readings, channels, 0, false), window: null },
        });
        continue;
      }
      const training = provider.observe(item.sensor, item.group, item.readings, window);
      // A window that releases only readings read again to rebuild state has no output to
      // write: its place in the window history is all that matters, so it is not scored.
      const replayOnly = item.readings.length > 0 && item.readings.every((r) => r.replayOnly);
      let target =
        window && !replayOnly && training < window.readings.length
          ? provider.target(item.sensor, item.group)
          : undefined;
      if (window && !target && !replayOnly && training < window.readings.length && opts.awaitTraining) {
        const pending = provider.pending(item.sensor, item.group);
        if (pending) {
          await pending;
          target = provider.target(item.sensor, item.group);
        }
      }
      tracker.note(item.sensor, now, target !== undefined);
      if (window && target) {
        slots.push({ kind: 'score', window, target, training, index: toScore.length });
        toScore.push({ window, target });
      } else {
        const rows = unscoredRows(item.readings, channels, training, detector.isOpen(item.sensor));
        slots.push({ kind: 'out', out: { kind: 'scored', rows, window: null } });
      }
    }

    let scores: WindowScore[] = [];
    if (toScore.length > 0) {
      const t0 = performance.now();
      scores = await scoreBatch(toScore, {
        latent: opts.scoring.latent,
        latentWeight: opts.scoring.latentWeight,
      });
      opts.onBatch?.((performance.now() - t0) / 1000, toScore.length);
    }

    const outputs: PipelineOutput[] = [];
    for (const slot of slots) {
      if (slot.kind === 'out') {
        outputs.push(slot.out);
        continue;
      }
      const scored = scores[slot.index]!;
      const { anomaly, events, verdict, severity, suppressed } = detector.decide(scored);
      const ws: DecidedWindow = { ...scored, verdict, anomalySeverity: severity };
      outputs.push({ kind: 'scored', rows: scoredRows(ws, slot.training, anomaly, suppressed), window: ws });
      for (const event of events) outputs.push({ kind: 'event', event });
    }
    return outputs;
  }

  // A model replaced during a batch is disposed once the batch settles.
  const settling = (batch: readonly WindowOutput[]): Promise<PipelineOutput[]> =>
    processBatch(batch).finally(() => provider.batchSettled?.());
  return pipe(
    microBatch<WindowOutput>(opts.scoring.batchSize, opts.scoring.maxWaitMs, scheduler),
    // Replay with retraining scores batch by batch in lockstep with the sinks (the same batches
    // every run); otherwise batches that arrive while the model is busy are joined into one call.
    opts.lockstep ? concatMap(settling) : joinWhileBusy(opts.scoring.batchSize, settling),
  );
}
