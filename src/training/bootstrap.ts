import { AemonError } from '../errors.js';
import type { DetectionConfig, ModelConfig, TrainingConfig, WindowingConfig } from '../config/schema.js';
import { applyScaler, calibrateErrors, fitScaler } from '../pipeline/calibration.js';
import { trainGroup } from './fit-group.js';
import type { Reading, SensorWindow } from '../pipeline/contracts.js';
import type { LabelStore } from './labels.js';
import { ModelStore } from './store.js';
import type {
  Autoencoder,
  EpochProgress,
  ModelBundle,
  ModelHyperParams,
  ModelProvider,
  SensorCalibration,
  ScoringTarget,
} from '../pipeline/model.js';

export interface TrainerDeps {
  createModel(params: ModelHyperParams): Promise<Autoencoder>;
  /** Content-derived version of a trained model. */
  versionOf(model: Autoencoder): Promise<string>;
  onTrainingStart?(group: string, windows: number, sensors: number): void;
  onEpoch?(group: string, progress: EpochProgress): void;
  onTrained?(bundle: ModelBundle, seconds: number): void;
  onFailed?(group: string, error: unknown): void;
  onSensorCalibrated?(sensor: string, group: string, calibration: SensorCalibration): void;
  /** Operator labels: bootstrap readings and windows labelled anomalous are not learned from. */
  labels?: LabelStore;
}

export interface TrainerConfig {
  model: ModelConfig;
  training: TrainingConfig;
  detection: DetectionConfig;
  windowing: Pick<WindowingConfig, 'size'>;
}

interface SensorBuffer {
  sensor: string;
  /** Bootstrap readings seen so far (counting stops at twice the bootstrap size). */
  count: number;
  rows: number[];
  windows: Float32Array[];
  windowsSeen: number;
  first: number;
  last: number;
  done: boolean;
  calibration?: SensorCalibration;
  calibrating?: Promise<void>;
}

interface GroupState {
  group: string;
  channels: string[];
  sensors: Map<string, SensorBuffer>;
  training?: Promise<void>;
  /** Why the group's first model could not be trained: every sensor waiting on it fails with this. */
  failed?: AemonError;
}

/**
 * The first model of each model group, learned from a bootstrap period: each sensor's first
 * `training.bootstrapReadings` readings are taken as normal. The group trains when every sensor
 * it knows has finished its bootstrap (or one has seen twice as many readings, so a silent
 * sensor cannot hold the others back); a sensor that shows up later is calibrated (scaler and
 * threshold) on its own bootstrap against the existing model. The models themselves (loaded,
 * trained here, or swapped in) are kept in its `store`.
 */
export class BootstrapTrainer implements ModelProvider {
  /** Bootstrap state of the groups this trainer saw readings of. */
  private readonly groups = new Map<string, GroupState>();
  readonly store: ModelStore;

  constructor(
    private readonly cfg: TrainerConfig,
    private readonly deps: TrainerDeps,
    loaded: readonly ModelBundle[] = [],
  ) {
    this.store = new ModelStore(loaded);
  }

  models(): ModelBundle[] {
    return this.store.models();
  }

  /**
   * Scores the bundle's group with it from now on (a rollback, a promoted retrain). Sensors
   * calibrated in this process but unknown to the new model calibrate again against it on their
   * next bootstrap period. The replaced model is disposed after the scoring batch in flight.
   */
  replace(bundle: ModelBundle): void {
    this.store.swap(bundle);
    const gs = this.groups.get(bundle.metadata.group);
    if (!gs) return;
    for (const sb of [...gs.sensors.values()]) {
      if (sb.calibration && !bundle.metadata.sensors[sb.sensor]) gs.sensors.delete(sb.sensor);
    }
  }

  batchSettled(): void {
    this.store.batchSettled();
  }

  /** The channels of the model that has `sensor` in its metadata, if one has. Runs per reading: allocates nothing. */
  modelChannels(sensor: string): readonly string[] | undefined {
    return this.store.modelChannels(sensor);
  }

  observe(sensor: string, group: string, readings: readonly Reading[], window: SensorWindow | null): number {
    const gs = this.groupState(group, readings, window);
    const bundle = this.store.get(group);
    if (bundle?.metadata.sensors[sensor]) return 0;
    let sb = gs.sensors.get(sensor);
    if (!sb) {
      sb = {
        sensor,
        count: 0,
        rows: [],
        windows: [],
        windowsSeen: 0,
        first: Number.NaN,
        last: Number.NaN,
        done: false,
      };
      gs.sensors.set(sensor, sb);
    }
    if (sb.calibration) return 0;
    const limit = this.cfg.training.bootstrapReadings;
    let training = 0;
    for (const r of readings) {
      if (sb.count >= 2 * limit) break;
      sb.count++;
      if (sb.count > limit) continue;
      training++;
      if (this.deps.labels?.labelAt(sensor, r.ts) === 'anomaly') continue;
      if (Number.isNaN(sb.first)) sb.first = r.ts;
      sb.last = r.ts;
      if (sameOrder(r.channels, gs.channels)) for (let c = 0; c < r.values.length; c++) sb.rows.push(r.values[c]!);
      else for (const c of gs.channels) sb.rows.push(r.values[r.channels.indexOf(c)]!);
    }
    const labelled = window !== null && this.deps.labels?.anomalousWithin(sensor, window.start, window.end) === true;
    if (window && training === readings.length && training > 0 && !labelled) {
      if (sb.windowsSeen++ % this.cfg.training.stride === 0) sb.windows.push(window.data);
    }
    if (!sb.done && sb.count >= limit) {
      sb.done = true;
      if (bundle) sb.calibrating = this.calibrateSensor(gs, sb);
    }
    if (!bundle && !gs.training && sb.done) {
      const all = [...gs.sensors.values()];
      if (all.every((s) => s.done) || sb.count >= 2 * limit) gs.training = this.train(gs);
    }
    return training;
  }

  target(sensor: string, group: string): ScoringTarget | undefined {
    const bundle = this.store.get(group);
    if (!bundle) return undefined;
    const calibration = bundle.metadata.sensors[sensor] ?? this.groups.get(group)?.sensors.get(sensor)?.calibration;
    return calibration ? { bundle, calibration } : undefined;
  }

  pending(sensor: string, group: string): Promise<void> | undefined {
    const gs = this.groups.get(group);
    if (!gs) return undefined;
    if (!this.store.get(group)) {
      // A group whose training failed has nothing to score with, ever: waiting on it fails,
      // rather than letting its readings pass unscored (and be acked) as if it were warming.
      return gs.training?.then(() => {
        if (gs.failed) throw gs.failed;
      });
    }
    return gs.sensors.get(sensor)?.calibrating;
  }

  /** Frees every model this trainer holds (the end of a process). */
  dispose(): void {
    this.store.dispose();
  }

  /** Settles when no training or calibration is running (e.g. before a clean shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.groups.values()].map((g) => g.training));
    await Promise.all([...this.groups.values()].flatMap((g) => [...g.sensors.values()].map((s) => s.calibrating)));
  }

  /**
   * Trains every group that has bootstrap data but no model yet (end of a `train` input);
   * rejects with the first group's training failure, if one failed.
   */
  async flush(): Promise<void> {
    for (const gs of this.groups.values()) {
      if (!this.store.get(gs.group) && !gs.training && [...gs.sensors.values()].some((s) => s.windows.length > 0)) {
        for (const s of gs.sensors.values()) s.done = s.windows.length > 0;
        gs.training = this.train(gs);
      }
    }
    await this.idle();
    for (const gs of this.groups.values()) if (gs.failed) throw gs.failed;
  }

  private groupState(group: string, readings: readonly Reading[], window: SensorWindow | null): GroupState {
    let gs = this.groups.get(group);
    if (!gs) {
      const channels = this.store.channels(group) ?? [...(window?.channels ?? readings[0]?.channels ?? [])];
      gs = { group, channels, sensors: new Map() };
      this.groups.set(group, gs);
      this.store.open(group, channels);
    }
    return gs;
  }

  private scaledWindows(sb: SensorBuffer, scaler: { mean: number[]; std: number[] }): Float32Array {
    const stride = this.cfg.windowing.size * scaler.mean.length;
    const x = new Float32Array(sb.windows.length * stride);
    sb.windows.forEach((w, i) => applyScaler(w, scaler, x, i * stride));
    return x;
  }

  private async train(gs: GroupState): Promise<void> {
    const t0 = performance.now();
    try {
      const sensors = [...gs.sensors.values()].filter((s) => s.done && s.windows.length > 0);
      const bundle = await trainGroup(
        gs.group,
        gs.channels,
        sensors.map((sb) => ({
          sensor: sb.sensor,
          rows: Float32Array.from(sb.rows),
          windows: sb.windows,
          first: sb.first,
          last: sb.last,
        })),
        this.cfg,
        {
          createModel: this.deps.createModel,
          versionOf: this.deps.versionOf,
          onStart: (windows, n) => this.deps.onTrainingStart?.(gs.group, windows, n),
          onEpoch: (p) => this.deps.onEpoch?.(gs.group, p),
        },
      );
      this.store.put(bundle);
      for (const sb of sensors) {
        sb.windows = [];
        sb.rows = [];
      }
      this.deps.onTrained?.(bundle, (performance.now() - t0) / 1000);
      // Sensors that finished their bootstrap while the model trained are calibrated now.
      for (const sb of gs.sensors.values()) {
        if (sb.done && !bundle.metadata.sensors[sb.sensor]) sb.calibrating = this.calibrateSensor(gs, sb);
      }
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      gs.failed = new AemonError(
        'AEMON_TRAINING',
        `no model could be trained for channels [${gs.group}]: ${reason.split('\n', 1)[0]}`,
        { stage: 'training', cause: err },
      );
      this.deps.onFailed?.(gs.group, err);
    }
  }

  private async calibrateSensor(gs: GroupState, sb: SensorBuffer): Promise<void> {
    const bundle = this.store.get(gs.group)!;
    if (sb.windows.length === 0) return;
    const scaler = fitScaler(Float32Array.from(sb.rows), gs.channels.length);
    const batch = await bundle.model.score(this.scaledWindows(sb, scaler), sb.windows.length);
    sb.calibration = { ...scaler, ...calibrateErrors(batch, gs.channels.length, this.cfg.detection) };
    this.store.calibrated(bundle, sb.sensor, sb.calibration);
    sb.windows = [];
    sb.rows = [];
    this.deps.onSensorCalibrated?.(sb.sensor, gs.group, sb.calibration);
  }
}

function sameOrder(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
