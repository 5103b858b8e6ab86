import type { TrainingConfig } from '../config/schema.js';
import type { PipelineOutput, Sink } from '../pipeline/contracts.js';
import type { EpochProgress, ModelBundle } from '../pipeline/model.js';
import { inheritSensors } from '../pipeline/model.js';
import { NormalBuffer, type BufferedWindow, type BufferSnapshot } from './buffer.js';
import type { SensorTrainingData } from './fit-group.js';
import { runGate, type GateResult } from './gate.js';
import type { LabelStore } from './labels.js';

/** One retraining's input: what the challenger learns from (the gate's windows are not in it). */
export interface TrainingJob {
  group: string;
  channels: readonly string[];
  data: SensorTrainingData[];
}

export type RunResult = 'promoted' | 'rejected' | 'failed';

export interface RetrainDeps {
  /** The group's current model, if it has one. */
  champion(group: string): ModelBundle | undefined;
  /** Trains a challenger off the scoring path (a child process in aemon). */
  train(job: TrainingJob, onEpoch: (p: EpochProgress) => void, signal: AbortSignal): Promise<ModelBundle>;
  /** Makes `bundle` the group's model (an atomic swap between batches; saved where models are kept). */
  promote(bundle: ModelBundle): Promise<void>;
  onStart?(group: string, windows: number, sensors: number): void;
  onEpoch?(group: string, p: EpochProgress): void;
  onRun?(
    group: string,
    result: RunResult,
    seconds: number,
    detail: { gate?: GateResult; error?: unknown; version?: string; at: number },
  ): void;
  /** Normal windows buffered, after each write (aemon_normal_windows). */
  onBufferSize?(windows: number): void;
  /** Windows taken as the new normal (training.newNormalAfterMs) in a write, when there were any (aemon_new_normal_windows_total). */
  onNewNormal?(windows: number): void;
}

export interface RetrainOptions {
  training: TrainingConfig;
  labels?: LabelStore;
  /**
   * Replay: the stream waits for a run to finish (so a replay gives the same output every time);
   * live: scoring goes on while the challenger trains.
   */
  awaitRuns: boolean;
}

/**
 * Splits each sensor's windows: every k-th (k = 1 / `holdOut`, counted from the newest) for the
 * gate, the rest to train on. Interleaved rather than the newest block, so a daily cycle does not
 * put the gate's windows in a phase the challenger never saw.
 */
export function splitForGate(
  snapshot: BufferSnapshot,
  holdOut: number,
): { job: TrainingJob; gate: Array<BufferedWindow & { sensor: string }> } {
  const data: SensorTrainingData[] = [];
  const gate: Array<BufferedWindow & { sensor: string }> = [];
  const every = Math.max(2, Math.round(1 / holdOut));
  for (const { sensor, windows } of snapshot.sensors) {
    const train: BufferedWindow[] = [];
    windows.forEach((w, i) => {
      if (windows.length >= 2 && (windows.length - 1 - i) % every === 0) gate.push({ ...w, sensor });
      else train.push(w);
    });
    if (train.length === 0) continue;
    const width = train[0]!.data.length;
    const rows = new Float32Array(train.length * width);
    train.forEach((w, i) => rows.set(w.data, i * width));
    data.push({ sensor, rows, windows: train.map((w) => w.data), first: train[0]!.start, last: train.at(-1)!.end });
  }
  return { job: { group: snapshot.group, channels: snapshot.channels, data }, gate };
}

/**
 * Retraining, as a sink: every scored window is offered to the normal-data buffer, and when a
 * group is due (`training.intervalMs` of event time since its model, or `training.afterWindows`
 * new normal windows) a challenger is trained on a snapshot of the buffer, compared with the
 * champion by the gate, and promoted only if it is not worse. One run per group at a time.
 */
export class Retrainer implements Sink {
  readonly name = 'retrain';
  /** Aborted when the sink closes in live mode: a training run in progress is abandoned. */
  private readonly stopping = new AbortController();
  readonly buffer: NormalBuffer;
  private readonly since = new Map<string, number>();
  private readonly running = new Map<string, Promise<void>>();
  private runs = 0;

  constructor(
    private readonly opts: RetrainOptions,
    private readonly deps: RetrainDeps,
  ) {
    const t = opts.training;
    this.buffer = new NormalBuffer(
      {
        windowsPerSensor: t.bufferWindows,
        anomalousPerGroup: t.anomalousWindows,
        autoNormalBelow: t.autoNormalBelow,
        neighbourhoodMs: t.neighbourhoodMs,
        stride: t.stride,
        newNormalAfterMs: t.newNormalAfterMs,
        newNormalTolerance: t.newNormalTolerance,
      },
      opts.labels,
    );
    // An anomalous label takes what was already buffered near it out of the next training set; a
    // label that came after its windows (an operator's verdict on an event) takes in those held back.
    opts.labels?.onAdd((l) => {
      if (l.label === 'anomaly') this.buffer.purge(l.sensor, l.from, l.to);
      this.buffer.adopt(l.sensor, l.from, l.to, l.label);
    });
  }

  /** Retraining runs started so far. */
  get started(): number {
    return this.runs;
  }

  async write(outputs: readonly PipelineOutput[]): Promise<void> {
    const due = new Map<string, number>();
    for (const o of outputs) {
      if (o.kind !== 'scored' || o.window === null) continue;
      const ws = o.window;
      const w = ws.window;
      if (o.rows.length > 0 && o.rows.every((r) => r.training)) continue;
      // Maintenance, a machine that is off, its start-up: never learnt from.
      if (o.rows.at(-1)?.suppressed) continue;
      this.buffer.offer(w, ws.score, o.rows.at(-1)?.anomaly ?? false);
      const from = this.since.get(w.group);
      if (from === undefined) {
        this.since.set(w.group, w.end);
        continue;
      }
      const t = this.opts.training;
      const byTime = t.intervalMs > 0 && w.end - from >= t.intervalMs;
      const byCount = t.afterWindows > 0 && this.buffer.fresh(w.group) >= t.afterWindows;
      if ((byTime || byCount) && !this.running.has(w.group) && this.buffer.windows(w.group) >= t.minWindows) {
        this.since.set(w.group, w.end);
        due.set(w.group, w.end);
      }
    }
    this.deps.onBufferSize?.(this.buffer.size);
    const taken = this.buffer.takeNewNormalCount();
    if (taken > 0) this.deps.onNewNormal?.(taken);
    for (const [group, at] of due) {
      const run = this.run(group, at).finally(() => this.running.delete(group));
      this.running.set(group, run);
      if (this.opts.awaitRuns) await run;
    }
  }

  /** Settles when no run is in progress. */
  async idle(): Promise<void> {
    await Promise.all(this.running.values());
  }

  async close(): Promise<void> {
    // Live: a shutdown does not wait for a challenger (its child process is stopped and nothing
    // is promoted). Replay: the stream already waited for every run.
    if (!this.opts.awaitRuns) this.stopping.abort();
    await this.idle();
  }

  /** `at`: the event time that made the group due. */
  private async run(group: string, at: number): Promise<void> {
    const champion = this.deps.champion(group);
    const snapshot = this.buffer.snapshot(group);
    if (!champion || !snapshot) return;
    this.runs++;
    const t0 = performance.now();
    const seconds = (): number => (performance.now() - t0) / 1000;
    const { job, gate } = splitForGate(snapshot, this.opts.training.holdOut);
    let challenger: ModelBundle | undefined;
    try {
      this.deps.onStart?.(
        group,
        job.data.reduce((s, d) => s + d.windows.length, 0),
        job.data.length,
      );
      challenger = await this.deps.train(job, (p) => this.deps.onEpoch?.(group, p), this.stopping.signal);
      if (this.stopping.signal.aborted) {
        challenger.model.dispose();
        return;
      }
      inheritSensors(challenger, champion);
      const t = this.opts.training;
      const verdict = await runGate(champion, challenger, gate, snapshot.anomalous, {
        falseAlarmTolerance: t.gateFalseAlarmTolerance,
        recallTolerance: t.gateRecallTolerance,
      });
      challenger.metadata.gate = { ...verdict, champion: { version: champion.metadata.version, ...verdict.champion } };
      if (!verdict.promoted) {
        challenger.model.dispose();
        this.deps.onRun?.(group, 'rejected', seconds(), { gate: verdict, version: challenger.metadata.version, at });
        return;
      }
      await this.deps.promote(challenger);
      this.deps.onRun?.(group, 'promoted', seconds(), { gate: verdict, version: challenger.metadata.version, at });
    } catch (error) {
      challenger?.model.dispose();
      if (this.stopping.signal.aborted) return; // stopped by the shutdown, not a failure
      this.deps.onRun?.(group, 'failed', seconds(), { error, at });
    }
  }
}
