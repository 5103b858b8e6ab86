import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import type { BatchErrors, ModelHyperParams } from '../../pipeline/model.js';
import type { Tf } from '../backend.js';
import {
  blockLstm,
  blockLstmInference,
  int64Scalar,
  lstmInference,
  lstmOpAvailable,
  repeatSteps,
  toBlockWeights,
} from './blockLstm.js';
import type { BlockWeights, NodeKernelBackend } from './blockLstm.js';
import { tableErrors } from './errors.js';
import type { ScoringKernel, TrainingForward } from './kernel.js';
import { dropMasks } from './layers.js';
import { readLstm, type LstmVariables, type Plan } from './plan.js';

interface CachedWeights extends BlockWeights {
  /** The variables' data when these were made: an optimizer step or setWeights replaces it. */
  sources: unknown[];
}

/**
 * The autoencoder's forward pass as TensorFlow `BlockLSTM` ops, on the weights of the tfjs-layers
 * model (the same variables: training either way updates both, saving is unchanged).
 * Differentiable, so `optimizer.minimize` trains through it; no dropout.
 */
class FusedForward implements TrainingForward {
  private readonly seqLens = new Map<number, Tensor>();
  // Scoring reuses the BlockLSTM-ordered weights until the variables change.
  private readonly cache = new Map<LstmVariables, CachedWeights>();

  constructor(
    private readonly tf: Tf,
    private readonly node: NodeKernelBackend,
    private readonly plan: Plan,
    /** Score with aemon's LSTM op (when it loads), or with BlockLSTM alone. */
    private readonly lstmOp: boolean,
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
   * ops: the code is repeated straight from the encoders' last step, and the errors are taken
   * time-major.
   * `x` is [n, steps, channels], row-major; TensorFlow's Transpose makes it time-major (M0, 256
   * windows: 0.05–0.07 ms, against 0.55 ms for the copy loop in JS this replaced).
   */
  scoreTable(x: Float32Array, n: number, steps: number, channels: number, loss: 'mse' | 'mae'): Tensor {
    const { tf, plan, node } = this;
    return tf.tidy(() => {
      const input = this.timeMajor(x, n, steps, channels);
      const op = this.lstmOp && lstmOpAvailable();
      const code = this.encoded(input, n, steps, op);
      let h: Tensor = code;
      if (op) {
        // aemon's op: the first decoder's input projection once.
        plan.decoders.forEach(
          (layer, i) => (h = lstmInference(node, h, readLstm(layer), i === 0 ? { repeat: steps } : {})),
        );
      } else {
        const seqLen = this.seqLen(steps);
        h = tf.tile(tf.reshape(code, [1, n, code.shape[1]!]), [steps, 1, 1]);
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

  /** The bottleneck codes [n, units] of `x` ([n, steps, channels], row-major): the encoders alone, as scoring runs them. */
  codeTable(x: Float32Array, n: number, steps: number, channels: number): Tensor {
    return this.tf.tidy(() =>
      this.encoded(this.timeMajor(x, n, steps, channels), n, steps, this.lstmOp && lstmOpAvailable()),
    );
  }

  /** `x` [n, steps, channels], row-major, as a time-major [steps, n, channels] tensor. */
  private timeMajor(x: Float32Array, n: number, steps: number, channels: number): Tensor {
    return this.tf.transpose(this.tf.tensor3d(x.subarray(0, n * steps * channels), [n, steps, channels]), [1, 0, 2]);
  }

  /**
   * The encoders over time-major `input`: the last one's final h [n, units]. With aemon's op
   * (`op`) the last encoder computes only that; BlockLSTM gives every step and the last is sliced.
   */
  private encoded(input: Tensor, n: number, steps: number, op: boolean): Tensor {
    const { tf, plan, node } = this;
    let h = input;
    if (op) {
      plan.encoders.forEach(
        (layer, i) => (h = lstmInference(node, h, readLstm(layer), { lastOnly: i === plan.encoders.length - 1 })),
      );
      return tf.reshape(h, [n, h.shape.at(-1)!]);
    }
    const seqLen = this.seqLen(steps);
    for (const layer of plan.encoders) h = blockLstmInference(tf, node, seqLen, h, this.cached(layer));
    const units = h.shape[2]!;
    return tf.reshape(tf.slice(h, [steps - 1, 0, 0], [1, n, units]), [n, units]);
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

/**
 * The `fused` kernel (tensorflow backend): scoring and training without dropout through
 * TensorFlow's BlockLSTM, or scoring through aemon's LSTM op where it is built and allowed.
 */
export class FusedKernel implements ScoringKernel {
  readonly name = 'fused' as const;
  readonly training: TrainingForward;
  private readonly forward: FusedForward;

  constructor(
    private readonly tf: Tf,
    node: NodeKernelBackend,
    plan: Plan,
    private readonly model: LayersModel,
    private readonly params: Readonly<ModelHyperParams>,
    lstmOp: boolean,
  ) {
    this.forward = new FusedForward(tf, node, plan, lstmOp);
    this.training = this.forward;
  }

  score(x: Float32Array, n: number): Promise<BatchErrors> {
    const { windowSize, channels, loss } = this.params;
    const table = this.forward.scoreTable(x, n, windowSize, channels, loss);
    dropMasks(this.tf, this.model, this.params);
    return tableErrors(table, n, channels);
  }

  async encode(x: Float32Array, n: number): Promise<Float32Array> {
    const codes = this.forward.codeTable(x, n, this.params.windowSize, this.params.channels);
    try {
      return (await codes.data()) as Float32Array;
    } finally {
      codes.dispose();
    }
  }

  async reconstruct(x: Float32Array, n: number): Promise<Float32Array> {
    const { tf, params } = this;
    const output = tf.tidy(() => this.forward.apply(tf.tensor3d(x, [n, params.windowSize, params.channels]), false));
    dropMasks(tf, this.model, params);
    try {
      return (await output.data()) as Float32Array;
    } finally {
      output.dispose();
    }
  }

  dispose(): void {
    this.forward.dispose();
  }
}
