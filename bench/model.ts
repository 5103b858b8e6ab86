import { loadConfig } from '../src/config/load.js';
import type { ModelHyperParams } from '../src/pipeline/model.js';
import type { LstmAutoencoder } from '../src/model/autoencoder.js';
import { createAutoencoder } from '../src/model/autoencoder.js';
import { selectBackend, type Tf } from '../src/model/backend.js';
import { convLayersOf } from '../src/model/conv.js';
import { lstmOpAvailable } from '../src/model/kernels/blockLstm.js';
import type { KernelName, KernelPreference, KernelSetting } from '../src/model/kernels/kernel.js';
import { createRng } from '../src/model/prng.js';
import type { ModelRow } from './rows.js';

export interface BenchModelOptions {
  /** The tfjs namespace and backend from `selectBackend` (one backend per process). */
  tf: Tf;
  backend: string;
  kernel?: KernelSetting;
  /** `conv`: the convolutional autoencoder of the same window and units instead of M0's LSTMs. */
  architecture?: 'lstm' | 'conv';
  channels: number;
  windowSize?: number;
  units?: number;
  /** Windows per scoring call. */
  batch?: number;
  /** Timed scoring calls, after one untimed warm-up call. */
  repeats?: number;
  trainWindows?: number;
  trainBatch?: number;
  /** Timed epochs over `trainWindows`, after one untimed warm-up epoch; 0 skips training. */
  trainEpochs?: number;
}

export interface BenchModelResult {
  scoreWindowsPerSecond: number;
  /** `encode`: the bottleneck codes alone, what `scoring.latent` adds to each scoring call. */
  encodeWindowsPerSecond: number;
  trainWindowsPerSecond: number;
  kernel: KernelName;
  /** The model's parameter count, to check the Keras peer built the same network. */
  parameters: number;
  /** The conv model's Conv1D layers (`convLayersOf`); undefined for M0. */
  convLayers?: string[];
}

/**
 * Scoring and training throughput of model M0 (window 64, LSTM(32) → RepeatVector → LSTM(32) →
 * TimeDistributed Dense), or of the conv autoencoder of the same window and units, measured the
 * way the Keras peer (bench/keras.ts) measures Keras: scoring is `repeats` calls on one batch
 * (upload, model, errors, read-back), training is whole epochs of Adam on `trainWindows` random
 * windows after a warm-up epoch. Threads are the backend's: for one
 * thread set TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 before tfjs-node loads.
 */
export async function benchModel(options: BenchModelOptions): Promise<BenchModelResult> {
  const { tf, backend, channels } = options;
  const windowSize = options.windowSize ?? 64;
  const batch = options.batch ?? 256;
  const repeats = options.repeats ?? 20;
  const trainWindows = options.trainWindows ?? 2048;
  const trainEpochs = options.trainEpochs ?? 2;
  const params: ModelHyperParams = {
    windowSize,
    channels,
    units: options.units ?? 32,
    depth: 1,
    dropout: 0,
    loss: 'mse',
    // Keras' Adam default, as in the peer.
    learningRate: 0.001,
    seed: 1,
    ...(options.architecture === undefined ? {} : { architecture: options.architecture }),
  };
  const rng = createRng(1, 7);
  const random = (n: number) => Float32Array.from({ length: n * windowSize * channels }, () => 2 * rng() - 1);
  const model = createAutoencoder(tf, backend, params, options.kernel ?? 'auto') as LstmAutoencoder;
  try {
    const x = random(batch);
    await model.score(x, batch);
    let started = performance.now();
    for (let i = 0; i < repeats; i++) await model.score(x, batch);
    const scoreWindowsPerSecond = (batch * repeats) / ((performance.now() - started) / 1000);
    await model.encode(x, batch);
    started = performance.now();
    for (let i = 0; i < repeats; i++) await model.encode(x, batch);
    const encodeWindowsPerSecond = (batch * repeats) / ((performance.now() - started) / 1000);

    let trainWindowsPerSecond = 0;
    if (trainEpochs > 0) {
      const train = random(trainWindows);
      const fit = (epochs: number) =>
        model.fit(train, trainWindows, {
          epochs,
          batchSize: options.trainBatch ?? 64,
          validationSplit: 0,
          patience: 1,
        });
      await fit(1);
      started = performance.now();
      await fit(trainEpochs);
      trainWindowsPerSecond = (trainWindows * trainEpochs) / ((performance.now() - started) / 1000);
    }
    return {
      scoreWindowsPerSecond: Math.round(scoreWindowsPerSecond),
      encodeWindowsPerSecond: Math.round(encodeWindowsPerSecond),
      trainWindowsPerSecond: Math.round(trainWindowsPerSecond),
      kernel: model.kernel,
      parameters: model.layersModel.countParams(),
      ...(options.architecture === 'conv' ? { convLayers: convLayersOf(model.layersModel) } : {}),
    };
  } finally {
    model.dispose();
  }
}

/** The score, encode and train rows of one measurement; `-conv` rows carry the Conv1D layers too. */
export function resultRows(
  model: 'm0' | 'conv',
  engine: string,
  channels: number,
  r: Omit<BenchModelResult, 'kernel'>,
): ModelRow[] {
  const network = { parameters: r.parameters, ...(r.convLayers === undefined ? {} : { convLayers: r.convLayers }) };
  return [
    { name: `score-${model}`, engine, channels, windowsPerSecond: r.scoreWindowsPerSecond, ...network },
    { name: `encode-${model}`, engine, channels, windowsPerSecond: r.encodeWindowsPerSecond, ...network },
    { name: `train-${model}`, engine, channels, windowsPerSecond: r.trainWindowsPerSecond, ...network },
  ];
}

/**
 * M0 on the backend this process runs on (AEMON_MODEL_BACKEND picks it): every kernel it has, or
 * with `onlyDefault` the kernel `auto` picks (the one compared with Keras round after round);
 * then the conv autoencoder at the same window and units on the kernel `auto` picks for it.
 */
export async function modelRows(quick: boolean, onlyDefault: boolean, log: (s: string) => void): Promise<ModelRow[]> {
  const cfg = loadConfig({ env: process.env });
  const { tf, backend } = await selectBackend(cfg.model.backend);
  // simd runs on any backend; on tensorflow fused is the one auto picks, so simd is left out there.
  const all: KernelPreference[] = backend === 'tensorflow' ? ['fused', 'layers'] : ['simd', 'layers'];
  const kernels = onlyDefault ? all.slice(0, 1) : all;
  const shorter = quick ? { repeats: 3, trainWindows: 512 } : {};
  const rows: ModelRow[] = [];
  for (const kernel of kernels) {
    for (const channels of [1, 8]) {
      log(`model M0: ${backend}/${kernel}, ${channels} channel(s)…\n`);
      const r = await benchModel({ tf, backend, kernel: { kernel, lstmOp: cfg.model.lstmOp }, channels, ...shorter });
      rows.push(...resultRows('m0', `${backend}-${r.kernel}`, channels, r));
      if (r.kernel === 'fused' && !onlyDefault && cfg.model.lstmOp && lstmOpAvailable()) {
        // The fused kernel scores with aemon's LSTM op when it is built; BlockLSTM alone, for comparison.
        log(`model M0: ${backend}/fused with BlockLSTM instead of aemon's LSTM op, ${channels} channel(s)…\n`);
        const b = await benchModel({
          tf,
          backend,
          kernel: { kernel, lstmOp: false },
          channels,
          trainEpochs: 0,
          ...(quick ? { repeats: 3 } : {}),
        });
        rows.push({
          name: 'score-m0',
          engine: `${backend}-fused-blocklstm`,
          channels,
          windowsPerSecond: Math.round(b.scoreWindowsPerSecond),
          parameters: b.parameters,
        });
      }
    }
  }
  for (const channels of [1, 8]) {
    log(`model conv: ${backend}/auto, ${channels} channel(s)…\n`);
    const r = await benchModel({ tf, backend, architecture: 'conv', kernel: 'auto', channels, ...shorter });
    rows.push(...resultRows('conv', `${backend}-${r.kernel}`, channels, r));
  }
  return rows;
}
