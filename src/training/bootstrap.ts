import type { DetectionConfig, ModelConfig, TrainingConfig, WindowingConfig } from '../config/schema.js';
import { applyScaler, calibrateThreshold, fitScaler } from '../pipeline/calibration.js';
import type { Reading, SensorWindow } from '../pipeline/contracts.js';
import type { LabelStore } from './labels.js';
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
  bundle?: ModelBundle;
  training?: Promise<void>;
}

/**
 * The first model of each model group, learned from a bootstrap period: each sensor's first
 * `training.bootstrapReadings` readings are taken as normal. The group trains when every sensor
 * it knows has finished its bootstrap (or one has seen twice as many readings, so a silent
 * sensor cannot hold the others back); a sensor that shows up later is calibrated (scaler and
 * threshold) on its own bootstrap against the existing model.
 */
export class BootstrapTrainer implements ModelProvider {
  private readonly groups = new Map<string, GroupState>();

  constructor(
    private readonly cfg: TrainerConfig,
    private readonly deps: TrainerDeps,
    loaded: readonly ModelBundle[] = [],
  ) {
    for (const bundle of loaded) {
      this.groups.set(bundle.metadata.group, {
        group: bundle.metadata.group,
        channels: [...bundle.metadata.channels],
        sensors: new Map(),
        bundle,
      });
    }
  }

  models(): ModelBundle[] {
    return [...this.groups.values()].flatMap((g) => (g.bundle ? [g.bundle] : []));
  }

  /** The channels of the model that has `sensor` in its metadata, if one has. Runs per reading: allocates nothing. */
  modelChannels(sensor: string): readonly string[] | undefined {
    for (const g of this.groups.values()) if (g.bundle?.metadata.sensors[sensor]) return g.bundle.metadata.channels;
    return undefined;
  }

  observe(sensor: string, group: string, readings: readonly Reading[], window: SensorWindow | null): number {
    const gs = this.groupState(group, readings, window);
    if (gs.bundle?.metadata.sensors[sensor]) return 0;
    let sb = gs.sensors.get(sensor);
    if (!sb) {
      sb = { sensor, count: 0, rows: [], windows: [], windowsSeen: 0, first: Number.NaN, last: Number.NaN, done: false };
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
      if (gs.bundle) sb.calibrating = this.calibrateSensor(gs, sb);
    }
    if (!gs.bundle && !gs.training && sb.done) {
      const all = [...gs.sensors.values()];
      if (all.every((s) => s.done) || sb.count >= 2 * limit) gs.training = this.train(gs);
    }
    return training;
  }

  target(sensor: string, group: string): ScoringTarget | undefined {
    const gs = this.groups.get(group);
    if (!gs?.bundle) return undefined;
    const calibration = gs.bundle.metadata.sensors[sensor] ?? gs.sensors.get(sensor)?.calibration;
    return calibration ? { bundle: gs.bundle, calibration } : undefined;
  }

  pending(sensor: string, group: string): Promise<void> | undefined {
    const gs = this.groups.get(group);
    if (!gs) return undefined;
    if (!gs.bundle) return gs.training;
    return gs.sensors.get(sensor)?.calibrating;
  }

  /** Settles when no training or calibration is running (e.g. before a clean shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.groups.values()].map((g) => g.training));
    await Promise.all([...this.groups.values()].flatMap((g) => [...g.sensors.values()].map((s) => s.calibrating)));
  }

  /** Trains every group that has bootstrap data but no model yet (end of a `train` input). */
  async flush(): Promise<void> {
    for (const gs of this.groups.values()) {
      if (!gs.bundle && !gs.training && [...gs.sensors.values()].some((s) => s.windows.length > 0)) {
        for (const s of gs.sensors.values()) s.done = s.windows.length > 0;
        gs.training = this.train(gs);
      }
    }
    await this.idle();
  }

  private groupState(group: string, readings: readonly Reading[], window: SensorWindow | null): GroupState {
    let gs = this.groups.get(group);
    if (!gs) {
      const channels = [...(window?.channels ?? readings[0]?.channels ?? [])];
      gs = { group, channels, sensors: new Map() };
      this.groups.set(group, gs);
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
    const { model: mc, detection: dc } = this.cfg;
    const t0 = performance.now();
    try {
      const ch = gs.channels.length;
      const stride = this.cfg.windowing.size * ch;
      const sensors = [...gs.sensors.values()].filter((s) => s.done && s.windows.length > 0).sort((a, b) => (a.sensor < b.sensor ? -1 : 1));
      if (sensors.length === 0) throw new Error(`no full windows in the bootstrap period of group ${gs.group}`);
      const parts = sensors.map((sb) => {
        const scaler = fitScaler(Float32Array.from(sb.rows), ch);
        const x = this.scaledWindows(sb, scaler);
        const w = sb.windows.length;
        const nVal = w >= 2 ? Math.max(1, Math.ceil(w * mc.validationSplit)) : 0;
        return { sb, scaler, x, nTrain: w - nVal, nVal };
      });
      // Training windows of all sensors first, then the held-out ones: the model validates (and
      // stops early) on exactly the windows each sensor's threshold is calibrated on.
      const cap = this.cfg.training.maxWindows;
      const totalTrain = parts.reduce((s, p) => s + p.nTrain, 0);
      const keepEvery = Math.max(1, Math.ceil(totalTrain / cap));
      const trainIdx = parts.flatMap((p, pi) =>
        Array.from({ length: p.nTrain }, (_, i) => [pi, i] as const).filter((_, i) => (p.nTrain - 1 - i) % keepEvery === 0),
      );
      const nVal = parts.reduce((s, p) => s + p.nVal, 0);
      const n = trainIdx.length + nVal;
      const x = new Float32Array(n * stride);
      trainIdx.forEach(([pi, i], k) => x.set(parts[pi]!.x.subarray(i * stride, (i + 1) * stride), k * stride));
      let at = trainIdx.length;
      for (const p of parts) {
        x.set(p.x.subarray(p.nTrain * stride), at * stride);
        at += p.nVal;
      }
      this.deps.onTrainingStart?.(gs.group, n, sensors.length);
      const params: ModelHyperParams = {
        windowSize: this.cfg.windowing.size,
        channels: ch,
        units: mc.units,
        depth: mc.depth,
        dropout: mc.dropout,
        loss: mc.loss,
        learningRate: mc.learningRate,
        seed: mc.seed,
      };
      const model = await this.deps.createModel(params);
      const fit = await model.fit(x, n, {
        epochs: mc.epochs,
        batchSize: mc.batchSize,
        validationSplit: nVal > 0 ? (nVal - 0.5) / n : 0,
        patience: mc.patience,
        onEpoch: (p) => this.deps.onEpoch?.(gs.group, p),
      });
      const calibrations: Record<string, SensorCalibration> = {};
      const allErrors: number[] = [];
      for (const p of parts) {
        const held = p.nVal > 0 ? p.x.subarray(p.nTrain * stride) : p.x;
        const { errors } = await model.score(held, p.nVal > 0 ? p.nVal : p.sb.windows.length);
        allErrors.push(...errors);
        calibrations[p.sb.sensor] = { ...p.scaler, threshold: calibrateThreshold(errors, dc.quantile, dc.margin) };
      }
      const allRows = Float32Array.from(parts.flatMap((p) => p.sb.rows));
      const version = await this.deps.versionOf(model);
      const bundle: ModelBundle = {
        model,
        metadata: {
          version,
          createdAt: new Date().toISOString(),
          group: gs.group,
          channels: [...gs.channels],
          params,
          dataFrom: new Date(Math.min(...sensors.map((s) => s.first))).toISOString(),
          dataTo: new Date(Math.max(...sensors.map((s) => s.last))).toISOString(),
          trainingWindows: n,
          fit,
          sensors: calibrations,
          fallback: { ...fitScaler(allRows, ch), threshold: calibrateThreshold(allErrors, dc.quantile, dc.margin) },
        },
      };
      gs.bundle = bundle;
      for (const p of parts) {
        p.sb.windows = [];
        p.sb.rows = [];
      }
      this.deps.onTrained?.(bundle, (performance.now() - t0) / 1000);
      // Sensors that finished their bootstrap while the model trained are calibrated now.
      for (const sb of gs.sensors.values()) {
        if (sb.done && !bundle.metadata.sensors[sb.sensor]) sb.calibrating = this.calibrateSensor(gs, sb);
      }
    } catch (err) {
      this.deps.onFailed?.(gs.group, err);
    }
  }

  private async calibrateSensor(gs: GroupState, sb: SensorBuffer): Promise<void> {
    const bundle = gs.bundle!;
    if (sb.windows.length === 0) return;
    const scaler = fitScaler(Float32Array.from(sb.rows), gs.channels.length);
    const { errors } = await bundle.model.score(this.scaledWindows(sb, scaler), sb.windows.length);
    const { quantile, margin } = this.cfg.detection;
    sb.calibration = { ...scaler, threshold: calibrateThreshold(errors, quantile, margin) };
    bundle.metadata.sensors[sb.sensor] = sb.calibration;
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
