import type { Tensor } from '@tensorflow/tfjs';
import type { BatchErrors } from '../../pipeline/model.js';
import type { Encoded } from '../layers.js';

/**
 * Config `model.kernel`. `auto`: fused where the backend is tensorflow, else simd (scoring, and
 * training unless `model.simdTraining` is false), else layers.
 */
export type KernelPreference = 'auto' | 'fused' | 'simd' | 'layers';
export type KernelName = 'fused' | 'simd' | 'layers';

/**
 * How to pick a kernel: `model.kernel`, whether the fused kernel may use aemon's LSTM op
 * (`model.lstmOp`), and whether the simd kernel trains too (`model.simdTraining`, default true).
 */
export interface KernelOptions {
  kernel: KernelPreference;
  lstmOp: boolean;
  simdTraining?: boolean;
}

/** A preference alone means aemon's LSTM op where it is built (`model.lstmOp`'s default). */
export type KernelSetting = KernelPreference | KernelOptions;

export function kernelOptions(setting: KernelSetting): KernelOptions {
  return typeof setting === 'string' ? { kernel: setting, lstmOp: true } : setting;
}

/** A kernel's forward pass on tensors, for training through it (the model's own variables). */
export interface TrainingForward {
  /** [batch, time, channels] → reconstruction, same shape. */
  apply(x: Tensor, training: boolean): Tensor;
  /** The reconstruction and the bottleneck code. */
  applyWithCode(x: Tensor, training: boolean): Encoded;
}

/**
 * One way of running the autoencoder's inference pass on its weights. Inputs are checked by the
 * caller: `x` holds `n` > 0 windows, row-major n × steps × channels, in scaled units.
 */
export interface ScoringKernel {
  readonly name: KernelName;
  /** Per window its error and its channels' errors (means over the steps), and its last step's reconstruction. */
  score(x: Float32Array, n: number): Promise<BatchErrors>;
  /** Reconstructions, same layout as `x`. */
  reconstruct(x: Float32Array, n: number): Promise<Float32Array>;
  /** The bottleneck codes (n × units, the last encoder's final state), when the kernel runs the encoders alone. */
  encode?(x: Float32Array, n: number): Promise<Float32Array>;
  /** Present when training runs through this kernel too (except with dropout, which it lacks). */
  readonly training?: TrainingForward;
  dispose(): void;
}
