import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import { AemonError } from '../errors.js';
import type { Tf } from './backend.js';
import { blockLstm, blockLstmInference, int64Scalar, lstmInference, lstmOpAvailable, nodeKernelBackend, repeatSteps, toBlockWeights } from './fused.js';
import type { BlockWeights, NodeKernelBackend } from './fused.js';
import { SimdForward, simdUnavailable } from './simdModel.js';

/**
 * Config `model.kernel`. `auto`: fused where the backend is tensorflow, else simd (scoring only;
 * training stays on layers), else layers.
 */
export type KernelPreference = 'auto' | 'fused' | 'simd' | 'layers';
export type KernelName = 'fused' | 'simd' | 'layers';

type Layer = LayersModel['layers'][number];
type LayerVariable = Layer['trainableWeights'][number];

export interface LstmVariables {
  kernel: LayerVariable;
  recurrentKernel: LayerVariable;
  bias: LayerVariable;
}

export interface Plan {
  encoders: LstmVariables[];
  decoders: LstmVariables[];
  denseKernel: LayerVariable;
  denseBias: LayerVariable;
}

// originalName: tfjs makes `name` unique per process (`encoder_1/kernel_1` in a second model).
function weightNamed(layer: Layer, suffix: string): LayerVariable | undefined {
  return layer.trainableWeights.find((w) => w.originalName.endsWith(`/${suffix}`));
}

function lstmVariables(layer: Layer): LstmVariables | string {
  const c = layer.getConfig();
  const fits =
    c['activation'] === 'tanh' &&
    c['recurrentActivation'] === 'sigmoid' &&
    c['useBias'] === true &&
    c['recurrentDropout'] === 0 &&
    c['goBackwards'] === false &&
    c['stateful'] === false &&
    c['returnState'] === false;
  if (!fits) return `LSTM layer ${layer.name} is not a tanh/sigmoid LSTM with a bias and no recurrent dropout`;
  const kernel = weightNamed(layer, 'kernel');
  const recurrentKernel = weightNamed(layer, 'recurrent_kernel');
  const bias = weightNamed(layer, 'bias');
  if (!kernel || !recurrentKernel || !bias) return `LSTM layer ${layer.name} lacks kernel, recurrent_kernel or bias`;
  return { kernel, recurrentKernel, bias };
}

/**
 * Where the fused and simd kernels can run this model: input → LSTMs → RepeatVector → LSTMs (sequences) →
 * TimeDistributed(linear Dense). Returns why not otherwise.
 */
function planFor(model: LayersModel): Plan | string {
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  const repeat = layers.findIndex((l) => l.getClassName() === 'RepeatVector');
  const last = layers.at(-1);
  // model.variational: z_mean and z_log_var sit between the encoder and RepeatVector.
  const latent = layers.find((l) => l.getClassName() === 'Dense');
  if (latent !== undefined) return `the model is variational (Dense ${latent.name} between the encoder and RepeatVector)`;
  if (repeat < 1 || last?.getClassName() !== 'TimeDistributed') return 'the model is not LSTMs → RepeatVector → LSTMs → TimeDistributed';
  const encoders: LstmVariables[] = [];
  const decoders: LstmVariables[] = [];
  for (const [i, layer] of layers.slice(0, -1).entries()) {
    if (i === repeat) continue;
    if (layer.getClassName() !== 'LSTM') return `layer ${layer.name} is a ${layer.getClassName()}, not an LSTM`;
    const returnSequences = layer.getConfig()['returnSequences'] === true;
    if (returnSequences !== (i !== repeat - 1)) return `LSTM layer ${layer.name} has returnSequences ${returnSequences}`;
    const vars = lstmVariables(layer);
    if (typeof vars === 'string') return vars;
    (i < repeat ? encoders : decoders).push(vars);
  }
  const dense = (last.getConfig()['layer'] as { className?: string; config?: Record<string, unknown> } | undefined) ?? {};
  const denseKernel = weightNamed(last, 'kernel');
  const denseBias = weightNamed(last, 'bias');
  if (dense.className !== 'Dense' || dense.config?.['activation'] !== 'linear' || !denseKernel || !denseBias || decoders.length === 0) {
    return 'the output is not TimeDistributed(Dense) with a linear activation and a bias';
  }
  return { encoders, decoders, denseKernel, denseBias };
}

interface CachedWeights extends BlockWeights {
  /** The variables' data when these were made: an optimizer step or setWeights replaces it. */
  sources: unknown[];
}

/**
 * The autoencoder's forward pass as TensorFlow `BlockLSTM` ops, on the weights of the tfjs-layers
 * model (the same variables: training either way updates both, saving is unchanged).
 * Differentiable, so `optimizer.minimize` trains through it; no dropout.
 */
export class FusedForward {
  private readonly seqLens = new Map<number, Tensor>();
  // Scoring reuses the BlockLSTM-ordered weights until the variables change.
  private readonly cache = new Map<LstmVariables, CachedWeights>();

  constructor(
    private readonly tf: Tf,
    private readonly node: NodeKernelBackend,
    private readonly plan: Plan,
  ) {}

  /** [batch, time, channels] → reconstruction, same shape. `training`: weights are re-derived on the tape. */
  apply(x: Tensor, training: boolean): Tensor {
    const { output, code } = this.applyWithCode(x, training);
    code.dispose();
    return output;
  }

  /** The reconstruction and the bottleneck code [batch, units] (the last encoder's final h). */
  applyWithCode(x: Tensor, training: boolean): { output: Tensor; code: Tensor } {
    const { tf, plan } = this;
    return tf.tidy(() => {
      const [batch, steps, channels] = x.shape as [number, number, number];
      const seqLen = this.seqLen(steps);
      const weights = (v: LstmVariables) => (training ? toBlockWeights(tf, readLstm(v)) : this.cached(v));
      let h = tf.transpose(x, [1, 0, 2]);
      for (const layer of plan.encoders) h = blockLstm(tf, this.node, seqLen, h, weights(layer));
      const units = h.shape[2]!;
      const code = tf.reshape(tf.slice(h, [steps - 1, 0, 0], [1, batch, units]), [batch, units]);
      h = repeatSteps(tf, code, steps);
      for (const layer of plan.decoders) h = blockLstm(tf, this.node, seqLen, h, weights(layer));
      const flat = tf.reshape(h, [steps * batch, h.shape[2]!]);
      const y = tf.add(tf.matMul(flat, plan.denseKernel.read()), plan.denseBias.read());
      return { output: tf.transpose(tf.reshape(y, [steps, batch, channels]), [1, 0, 2]), code };
    });
  }

  /**
   * Scoring: per window, each channel's mean error over the steps and the reconstruction of the
   * last step, as one [n, 2 × channels] table. The same arithmetic as {@link apply} with fewer
   * ops: the code is repeated straight from its slice, and the errors are taken time-major.
   * `x` is [n, steps, channels], row-major; TensorFlow's Transpose makes it time-major (M0, 256
   * windows: 0.05–0.07 ms, against 0.55 ms for the copy loop in JS this replaced).
   */
  scoreTable(x: Float32Array, n: number, steps: number, channels: number, loss: 'mse' | 'mae'): Tensor {
    const { tf, plan, node } = this;
    return tf.tidy(() => {
      const input = tf.transpose(tf.tensor3d(x.subarray(0, n * steps * channels), [n, steps, channels]), [1, 0, 2]);
      let h: Tensor = input;
      if (lstmOpAvailable()) {
        // aemon's op: only the last encoder's final h, the first decoder's input projection once.
        plan.encoders.forEach((layer, i) => (h = lstmInference(node, h, readLstm(layer), { lastOnly: i === plan.encoders.length - 1 })));
        plan.decoders.forEach((layer, i) => (h = lstmInference(node, h, readLstm(layer), i === 0 ? { repeat: steps } : {})));
      } else {
        const seqLen = this.seqLen(steps);
        for (const layer of plan.encoders) h = blockLstmInference(tf, node, seqLen, h, this.cached(layer));
        const code = h.shape[2]!;
        h = tf.tile(tf.slice(h, [steps - 1, 0, 0], [1, n, code]), [steps, 1, 1]);
        for (const layer of plan.decoders) h = blockLstmInference(tf, node, seqLen, h, this.cached(layer));
      }
      const units = h.shape[2]!;
      const flat = tf.add(tf.matMul(tf.reshape(h, [steps * n, units]), plan.denseKernel.read()), plan.denseBias.read());
      const y = tf.reshape(flat, [steps, n, channels]);
      const diff = loss === 'mse' ? tf.squaredDifference(y, input) : tf.abs(tf.sub(y, input));
      const last = tf.reshape(tf.slice(y, [steps - 1, 0, 0], [1, n, channels]), [n, channels]);
      return tf.concat([tf.mean(diff, 0), last], 1);
    });
  }

  dispose(): void {
    for (const t of this.seqLens.values()) t.dispose();
    for (const c of this.cache.values()) this.tf.dispose([c.w, c.b]);
    this.seqLens.clear();
    this.cache.clear();
  }

  private cached(v: LstmVariables): BlockWeights {
    const sources = [v.kernel.read().dataId, v.recurrentKernel.read().dataId, v.bias.read().dataId];
    const hit = this.cache.get(v);
    if (hit !== undefined && hit.sources.every((s, i) => s === sources[i])) return hit;
    if (hit !== undefined) this.tf.dispose([hit.w, hit.b]);
    // Kept: made inside the caller's tidy, used across calls.
    const fresh = toBlockWeights(this.tf, readLstm(v));
    const entry = { w: this.tf.keep(fresh.w), b: this.tf.keep(fresh.b), sources };
    this.cache.set(v, entry);
    return entry;
  }

  private seqLen(steps: number): Tensor {
    let t = this.seqLens.get(steps);
    if (t === undefined) {
      // Kept: the first call is inside a tidy, and the tensor outlives it.
      t = this.tf.keep(int64Scalar(this.tf, this.node, steps));
      this.seqLens.set(steps, t);
    }
    return t;
  }
}

function readLstm(v: LstmVariables) {
  return { kernel: v.kernel.read(), recurrentKernel: v.recurrentKernel.read(), bias: v.bias.read() };
}

export type KernelChoice =
  | { kernel: 'fused'; fused: FusedForward }
  | { kernel: 'simd'; simd: SimdForward }
  | { kernel: 'layers'; note?: string };

/**
 * Picks the kernel for a model: `fused` needs the tensorflow backend and a model of the shape this
 * module builds; `simd` the same model shape and WebAssembly SIMD (any backend). `auto` takes
 * fused on tensorflow, else simd, and falls back to `layers` (with a note) where neither can run.
 */
export function chooseKernel(tf: Tf, preference: KernelPreference, model: LayersModel): KernelChoice {
  if (preference === 'layers') return { kernel: 'layers' };
  const node = nodeKernelBackend(tf);
  if (preference === 'simd' || (preference === 'auto' && node === undefined)) {
    const plan = simdUnavailable() ?? planFor(model);
    if (typeof plan !== 'string') return { kernel: 'simd', simd: new SimdForward(plan) };
    if (preference === 'auto') return { kernel: 'layers', note: plan };
    throw kernelUnavailable('simd', plan);
  }
  const plan = node === undefined ? notTensorflow(tf) : planFor(model);
  if (typeof plan !== 'string') return { kernel: 'fused', fused: new FusedForward(tf, node!, plan) };
  if (preference === 'auto') return { kernel: 'layers', note: plan };
  throw kernelUnavailable('fused', plan);
}

/** For start-up: an explicit `fused` off tensorflow, or `simd` without WebAssembly SIMD, fails before any model is built. */
export function checkKernelPreference(tf: Tf, preference: KernelPreference): void {
  if (preference === 'fused' && nodeKernelBackend(tf) === undefined) throw kernelUnavailable('fused', notTensorflow(tf));
  const noSimd = simdUnavailable();
  if (preference === 'simd' && noSimd !== undefined) throw kernelUnavailable('simd', noSimd);
}

function notTensorflow(tf: Tf): string {
  return `the backend is "${tf.getBackend()}", not "tensorflow" (tfjs-node)`;
}

function kernelUnavailable(kernel: KernelName, reason: string): AemonError {
  return new AemonError('AEMON_BACKEND', `model.kernel "${kernel}" cannot run: ${reason}`, { stage: 'startup' });
}
