import type { LayersModel } from '@tensorflow/tfjs';

/*
 * Where the fused and simd kernels find the weights of a model they can run: the variables of
 * its LSTM layers and of its output Dense, read from the tfjs-layers model (the same variables:
 * training updates them, saving is unchanged).
 */

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
export function planFor(model: LayersModel): Plan | string {
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  const repeat = layers.findIndex((l) => l.getClassName() === 'RepeatVector');
  const last = layers.at(-1);
  // model.variational: z_mean and z_log_var sit between the encoder and RepeatVector.
  const latent = layers.find((l) => l.getClassName() === 'Dense');
  if (latent !== undefined)
    return `the model is variational (Dense ${latent.name} between the encoder and RepeatVector)`;
  if (repeat < 1 || last?.getClassName() !== 'TimeDistributed')
    return 'the model is not LSTMs → RepeatVector → LSTMs → TimeDistributed';
  const encoders: LstmVariables[] = [];
  const decoders: LstmVariables[] = [];
  for (const [i, layer] of layers.slice(0, -1).entries()) {
    if (i === repeat) continue;
    if (layer.getClassName() !== 'LSTM') return `layer ${layer.name} is a ${layer.getClassName()}, not an LSTM`;
    const returnSequences = layer.getConfig()['returnSequences'] === true;
    if (returnSequences !== (i !== repeat - 1))
      return `LSTM layer ${layer.name} has returnSequences ${returnSequences}`;
    const vars = lstmVariables(layer);
    if (typeof vars === 'string') return vars;
    (i < repeat ? encoders : decoders).push(vars);
  }
  const dense =
    (last.getConfig()['layer'] as { className?: string; config?: Record<string, unknown> } | undefined) ?? {};
  const denseKernel = weightNamed(last, 'kernel');
  const denseBias = weightNamed(last, 'bias');
  if (
    dense.className !== 'Dense' ||
    dense.config?.['activation'] !== 'linear' ||
    !denseKernel ||
    !denseBias ||
    decoders.length === 0
  ) {
    return 'the output is not TimeDistributed(Dense) with a linear activation and a bias';
  }
  return { encoders, decoders, denseKernel, denseBias };
}

/** An LSTM's variables as tensors (their current values). */
export function readLstm(v: LstmVariables) {
  return { kernel: v.kernel.read(), recurrentKernel: v.recurrentKernel.read(), bias: v.bias.read() };
}
