import type { Reading, SensorWindow } from './contracts.js';
import type { LatentSpace } from './latent.js';

/**
 * The model contract: what scoring, training and the CLI need from an autoencoder, without
 * knowing TensorFlow.js. `src/model/` implements it; tests and benchmarks can swap the backend
 * or the kernel behind it.
 */

/** Hyper-parameters that travel in the model's own metadata (not runtime flags). */
export interface ModelHyperParams {
  windowSize: number;
  channels: number;
  units: number;
  depth: number;
  dropout: number;
  loss: 'mse' | 'mae';
  learningRate: number;
  seed: number;
  /**
   * `lstm`: the recurrent autoencoder; `conv`: the convolutional one, its shape derived from
   * windowSize and units (absent in models saved before it existed: `lstm`).
   */
  architecture?: 'lstm' | 'conv';
  /** Recurrent cell (absent in models saved before it existed: `lstm`). */
  cell?: 'lstm' | 'gru';
  /** Denoising: std of Gaussian noise added to training inputs (targets stay clean); absent = 0. */
  noise?: number;
  /** Sparse latent: weight of the L1 penalty on the bottleneck (the last encoder's final state); absent = 0. */
  l1?: number;
  /**
   * Contractive: weight of the penalty on the encoder's Jacobian, ‖∂code/∂window‖²_F per window
   * (Rifai et al. 2011); absent = 0.
   */
  contractive?: number;
  /**
   * LSTM-VAE: β, the weight of the KL term in training (z_mean and z_log_var on the bottleneck;
   * scoring decodes z_mean); absent = 0, a plain autoencoder.
   */
  variational?: number;
}

export interface EpochProgress {
  epoch: number;
  epochs: number;
  loss: number;
  valLoss?: number;
  elapsedMs: number;
}

export interface FitOptions {
  epochs: number;
  batchSize: number;
  /** Fraction of windows (the last ones, no shuffling) held out for early stopping. */
  validationSplit: number;
  /** Early stopping patience on the validation loss; the best weights are kept. */
  patience: number;
  onEpoch?: (progress: EpochProgress) => void;
}

export interface FitReport {
  windows: number;
  epochs: number;
  loss: number[];
  valLoss: number[];
  bestEpoch: number;
  stoppedEarly: boolean;
  seconds: number;
}

/** Reconstruction errors of a batch of windows, read back from the backend once per batch. */
export interface BatchErrors {
  /** Per window: mean error over steps and channels (squared or absolute, per the model's loss). */
  errors: Float32Array;
  /** Per window and channel, row-major `n × channels`: mean error over steps of that channel. */
  channelErrors: Float32Array;
  /**
   * Per window and channel, row-major `n × channels`: the reconstruction of the window's last
   * step (scaled units), for drawing the model's view of the newest reading (the live view's channel charts).
   */
  lastRows?: Float32Array;
}

export interface Autoencoder {
  readonly params: Readonly<ModelHyperParams>;
  /** The TensorFlow.js backend it runs on (`tensorflow`, `wasm`, `cpu`). */
  readonly backend: string;
  /**
   * Trains on `n` scaled windows, row-major `n × windowSize × channels`. The same data, params
   * and seed give the same weights.
   */
  fit(x: Float32Array, n: number, options: FitOptions): Promise<FitReport>;
  /** Scores `n` scaled windows in one model call; disposes every tensor it made. */
  score(x: Float32Array, n: number): Promise<BatchErrors>;
  /** Reconstructions of `n` windows (same layout as `x`), for inspection and tests. */
  reconstruct(x: Float32Array, n: number): Promise<Float32Array>;
  /**
   * The bottleneck code of each of `n` windows, row-major `n × codeSize`: the last encoder's
   * final state (LSTM), z_mean (VAE) or the flattened bottleneck (conv). Deterministic.
   */
  encode(x: Float32Array, n: number): Promise<Float32Array>;
  dispose(): void;
}

/** Per-sensor state fitted with the model: scaling and threshold. */
export interface SensorCalibration {
  /** Per channel, in the group's channel order. */
  mean: number[];
  std: number[];
  /** Error above which a window is anomalous. */
  threshold: number;
  /**
   * How a window's per-channel errors make its error (`detection.channelErrors`), fitted with the
   * threshold; absent = their mean. `levels` are the channels' mean errors on the calibration
   * windows: `normalised` averages error ÷ level over the channels, `max` takes the largest.
   */
  channelErrors?: ChannelWeighting;
}

export interface ChannelWeighting {
  combine: 'normalised' | 'max';
  levels: number[];
}

/** Everything a model folder holds besides topology and weights. */
export interface ModelMetadata {
  /** Content-derived version, e.g. `m-3f2a9c1b`. */
  version: string;
  createdAt: string;
  group: string;
  channels: string[];
  params: ModelHyperParams;
  /** Event-time range of the training data (ISO-8601). */
  dataFrom: string | null;
  dataTo: string | null;
  trainingWindows: number;
  fit: FitReport | null;
  sensors: Record<string, SensorCalibration>;
  /** Calibration used when a sensor unknown to the model is scored. */
  fallback: SensorCalibration;
  /** The training codes' latent space (absent in models saved before it was fitted). */
  latent?: LatentSpace;
  /** The promotion gate's verdict when this model was retrained (absent for a first model). */
  gate?: Readonly<{ promoted: boolean; reason: string } & Record<string, unknown>>;
  /** Set by the model registry when this version was promoted (src/model/registry.ts). */
  promotion?: ModelPromotion;
}

/** How a model version entered the model registry: when, in which order, why, and the gate's verdict. */
export interface ModelPromotion {
  /** ISO-8601. */
  promotedAt: string;
  /** 1, 2, … within the model group: the registry's order of versions. */
  seq: number;
  reason?: string;
  /** The promotion gate's results, as the retraining loop reports them. */
  gate?: unknown;
}

/** A trained model with its calibration, as scoring uses it and a model folder stores it. */
export interface ModelBundle {
  model: Autoencoder;
  metadata: ModelMetadata;
}

/** A sensor's model and calibration, when both are ready. */
export interface ScoringTarget {
  bundle: ModelBundle;
  calibration: SensorCalibration;
}

/**
 * Where the scoring stage gets models from: the trainer (bootstrap, later retraining) or a
 * loaded model folder. The scoring stage feeds it every window and warming output in order.
 */
export interface ModelProvider {
  /**
   * Sees a sensor's released readings in event-time order; returns how many of the leading
   * readings of `readings` are training data (they get no score row in files).
   */
  observe(sensor: string, group: string, readings: readonly Reading[], window: SensorWindow | null): number;
  /** The model and calibration to score this sensor with, if ready. */
  target(sensor: string, group: string): ScoringTarget | undefined;
  /**
   * A promise that settles when training or calibration that this sensor waits on is done; it
   * rejects when the model could not be trained, which ends the run (nothing to score with).
   */
  pending(sensor: string, group: string): Promise<void> | undefined;
  /** Every model in use, e.g. for `aemon_model_info`. */
  models(): ModelBundle[];
  /**
   * The scoring stage finished a batch: no target it handed out before is used any more, so
   * models replaced since then can be disposed.
   */
  batchSettled?(): void;
}

/**
 * Sensors `successor` has no calibration of keep `predecessor`'s scaler and get the successor's
 * pooled threshold (and channel weighting), so they go on scoring without a new bootstrap period.
 */
export function inheritSensors(successor: ModelBundle, predecessor: ModelBundle): void {
  for (const [sensor, c] of Object.entries(predecessor.metadata.sensors)) {
    successor.metadata.sensors[sensor] ??= { ...successor.metadata.fallback, mean: c.mean, std: c.std };
  }
}
