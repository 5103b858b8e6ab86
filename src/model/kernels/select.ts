import type { LayersModel } from '@tensorflow/tfjs';
import { AemonError } from '../../errors.js';
import type { ModelHyperParams } from '../../pipeline/model.js';
import type { Tf } from '../backend.js';
import { isConv } from '../conv.js';
import { nodeKernelBackend } from './blockLstm.js';
import { FusedKernel } from './fused.js';
import {
  kernelOptions,
  type KernelName,
  type KernelPreference,
  type KernelSetting,
  type ScoringKernel,
} from './kernel.js';
import { LayersKernel } from './layers.js';
import { planFor } from './plan.js';
import { SimdKernel } from './simd.js';
import { simdUnavailable } from './wasm.js';

export interface KernelChoice {
  kernel: ScoringKernel;
  /** Why `auto` fell back to `layers`, when it did. */
  note?: string;
}

/**
 * Picks the kernel for a model: `fused` needs the tensorflow backend and a model of the shape
 * aemon builds; `simd` the same model shape and WebAssembly SIMD (any backend; it trains too unless
 * `model.simdTraining` is false). `auto` takes
 * fused on tensorflow, else simd, and falls back (always for the conv autoencoder) to `layers` (with a note) where neither can run.
 * An explicit kernel that cannot run throws `AEMON_BACKEND`.
 */
export function chooseKernel(
  tf: Tf,
  setting: KernelSetting,
  model: LayersModel,
  params: Readonly<ModelHyperParams>,
): KernelChoice {
  const { kernel: preference, lstmOp, simdTraining } = kernelOptions(setting);
  const layers = (note?: string): KernelChoice =>
    note === undefined
      ? { kernel: new LayersKernel(tf, model, params) }
      : { kernel: new LayersKernel(tf, model, params), note };
  if (preference === 'layers') return layers();
  if (isConv(params)) {
    if (preference === 'auto') return layers(CONV_ON_LAYERS);
    throw kernelUnavailable(preference, CONV_ON_LAYERS);
  }
  const node = nodeKernelBackend(tf);
  if (preference === 'simd' || (preference === 'auto' && node === undefined)) {
    const plan = simdUnavailable() ?? planFor(model);
    if (typeof plan !== 'string')
      return { kernel: new SimdKernel(plan, params, simdTraining === false ? undefined : tf) };
    if (preference === 'auto') return layers(plan);
    throw kernelUnavailable('simd', plan);
  }
  const plan = node === undefined ? notTensorflow(tf) : planFor(model);
  if (typeof plan !== 'string') return { kernel: new FusedKernel(tf, node!, plan, model, params, lstmOp) };
  if (preference === 'auto') return layers(plan);
  throw kernelUnavailable('fused', plan);
}

const CONV_ON_LAYERS = 'the conv autoencoder scores on tfjs-layers (the fused and simd kernels run LSTMs only)';

/** For start-up: an explicit `fused` off tensorflow, or `simd` without WebAssembly SIMD, fails before any model is built. */
export function checkKernelPreference(tf: Tf, preference: KernelPreference): void {
  if (preference === 'fused' && nodeKernelBackend(tf) === undefined)
    throw kernelUnavailable('fused', notTensorflow(tf));
  const noSimd = simdUnavailable();
  if (preference === 'simd' && noSimd !== undefined) throw kernelUnavailable('simd', noSimd);
}

function notTensorflow(tf: Tf): string {
  return `the backend is "${tf.getBackend()}", not "tensorflow" (tfjs-node)`;
}

function kernelUnavailable(kernel: KernelName, reason: string): AemonError {
  return new AemonError('AEMON_BACKEND', `model.kernel "${kernel}" cannot run: ${reason}`, { stage: 'startup' });
}

/**
 * Where a model of these params trains off the tensorflow backend, for a debug line at start-up:
 * the simd kernel trains without dropout; anything it cannot train falls back to tfjs-layers.
 */
export function simdTrainingNote(
  model: Pick<ModelHyperParams, 'architecture' | 'cell' | 'variational' | 'dropout'> & {
    kernel: KernelPreference;
    simdTraining: boolean;
  },
): string {
  const why =
    model.kernel === 'layers'
      ? 'model.kernel is "layers"'
      : model.kernel === 'fused'
        ? undefined
        : (simdUnavailable() ??
          (isConv(model)
            ? 'model.architecture is "conv"'
            : model.cell === 'gru'
              ? 'model.cell is "gru" (the simd kernel runs LSTMs only)'
              : (model.variational ?? 0) > 0
                ? 'the model is variational'
                : !model.simdTraining
                  ? 'model.simdTraining is false'
                  : model.dropout > 0
                    ? 'model.dropout > 0 (the simd kernel has no dropout)'
                    : undefined));
  return why === undefined
    ? 'training runs in the simd kernel (WebAssembly SIMD)'
    : `training runs on tfjs-layers: ${why}`;
}
