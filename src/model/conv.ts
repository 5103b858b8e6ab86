import type { LayersModel, SymbolicTensor, Tensor } from '@tensorflow/tfjs';
import type { ModelHyperParams } from '../pipeline/model.js';
import type { Tf } from './backend.js';
import { createRng, nextSeed, STREAM } from './prng.js';
import { registerWasmConvGrad } from './wasmConvGrad.js';

export const CONV_MODEL_NAME = 'aemon_conv_autoencoder';

/** Whether the params describe the convolutional autoencoder (absent `architecture`: the LSTM one). */
export const isConv = (params: Pick<ModelHyperParams, 'architecture'>): boolean => params.architecture === 'conv';

/** The shape of the convolutional autoencoder, derived from the window length and `units` alone. */
export interface ConvShape {
  /** Stride-2 encoder levels (and upsampling decoder levels). */
  levels: number;
  /** Kernel size of every convolution (odd, 'same' padding). */
  kernelSize: number;
  /** Filters of encoder level 1..levels; the last is `units`, the bottleneck's channels. */
  filters: number[];
  /** Time steps of the bottleneck code: ceil(windowSize / 2^levels). */
  codeSteps: number;
}

/**
 * The one rule: halve the time axis while the halved length stays ≥ 4, at least once and at most
 * twice (as the Keras Conv-AE); the kernel spans about a quarter of the window (odd, 3..7); each
 * level has twice the filters of the one below it, down to `units` at the bottleneck. A 32-step
 * window with 16 units gets two levels of 32 and 16 filters with kernel 7 and an 8 × 16 code.
 */
export function convShape(windowSize: number, units: number): ConvShape {
  const levels = Math.min(2, Math.max(1, Math.floor(Math.log2(windowSize / 4))));
  const kernelSize = Math.min(7, Math.max(3, 2 * Math.floor(windowSize / 8) + 1));
  const filters = Array.from({ length: levels }, (_, i) => units * 2 ** (levels - 1 - i));
  return { levels, kernelSize, filters, codeSteps: Math.ceil(windowSize / 2 ** levels) };
}

/**
 * Conv1D (stride 2, ReLU) × levels → bottleneck [codeSteps, units] → per level nearest-neighbour
 * upsampling ×2 and Conv1D (ReLU) with the encoder's filters → cropped back to the window →
 * Conv1D to the channels (linear). Upsampling + Conv1D is the decoder rather than a transposed
 * convolution: it runs on XNNPACK's convolution on WASM and avoids transposed convolutions'
 * checkerboard artefacts. A stride-2 convolution is computed as a stride-1 one and every second
 * step kept (a MaxPooling1D of size 1, stride 2): tfjs' WASM weight gradient of a strided
 * convolution is wrong (measured against a finite difference), of a stride-1 one right. Layer
 * names are fixed, as in the LSTM model.
 */
export function buildConvModel(tf: Tf, params: ModelHyperParams): LayersModel {
  registerWasmConvGrad(tf);
  const { windowSize, channels, units } = params;
  const { levels, kernelSize, filters } = convShape(windowSize, units);
  const seeds = createRng(params.seed, STREAM.init);
  const conv = (name: string, size: number, activation: 'relu' | 'linear') =>
    tf.layers.conv1d({
      name,
      filters: size,
      kernelSize,
      padding: 'same',
      activation,
      kernelInitializer: tf.initializers.glorotUniform({ seed: nextSeed(seeds) }),
      biasInitializer: 'zeros',
    });
  const input = tf.input({ shape: [windowSize, channels], name: 'window' });
  let h: SymbolicTensor = input;
  let steps = windowSize;
  // Channels of h: the bottleneck's units, then each decoder level's filters.
  let width = units;
  for (let i = 0; i < levels; i++) {
    h = conv(`encoder_${i + 1}`, filters[i]!, 'relu').apply(h) as SymbolicTensor;
    h = tf.layers
      .maxPooling1d({ name: `encoder_${i + 1}_stride`, poolSize: 1, strides: 2, padding: 'valid' })
      .apply(h) as SymbolicTensor;
    steps = Math.ceil(steps / 2);
  }
  for (let i = levels - 1; i >= 0; i--) {
    // tfjs-layers has no UpSampling1D: [steps, f] as [steps, 1, f] through UpSampling2D [2, 1].
    const f = filters[i]!;
    h = tf.layers.reshape({ name: `decoder_${i + 1}_to2d`, targetShape: [steps, 1, width] }).apply(h) as SymbolicTensor;
    h = tf.layers.upSampling2d({ name: `decoder_${i + 1}_up`, size: [2, 1] }).apply(h) as SymbolicTensor;
    steps *= 2;
    if (i === 0 && steps > windowSize) {
      // 'same' strides round up: the last upsampling can overshoot the window; drop the tail.
      const cropping: [[number, number], [number, number]] = [
        [0, steps - windowSize],
        [0, 0],
      ];
      h = tf.layers.cropping2D({ name: 'decoder_crop', cropping }).apply(h) as SymbolicTensor;
      steps = windowSize;
    }
    h = tf.layers.reshape({ name: `decoder_${i + 1}_to1d`, targetShape: [steps, width] }).apply(h) as SymbolicTensor;
    h = conv(`decoder_${i + 1}`, f, 'relu').apply(h) as SymbolicTensor;
    width = f;
  }
  const reconstruction = conv('reconstruction', channels, 'linear').apply(h) as SymbolicTensor;
  return tf.model({ inputs: input, outputs: reconstruction, name: CONV_MODEL_NAME });
}

/**
 * The model run layer by layer (it is one chain), keeping the bottleneck code flattened to
 * [batch, codeSteps · units] beside the reconstruction (for `model.l1`).
 */
export function convApplyWithCode(
  model: LayersModel,
  params: Pick<ModelHyperParams, 'windowSize' | 'units'>,
  x: Tensor,
  training: boolean,
): { output: Tensor; code: Tensor } {
  const bottleneck = `encoder_${convShape(params.windowSize, params.units).levels}_stride`;
  let h = x;
  let code: Tensor | undefined;
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    h = layer.apply(h, { training }) as Tensor;
    if (layer.name === bottleneck) code = h;
  }
  return { output: h, code: code!.reshape([code!.shape[0]!, -1]) };
}

/** The Conv1D layers a model of these params has, with their filters, in order; for checking a loaded topology. */
export function expectedConvLayers(params: Pick<ModelHyperParams, 'windowSize' | 'units' | 'channels'>): string[] {
  const { levels, filters, kernelSize } = convShape(params.windowSize, params.units);
  const encoders = filters.map((f, i) => `encoder_${i + 1}:${f}:${kernelSize}:1`);
  const decoders = filters.map((f, i) => `decoder_${i + 1}:${f}:${kernelSize}:1`).reverse();
  return [...encoders.slice(0, levels), ...decoders, `reconstruction:${params.channels}:${kernelSize}:1`];
}

/** The same description read from a model, for {@link expectedConvLayers}. */
export function convLayersOf(model: LayersModel): string[] {
  return model.layers
    .filter((l) => l.getClassName() === 'Conv1D')
    .map((l) => {
      const c = l.getConfig();
      const k = c['kernelSize'] as number[];
      const s = c['strides'] as number[];
      return `${l.name}:${String(c['filters'])}:${k.join('x')}:${s.join('x')}`;
    });
}
