import type { LayersModel, Optimizer, Scalar, Tensor, Tensor3D, Variable } from '@tensorflow/tfjs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { AemonError } from '../errors.js';
import type { FitOptions, FitReport, ModelHyperParams } from '../pipeline/model.js';
import type { Tf } from './backend.js';
import { isVariational } from './layers.js';
import type { Encoded } from './layers.js';
import { createRng, nextSeed, shuffleInPlace, STREAM } from './prng.js';

function trainingError(message: string, cause?: unknown): AemonError {
  return new AemonError('AEMON_TRAINING', message, { stage: 'training', cause });
}

/** The last ceil(n·split) windows, at least one when n ≥ 2, always leaving one to train on. */
export function validationCount(n: number, split: number): number {
  if (n < 2 || split <= 0) return 0;
  return Math.min(n - 1, Math.max(1, Math.ceil(n * split)));
}

export function reconstructionLoss(tf: Tf, loss: ModelHyperParams['loss'], target: Tensor, output: Tensor): Scalar {
  return loss === 'mse' ? tf.mean(tf.squaredDifference(output, target)) : tf.mean(tf.abs(tf.sub(output, target)));
}

function checkOptions(n: number, options: FitOptions): void {
  if (!Number.isInteger(n) || n < 1) throw trainingError(`fit needs at least one window, got ${n}`);
  if (!Number.isInteger(options.epochs) || options.epochs < 1)
    throw trainingError(`epochs must be a positive integer, got ${options.epochs}`);
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
    throw trainingError(`batchSize must be a positive integer, got ${options.batchSize}`);
  }
  if (!(options.validationSplit >= 0 && options.validationSplit < 1)) {
    throw trainingError(`validationSplit must be in [0, 1), got ${options.validationSplit}`);
  }
  if (!Number.isInteger(options.patience) || options.patience < 1) {
    throw trainingError(`patience must be a positive integer, got ${options.patience}`);
  }
}

export interface FitTarget {
  tf: Tf;
  model: LayersModel;
  params: Readonly<ModelHyperParams>;
  /** The model's reconstruction of a batch, through whichever kernel it runs on (same variables). */
  forward(x: Tensor, training: boolean): Tensor;
  /**
   * The same, with the bottleneck code [batch, units]; used when `params.l1`, `params.contractive`
   * or `params.variational` > 0. In a VAE, `epsilon` is the reparameterisation's noise (see applyWithCode).
   */
  forwardWithCode(x: Tensor, training: boolean, epsilon?: Tensor): Encoded;
  /** Called before training so that dropout draws restart from the seed. */
  resetDropout(): void;
  clearDropoutMasks(): void;
}

/** What the training steps of a fit share: the windows, the optimiser and its variables, the seeded noise draws. */
interface Steps {
  target: FitTarget;
  all: Tensor3D;
  optimizer: Optimizer;
  variables: Variable[];
  batchSize: number;
  noise: number;
  noiseRng: () => number;
  latentRng: () => number;
  /** The contractive penalty's random directions. */
  probeRng: () => number;
}

/** One optimiser step on the windows `idx`: its loss × the batch size, added to `sum`. */
function trainStep(s: Steps, idx: Int32Array, sum: Tensor): Tensor {
  const { tf, params } = s.target;
  return tf.tidy(() => {
    const batch = tf.gather(s.all, tf.tensor1d(idx, 'int32'));
    // Denoising: the model sees a noisy window and is scored on reconstructing the clean one.
    const input =
      s.noise > 0 ? tf.add(batch, tf.randomNormal(batch.shape, 0, s.noise, 'float32', nextSeed(s.noiseRng))) : batch;
    // LSTM-VAE: ε of the reparameterisation, one draw per window and unit.
    const epsilon = isVariational(params)
      ? tf.randomNormal([idx.length, params.units], 0, 1, 'float32', nextSeed(s.latentRng))
      : undefined;
    const cost = s.optimizer.minimize(() => trainingLoss(s, batch, input, epsilon), true, s.variables);
    return tf.add(sum, tf.mul(cost!, idx.length));
  });
}

/** One epoch: a step per batch of the training windows in `order`; the summed loss stays on the backend. */
async function trainEpoch(s: Steps, order: Int32Array, nTrain: number): Promise<Tensor> {
  let sum: Tensor = s.target.tf.scalar(0);
  try {
    for (let start = 0; start < nTrain; start += s.batchSize) {
      const next = trainStep(s, order.subarray(start, Math.min(start + s.batchSize, nTrain)), sum);
      sum.dispose();
      sum = next;
      // Let timers and I/O run between steps when training shares the thread.
      await yieldToLoop();
    }
    return sum;
  } catch (err) {
    sum.dispose();
    throw err;
  }
}

/** The best validation loss so far, the epoch it came in, and a copy of the weights it was reached with. */
class BestWeights {
  epoch = 0;
  sinceBest = 0;
  private value = Infinity;
  private weights: Tensor[] | null = null;

  constructor(
    private readonly tf: Tf,
    private readonly model: LayersModel,
  ) {}

  /** Counts an epoch's validation loss: a copy of the weights when it is the best yet. */
  observe(epoch: number, valLoss: number): void {
    if (valLoss < this.value) {
      this.value = valLoss;
      this.epoch = epoch;
      this.sinceBest = 0;
      if (this.weights !== null) this.tf.dispose(this.weights);
      this.weights = this.model.getWeights().map((w) => this.tf.clone(w));
    } else {
      this.sinceBest++;
    }
  }

  /** Puts the best weights back into the model (none kept: it keeps its own). */
  restore(): void {
    if (this.weights !== null) this.model.setWeights(this.weights);
  }

  dispose(): void {
    if (this.weights !== null) this.tf.dispose(this.weights);
  }
}

/**
 * Our own loop rather than `model.fit`: tfjs shuffles with Math.random and its EarlyStopping does
 * not restore the best weights. Each step is one synchronous `optimizer.minimize`; losses are
 * summed on the backend and read back once per epoch. A fresh Adam per call is disposed at the
 * end, so a fit leaves no tensors behind.
 */
export async function fitAutoencoder(
  target: FitTarget,
  x: Float32Array,
  n: number,
  options: FitOptions,
): Promise<FitReport> {
  checkOptions(n, options);
  const { tf, model, params } = target;
  const started = performance.now();
  const nVal = validationCount(n, options.validationSplit);
  const nTrain = n - nVal;
  const shuffleRng = createRng(params.seed, STREAM.shuffle);
  const noiseRng = createRng(params.seed, STREAM.noise);
  const latentRng = createRng(params.seed, STREAM.latent);
  const probeRng = createRng(params.seed, STREAM.contractive);
  target.resetDropout();

  const all: Tensor3D = tf.tensor3d(x, [n, params.windowSize, params.channels]);
  const optimizer = tf.train.adam(params.learningRate);
  const variables = model.trainableWeights.map((w) => w.read() as Variable);
  const steps: Steps = {
    target,
    all,
    optimizer,
    variables,
    batchSize: options.batchSize,
    noise: params.noise ?? 0,
    noiseRng,
    latentRng,
    probeRng,
  };
  const order = Int32Array.from({ length: nTrain }, (_, i) => i);
  const loss: number[] = [];
  const valLoss: number[] = [];
  const best = new BestWeights(tf, model);
  let stoppedEarly = false;
  let trainSum: Tensor | null = null;
  try {
    for (let epoch = 1; epoch <= options.epochs; epoch++) {
      const epochStart = performance.now();
      shuffleInPlace(order, shuffleRng);
      trainSum = await trainEpoch(steps, order, nTrain);
      const valSum = validationSum(target, all, nTrain, nVal, options.batchSize);
      const both = tf.stack([trainSum, valSum]);
      const [trainTotal, valTotal] = await both.data();
      tf.dispose([trainSum, valSum, both]);
      const epochLoss = trainTotal! / nTrain;
      if (!Number.isFinite(epochLoss)) {
        best.restore();
        throw trainingError(`training diverged: loss is ${epochLoss} in epoch ${epoch}`);
      }
      loss.push(epochLoss);
      const progress = { epoch, epochs: options.epochs, loss: epochLoss, elapsedMs: performance.now() - epochStart };
      if (nVal === 0) {
        best.epoch = epoch;
        options.onEpoch?.(progress);
        continue;
      }
      const epochVal = valTotal! / nVal;
      valLoss.push(epochVal);
      best.observe(epoch, epochVal);
      options.onEpoch?.({ ...progress, valLoss: epochVal });
      if (best.sinceBest >= options.patience && epoch < options.epochs) {
        stoppedEarly = true;
        break;
      }
    }
    if (best.epoch !== loss.length) best.restore();
  } finally {
    trainSum?.dispose();
    best.dispose();
    all.dispose();
    optimizer.dispose();
    target.clearDropoutMasks();
  }
  return {
    windows: n,
    epochs: loss.length,
    loss,
    valLoss,
    bestEpoch: best.epoch,
    stoppedEarly,
    seconds: (performance.now() - started) / 1000,
  };
}

/** How far (scaled units) the contractive penalty moves a window along its random direction. */
export const CONTRACTIVE_STEP = 1e-2;

/**
 * Reconstruction loss, plus with `params.l1` > 0 the sparse-latent penalty l1 × Σ|code| per
 * window averaged over the batch (Keras' L1 activity regulariser; tfjs-layers cannot attach one),
 * plus with `params.contractive` = λ > 0 the contractive penalty λ × ‖∂code/∂input‖²_F per window
 * averaged over the batch (see {@link contractivePenalty}), plus with `params.variational` = β > 0
 * the VAE's β × KL (Kingma & Welling 2014; β-VAE). Validation, and so early stopping and
 * thresholds, use the reconstruction loss alone.
 */
function trainingLoss(s: Steps, clean: Tensor, input: Tensor, epsilon: Tensor | undefined): Scalar {
  const { tf, params } = s.target;
  const l1 = params.l1 ?? 0;
  const beta = params.variational ?? 0;
  const lambda = params.contractive ?? 0;
  if (l1 === 0 && beta === 0 && lambda === 0)
    return reconstructionLoss(tf, params.loss, clean, s.target.forward(input, true));
  const b = input.shape[0]!;
  // Contractive: the batch and its probed copy go through the model as one batch of 2b.
  const probe = lambda > 0 ? tf.randomNormal(input.shape, 0, 1, 'float32', nextSeed(s.probeRng)) : undefined;
  const run =
    probe === undefined
      ? s.target.forwardWithCode(input, true, epsilon)
      : s.target.forwardWithCode(
          tf.concat([input, tf.add(input, tf.mul(probe, CONTRACTIVE_STEP))], 0),
          true,
          epsilon === undefined ? undefined : tf.concat([epsilon, epsilon], 0),
        );
  const first = (t: Tensor): Tensor => (probe === undefined ? t : tf.slice(t, 0, b));
  const output = first(run.output);
  const code = first(run.code);
  let loss = reconstructionLoss(tf, params.loss, clean, output);
  if (l1 > 0) loss = tf.add(loss, tf.mul(l1, tf.div(tf.sum(tf.abs(code)), b)));
  if (lambda > 0) loss = tf.add(loss, tf.mul(lambda, contractivePenalty(tf, code, tf.slice(run.code, b, b))));
  if (beta > 0) loss = tf.add(loss, tf.mul(beta, klDivergence(tf, code, first(run.logVar!))));
  return loss;
}

/**
 * Hutchinson's estimate of the encoder Jacobian's squared Frobenius norm per window, averaged
 * over the batch: E‖J·v‖² = ‖J‖²_F for v ~ N(0, I), and J·v ≈ (code(x + h·v) − code(x)) / h with
 * h = {@link CONTRACTIVE_STEP}. `code` and `probed` are [batch, …] codes of the windows and of
 * the probed windows.
 */
export function contractivePenalty(tf: Tf, code: Tensor, probed: Tensor): Scalar {
  const jv = tf.div(tf.sub(probed, code), CONTRACTIVE_STEP);
  return tf.div(tf.sum(tf.square(jv)), code.shape[0]!);
}

/** KL(N(z_mean, exp(z_log_var)) ‖ N(0, I)) per window, −½ Σ_units (1 + z_log_var − z_mean² − exp(z_log_var)), averaged over the batch. */
export function klDivergence(tf: Tf, zMean: Tensor, zLogVar: Tensor): Scalar {
  const terms = tf.sub(tf.add(1, zLogVar), tf.add(tf.square(zMean), tf.exp(zLogVar)));
  return tf.div(tf.mul(-0.5, tf.sum(terms)), zMean.shape[0]!);
}

/** Sum over the held-out windows of their mean loss (0 when there are none), without dropout. */
function validationSum(target: FitTarget, all: Tensor3D, from: number, count: number, batchSize: number): Tensor {
  const { tf, params } = target;
  let sum: Tensor = tf.scalar(0);
  for (let start = 0; start < count; start += batchSize) {
    const size = Math.min(batchSize, count - start);
    const next = tf.tidy(() => {
      const batch = all.slice([from + start, 0, 0], [size, params.windowSize, params.channels]);
      return tf.add(sum, tf.mul(reconstructionLoss(tf, params.loss, batch, target.forward(batch, false)), size));
    });
    sum.dispose();
    sum = next;
  }
  return sum;
}
