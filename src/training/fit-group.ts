import type { DetectionConfig, ModelConfig, TrainingConfig, WindowingConfig } from '../config/schema.js';
import { applyScaler, calibrateErrors, fitScaler } from '../pipeline/calibration.js';
import { fitLatent } from '../pipeline/latent.js';
import { principalDirection, shiftWindows } from './augment.js';
import type {
  Autoencoder,
  EpochProgress,
  ModelBundle,
  ModelHyperParams,
  SensorCalibration,
} from '../pipeline/model.js';

/** What one model group trains on: each sensor's raw readings (for its scaler) and raw windows. */
export interface SensorTrainingData {
  sensor: string;
  /** Raw values, row-major readings × channels, for the sensor's scaler. */
  rows: Float32Array;
  /** Raw windows (size × channels each), oldest first. */
  windows: readonly Float32Array[];
  /** Event-time range of the data (epoch ms). */
  first: number;
  last: number;
}

export interface GroupTrainingConfig {
  model: ModelConfig;
  training: Pick<TrainingConfig, 'maxWindows'>;
  detection: Pick<DetectionConfig, 'quantile' | 'margin' | 'channelErrors'>;
  windowing: Pick<WindowingConfig, 'size'>;
}

export interface GroupTrainingDeps {
  createModel(params: ModelHyperParams): Promise<Autoencoder>;
  versionOf(model: Autoencoder): Promise<string>;
  onStart?(windows: number, sensors: number): void;
  onEpoch?(progress: EpochProgress): void;
}

function scaled(
  windows: readonly Float32Array[],
  scaler: { mean: number[]; std: number[] },
  stride: number,
): Float32Array {
  const x = new Float32Array(windows.length * stride);
  windows.forEach((w, i) => applyScaler(w, scaler, x, i * stride));
  return x;
}

/** `model.levelShift` on one sensor's first `count` scaled windows, along its scaled readings' main direction. */
function shiftAlongLoad(
  x: Float32Array,
  rows: Float32Array,
  scaler: { mean: number[]; std: number[] },
  count: number,
  size: number,
  ch: number,
  mc: Pick<ModelConfig, 'levelShift' | 'seed'>,
  sensorIndex: number,
): void {
  const z = new Float32Array(rows.length);
  applyScaler(rows, scaler, z);
  shiftWindows(x, count, size, ch, principalDirection(z, ch), mc.levelShift, mc.seed, 1000 + sensorIndex);
}

/**
 * Trains one model group's autoencoder: a scaler per sensor, the training windows of all
 * sensors (capped at `training.maxWindows`, the most recent kept), early stopping on each
 * sensor's held-out windows, and each sensor's threshold calibrated on exactly those. The
 * bootstrap and every retraining (in a child process) go through here.
 */
export async function trainGroup(
  group: string,
  channels: readonly string[],
  data: readonly SensorTrainingData[],
  cfg: GroupTrainingConfig,
  deps: GroupTrainingDeps,
): Promise<ModelBundle> {
  const { model: mc, detection: dc } = cfg;
  const ch = channels.length;
  const stride = cfg.windowing.size * ch;
  const sensors = data.filter((s) => s.windows.length > 0).sort((a, b) => (a.sensor < b.sensor ? -1 : 1));
  if (sensors.length === 0) throw new Error(`no full windows to train group ${group} on`);
  const parts = sensors.map((s, si) => {
    const scaler = fitScaler(s.rows, ch);
    const x = scaled(s.windows, scaler, stride);
    const w = s.windows.length;
    const nVal = w >= 2 ? Math.max(1, Math.ceil(w * mc.validationSplit)) : 0;
    // Only the training windows move: the held-out ones calibrate the threshold on real data.
    if (mc.levelShift > 0 && ch >= 2) shiftAlongLoad(x, s.rows, scaler, w - nVal, cfg.windowing.size, ch, mc, si);
    return { s, scaler, x, nTrain: w - nVal, nVal };
  });
  // Training windows of all sensors first, then the held-out ones: the model validates (and
  // stops early) on exactly the windows each sensor's threshold is calibrated on.
  const cap = cfg.training.maxWindows;
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
  deps.onStart?.(n, sensors.length);
  const params: ModelHyperParams = {
    windowSize: cfg.windowing.size,
    channels: ch,
    units: mc.units,
    depth: mc.depth,
    dropout: mc.dropout,
    loss: mc.loss,
    learningRate: mc.learningRate,
    seed: mc.seed,
    architecture: mc.architecture,
    cell: mc.cell,
    noise: mc.noise,
    l1: mc.l1,
    contractive: mc.contractive,
    variational: mc.variational,
  };
  const model = await deps.createModel(params);
  try {
    const fit = await model.fit(x, n, {
      epochs: mc.epochs,
      batchSize: mc.batchSize,
      validationSplit: nVal > 0 ? (nVal - 0.5) / n : 0,
      patience: mc.patience,
      ...(deps.onEpoch ? { onEpoch: deps.onEpoch } : {}),
    });
    const calibrations: Record<string, SensorCalibration> = {};
    const allErrors: number[] = [];
    const allChannelErrors: number[] = [];
    for (const p of parts) {
      const held = p.nVal > 0 ? p.x.subarray(p.nTrain * stride) : p.x;
      const batch = await model.score(held, p.nVal > 0 ? p.nVal : p.s.windows.length);
      allErrors.push(...batch.errors);
      allChannelErrors.push(...batch.channelErrors);
      calibrations[p.s.sensor] = { ...p.scaler, ...calibrateErrors(batch, ch, dc) };
    }
    const pooled = { errors: Float32Array.from(allErrors), channelErrors: Float32Array.from(allChannelErrors) };
    const allRows = new Float32Array(parts.reduce((s, p) => s + p.s.rows.length, 0));
    let r = 0;
    for (const p of parts) {
      allRows.set(p.s.rows, r);
      r += p.s.rows.length;
    }
    // The latent space: fitted on the training windows' codes, its distance scaled on the held-out ones'.
    const codes = await model.encode(x, n);
    const d = codes.length / n;
    const nFit = trainIdx.length > 0 ? trainIdx.length : n;
    const latent = fitLatent(codes.subarray(0, nFit * d), nFit, d, codes.subarray(nFit * d), n - nFit, dc.quantile);
    return {
      model,
      metadata: {
        version: await deps.versionOf(model),
        createdAt: new Date().toISOString(),
        group,
        channels: [...channels],
        params,
        dataFrom: new Date(Math.min(...sensors.map((s) => s.first))).toISOString(),
        dataTo: new Date(Math.max(...sensors.map((s) => s.last))).toISOString(),
        trainingWindows: n,
        fit,
        sensors: calibrations,
        fallback: { ...fitScaler(allRows, ch), ...calibrateErrors(pooled, ch, dc) },
        latent,
      },
    };
  } catch (err) {
    model.dispose();
    throw err;
  }
}
