import type { LayersModel, SymbolicTensor, Tensor } from '@tensorflow/tfjs';
import { AemonError } from '../errors.js';
import type { ModelHyperParams } from '../pipeline/model.js';
import type { Tf } from './backend.js';
import {
  buildConvModel,
  CONV_MODEL_NAME,
  convApplyWithCode,
  convLayersOf,
  expectedConvLayers,
  isConv,
} from './conv.js';
import { createRng, nextSeed, STREAM } from './prng.js';

/** Replaces tfjs' Math.random-based dropout with a seeded one (tfjs' `dropoutFunc` hook). */
export type DropoutFunc = (x: Tensor, rate: number) => Tensor;

export const MODEL_NAME = 'aemon_lstm_autoencoder';

export function invalid(message: string, cause?: unknown): AemonError {
  return new AemonError('AEMON_MODEL_INVALID', message, { stage: 'model', cause });
}

export function checkParams(params: ModelHyperParams): void {
  const positiveInt = ['windowSize', 'channels', 'units', 'depth'] as const;
  for (const key of positiveInt) {
    if (!Number.isInteger(params[key]) || params[key] < 1)
      throw invalid(`params.${key} must be a positive integer, got ${params[key]}`);
  }
  if (!(params.dropout >= 0 && params.dropout < 1))
    throw invalid(`params.dropout must be in [0, 1), got ${params.dropout}`);
  if (!(params.learningRate > 0)) throw invalid(`params.learningRate must be positive, got ${params.learningRate}`);
  if (params.loss !== 'mse' && params.loss !== 'mae')
    throw invalid(`params.loss must be "mse" or "mae", got ${String(params.loss)}`);
  if (!Number.isInteger(params.seed)) throw invalid(`params.seed must be an integer, got ${params.seed}`);
  if (params.cell !== undefined && params.cell !== 'lstm' && params.cell !== 'gru')
    throw invalid(`params.cell must be "lstm" or "gru", got ${String(params.cell)}`);
  if (params.noise !== undefined && !(params.noise >= 0))
    throw invalid(`params.noise must be >= 0, got ${params.noise}`);
  if (params.l1 !== undefined && !(params.l1 >= 0)) throw invalid(`params.l1 must be >= 0, got ${params.l1}`);
  if (params.contractive !== undefined && !(params.contractive >= 0 && Number.isFinite(params.contractive))) {
    throw invalid(`params.contractive must be a finite number >= 0, got ${params.contractive}`);
  }
  if (params.variational !== undefined && !(params.variational >= 0 && Number.isFinite(params.variational))) {
    throw invalid(`params.variational must be a finite number >= 0, got ${params.variational}`);
  }
  if (params.architecture !== undefined && params.architecture !== 'lstm' && params.architecture !== 'conv')
    throw invalid(`params.architecture must be "lstm" or "conv", got ${String(params.architecture)}`);
  const notConv = convConflict(params);
  if (notConv !== undefined) throw invalid(`params: ${notConv}`);
}

/**
 * What the convolutional autoencoder does not have: a recurrent cell, stacked layers (its depth
 * follows from the window), the VAE's latent layers, dropout. The config refuses the same.
 */
export function convConflict(
  params: Pick<ModelHyperParams, 'architecture' | 'cell' | 'depth' | 'variational' | 'dropout'>,
): string | undefined {
  if (!isConv(params)) return undefined;
  if (params.cell === 'gru') return 'cell "gru" is for the lstm architecture; the conv model has no recurrent cell';
  if (params.depth !== 1)
    return `depth ${params.depth} is for the lstm architecture; the conv model's depth follows from the window size`;
  if ((params.variational ?? 0) > 0) return 'variational is for the lstm architecture';
  if (params.dropout > 0) return 'dropout is for the lstm architecture';
  return undefined;
}

/** Whether the model is an LSTM-VAE (`model.variational` > 0): z_mean and z_log_var between encoder and decoder. */
export const isVariational = (params: Pick<ModelHyperParams, 'variational'>): boolean => (params.variational ?? 0) > 0;

/**
 * Encoder LSTMs → RepeatVector → decoder LSTMs → TimeDistributed(Dense). Layer names are fixed
 * (not tfjs' process-wide counters) so the saved topology, and with it the model version,
 * depends only on the params. With `model.variational` > 0 (an LSTM-VAE) the last encoder's
 * state goes through Dense `z_mean` and `z_log_var`; the graph reaches the decoder from z_mean,
 * and z_log_var is the model's second output so that it is saved and loaded with the rest.
 */
export function buildLayersModel(tf: Tf, params: ModelHyperParams, dropoutFunc: DropoutFunc): LayersModel {
  // tfjs' unit-forget-bias initialiser leaves four tensors per LSTM behind; the variables survive a tidy.
  let model: LayersModel | undefined;
  tf.tidy(() => {
    model = isConv(params) ? buildConvModel(tf, params) : assemble(tf, params, dropoutFunc);
  });
  return model!;
}

function assemble(tf: Tf, params: ModelHyperParams, dropoutFunc: DropoutFunc): LayersModel {
  const { windowSize, channels, units, depth, dropout } = params;
  const seeds = createRng(params.seed, STREAM.init);
  const lstm = (name: string, returnSequences: boolean) => {
    const common = {
      name,
      units,
      returnSequences,
      // TensorFlow's fused LSTM kernels implement sigmoid, not tfjs' default hardSigmoid.
      recurrentActivation: 'sigmoid' as const,
      dropout,
      kernelInitializer: tf.initializers.glorotUniform({ seed: nextSeed(seeds) }),
      recurrentInitializer: tf.initializers.orthogonal({ gain: 1, seed: nextSeed(seeds) }),
      biasInitializer: 'zeros' as const,
      dropoutFunc,
    };
    return params.cell === 'gru' ? tf.layers.gru(common) : tf.layers.lstm({ ...common, unitForgetBias: true });
  };
  const dense = (name: string, size: number) =>
    tf.layers.dense({
      units: size,
      name,
      kernelInitializer: tf.initializers.glorotUniform({ seed: nextSeed(seeds) }),
      biasInitializer: 'zeros',
    });
  // Made in this order, so the seeds of the plain model's layers do not depend on model.variational.
  const encoders = Array.from({ length: depth }, (_, i) => lstm(`encoder_${i + 1}`, i + 1 < depth));
  const decoders = Array.from({ length: depth }, (_, i) => lstm(`decoder_${i + 1}`, true));
  const output = dense('output_dense', channels);
  const input = tf.input({ shape: [windowSize, channels], name: 'window' });
  let h: SymbolicTensor = input;
  for (const encoder of encoders) h = encoder.apply(h) as SymbolicTensor;
  let logVar: SymbolicTensor | undefined;
  if (isVariational(params)) {
    const state = h;
    h = dense('z_mean', units).apply(state) as SymbolicTensor;
    logVar = dense('z_log_var', units).apply(state) as SymbolicTensor;
  }
  h = tf.layers.repeatVector({ n: windowSize, name: 'repeat' }).apply(h) as SymbolicTensor;
  for (const decoder of decoders) h = decoder.apply(h) as SymbolicTensor;
  const reconstruction = tf.layers
    .timeDistributed({ layer: output, name: 'reconstruction' })
    .apply(h) as SymbolicTensor;
  return tf.model({
    inputs: input,
    outputs: logVar === undefined ? reconstruction : [reconstruction, logVar],
    name: MODEL_NAME,
  });
}

/** A forward pass with the bottleneck: `code` is the last encoder's final state, or z_mean in a VAE (with its `logVar`). */
export interface Encoded {
  output: Tensor;
  code: Tensor;
  logVar?: Tensor;
}

/**
 * The layers model run layer by layer, keeping the bottleneck code [batch, units] beside the
 * reconstruction; the layer names are {@link assemble}'s. In a VAE the decoder gets
 * z = z_mean + exp(½·z_log_var)·`epsilon` when `epsilon` [batch, units] is given (training's
 * reparameterisation), else z = z_mean (scoring: the same window always gets the same score).
 */
export function applyWithCode(
  model: LayersModel,
  params: Pick<ModelHyperParams, 'depth' | 'variational' | 'architecture' | 'windowSize' | 'units'>,
  x: Tensor,
  training: boolean,
  epsilon?: Tensor,
): Encoded {
  if (isConv(params)) return convApplyWithCode(model, params, x, training);
  const run = (name: string, input: Tensor) => model.getLayer(name).apply(input, { training }) as Tensor;
  let h = x;
  for (let i = 1; i <= params.depth; i++) h = run(`encoder_${i}`, h);
  let code = h;
  let logVar: Tensor | undefined;
  if (isVariational(params)) {
    code = run('z_mean', h);
    logVar = run('z_log_var', h);
    h = epsilon === undefined ? code : code.add(logVar.mul(0.5).exp().mul(epsilon));
  }
  h = run('repeat', h);
  for (let i = 1; i <= params.depth; i++) h = run(`decoder_${i}`, h);
  const output = run('reconstruction', h);
  return logVar === undefined ? { output, code } : { output, code, logVar };
}

/** Checks that a loaded model is the autoencoder its metadata describes. */
export function checkTopology(model: LayersModel, params: ModelHyperParams): void {
  const expected = `[null,${params.windowSize},${params.channels}]`;
  // A VAE's second output is z_log_var (see assemble); a plain model has exactly one.
  const outputs = isVariational(params) ? 2 : 1;
  if (model.inputs.length !== 1 || model.outputs.length !== outputs) {
    throw invalid(
      `the model must have one input and ${outputs === 1 ? 'one output' : 'two outputs (reconstruction, z_log_var)'}, it has ${model.inputs.length} and ${model.outputs.length}`,
    );
  }
  if (outputs === 2) checkLatent(model, params);
  if (isConv(params) !== (model.name === CONV_MODEL_NAME)) {
    throw invalid(`the topology is ${model.name}, but the metadata says architecture ${params.architecture ?? 'lstm'}`);
  }
  const input = JSON.stringify(model.inputs[0]!.shape);
  const output = JSON.stringify(model.outputs[0]!.shape);
  if (input !== expected || output !== expected) {
    throw invalid(
      `the topology takes ${input} and gives ${output}, but the metadata says windowSize ${params.windowSize} and channels ${params.channels} (${expected})`,
    );
  }
  if (isConv(params)) {
    const expectedLayers = expectedConvLayers(params).join(', ');
    const actual = convLayersOf(model).join(', ');
    if (actual !== expectedLayers)
      throw invalid(`the topology has Conv1D layers [${actual}], but the metadata's params give [${expectedLayers}]`);
    return;
  }
  const cell = params.cell === 'gru' ? 'GRU' : 'LSTM';
  const lstms = lstmLayers(model).filter((layer) => layer.getClassName() === cell);
  const units = lstms.map((layer) => layer.getConfig()['units']);
  if (lstms.length !== 2 * params.depth || units.some((u) => u !== params.units)) {
    throw invalid(
      `the topology has ${lstms.length} ${cell} layers with units [${units.join(', ')}], but the metadata says depth ${params.depth} and units ${params.units}`,
    );
  }
}

/** A VAE's z_mean and z_log_var: linear Dense layers of `units`, z_log_var being the second output. */
function checkLatent(model: LayersModel, params: ModelHyperParams): void {
  for (const name of ['z_mean', 'z_log_var']) {
    const layer = model.layers.find((l) => l.name === name);
    const config = layer?.getConfig();
    if (layer?.getClassName() !== 'Dense' || config?.['units'] !== params.units || config['activation'] !== 'linear') {
      throw invalid(
        `the topology has no linear Dense layer ${name} of ${params.units} units, but the metadata says variational ${params.variational}`,
      );
    }
  }
  const logVar = JSON.stringify(model.outputs[1]!.shape);
  if (model.outputs[1]!.sourceLayer.name !== 'z_log_var' || logVar !== `[null,${params.units}]`) {
    throw invalid(
      `the model's second output must be z_log_var [null,${params.units}], it is ${model.outputs[1]!.sourceLayer.name} ${logVar}`,
    );
  }
}

/** The recurrent layers (LSTM or GRU, per `model.cell`). */
export function lstmLayers(model: LayersModel): LayersModel['layers'] {
  return model.layers.filter((layer) => layer.getClassName() === 'LSTM' || layer.getClassName() === 'GRU');
}

interface LstmCellInternals {
  dropoutFunc?: DropoutFunc;
  dropoutMask: Tensor | Tensor[] | null;
  recurrentDropoutMask: Tensor | Tensor[] | null;
}

function cellOf(layer: LayersModel['layers'][number]): LstmCellInternals {
  return (layer as unknown as { cell: LstmCellInternals }).cell;
}

/** A loaded model's cells get the seeded dropout too (functions are not part of the topology). */
export function attachDropout(model: LayersModel, dropoutFunc: DropoutFunc): void {
  for (const layer of lstmLayers(model)) cellOf(layer).dropoutFunc = dropoutFunc;
}

/** tfjs keeps the last call's dropout masks on the cell until the next call; free them now. */
export function clearDropoutMasks(tf: Tf, model: LayersModel): void {
  for (const layer of lstmLayers(model)) {
    const cell = cellOf(layer);
    if (cell.dropoutMask !== null) tf.dispose(cell.dropoutMask);
    if (cell.recurrentDropoutMask !== null) tf.dispose(cell.recurrentDropoutMask);
    cell.dropoutMask = null;
    cell.recurrentDropoutMask = null;
  }
}
