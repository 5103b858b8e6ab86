import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Tensor } from '@tensorflow/tfjs';
import type { Tf } from '../backend.js';

/**
 * One LSTM layer as a single TensorFlow op: `BlockLSTM` forward and `BlockLSTMGrad` backward, run
 * by name through tfjs-node's backend (docs/performance.md#scoring-kernels). tfjs-layers runs a handful of small ops per gate
 * per step instead, which is most of why it trails Keras on the same CPU.
 */

interface OpAttr {
  name: string;
  type: number;
  value: number | boolean;
}

/** The part of tfjs-node's `NodeJSKernelBackend` used here (it is not in tfjs' public types). */
export interface NodeKernelBackend {
  binding: {
    TF_ATTR_INT: number;
    TF_ATTR_FLOAT: number;
    TF_ATTR_BOOL: number;
    TF_ATTR_TYPE: number;
    TF_FLOAT: number;
    TF_INT32: number;
    TF_INT64: number;
  };
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: Tensor[]): Tensor;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: Tensor[], outputs: number): Tensor[];
}

/** tfjs-node's backend when it is the active one, else undefined. */
export function nodeKernelBackend(tf: Tf): NodeKernelBackend | undefined {
  if (tf.getBackend() !== 'tensorflow') return undefined;
  const backend = tf.backend() as unknown as Partial<NodeKernelBackend>;
  const ok =
    typeof backend.executeMultipleOutputs === 'function' &&
    typeof backend.executeSingleOutput === 'function' &&
    backend.binding !== undefined;
  return ok ? (backend as NodeKernelBackend) : undefined;
}

/** Variables or tensors of one tfjs-layers LSTM: kernel [in, 4u], recurrent [u, 4u], bias [4u]. */
export interface LstmWeights {
  kernel: Tensor;
  recurrentKernel: Tensor;
  bias: Tensor;
}

/**
 * tfjs-layers (like Keras) orders the gate columns [i, f, c, o], BlockLSTM [i, c, f, o]. Swapping
 * the middle two is its own inverse, so the same function maps gradients back.
 */
export function swapForgetAndCell(tf: Tf, t: Tensor, axis: number): Tensor {
  const [i, f, c, o] = tf.split(t, 4, axis);
  return tf.concat([i!, c!, f!, o!], axis);
}

/**
 * BlockLSTM runs the layer for `seq_len_max` steps, an int64 scalar. tfjs has no int64 dtype,
 * so a TensorFlow `Cast` makes one; keep it for as long as the model lives (one per window size).
 */
export function int64Scalar(tf: Tf, node: NodeKernelBackend, value: number): Tensor {
  const { binding } = node;
  const attrs = [
    { name: 'SrcT', type: binding.TF_ATTR_TYPE, value: binding.TF_INT32 },
    { name: 'DstT', type: binding.TF_ATTR_TYPE, value: binding.TF_INT64 },
    { name: 'Truncate', type: binding.TF_ATTR_BOOL, value: false },
  ];
  // tfjs-node console.warns about every int64 output it wraps; this one is deliberate, and a stray
  // line on stderr would break the JSON logs.
  const warn = console.warn;
  console.warn = () => {};
  try {
    return tf.tidy(() => node.executeSingleOutput('Cast', attrs, [tf.scalar(value, 'int32')]));
  } finally {
    console.warn = warn;
  }
}

/** An LSTM's weights as BlockLSTM takes them: w = [kernel; recurrentKernel] [in + u, 4u], b [4u]. */
export interface BlockWeights {
  w: Tensor;
  b: Tensor;
}

/** tfjs-layers' weights → BlockLSTM's, with ordinary (differentiable) tfjs ops. */
export function toBlockWeights(tf: Tf, weights: LstmWeights): BlockWeights {
  return {
    w: swapForgetAndCell(tf, tf.concat([weights.kernel, weights.recurrentKernel], 0), 1),
    b: swapForgetAndCell(tf, weights.bias, 0),
  };
}

/**
 * Runs one LSTM layer over time-major `x` [time, batch, in] from zero state and returns every
 * step's h [time, batch, units]. With {@link toBlockWeights} this is tfjs-layers' LSTM with
 * `activation: 'tanh'`, `recurrentActivation: 'sigmoid'`, a bias and no recurrent dropout.
 * Differentiable in x, w and b (`tf.customGrad` around `BlockLSTMGrad`).
 */
export function blockLstm(tf: Tf, node: NodeKernelBackend, seqLen: Tensor, x: Tensor, weights: BlockWeights): Tensor {
  const { peephole, dtype, forward: forwardAttrs } = blockLstmAttrs(node);
  const layer = tf.customGrad((...args) => {
    const [xs, w, b, save] = args as [Tensor, Tensor, Tensor, (tensors: Tensor[]) => void];
    const units = b.shape[0]! / 4;
    const state = tf.zeros([xs.shape[1]!, units]);
    const noPeephole = tf.zeros([units]);
    const inputs = [seqLen, xs, state, state, w, noPeephole, noPeephole, noPeephole, b];
    // Outputs: i, cs, f, o, ci, co, h, each [time, batch, units].
    const outputs = node.executeMultipleOutputs('BlockLSTM', forwardAttrs, inputs, 7);
    save([...inputs.slice(1), ...outputs]);
    return {
      value: outputs[6]!,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const gradInputs = [seqLen, ...saved, tf.zerosLike(dy), dy];
        // Outputs: gradients of x, cs_prev, h_prev, w, wci, wcf, wco, b.
        const grads = node.executeMultipleOutputs('BlockLSTMGrad', [peephole, dtype], gradInputs, 8);
        return [grads[0]!, grads[3]!, grads[7]!];
      },
    };
  });
  return layer(x, weights.w, weights.b);
}

/** BlockLSTM's attributes: no forget bias, no clipping, no peepholes, float32. */
function blockLstmAttrs(node: NodeKernelBackend): { peephole: OpAttr; dtype: OpAttr; forward: OpAttr[] } {
  const { binding } = node;
  const peephole = { name: 'use_peephole', type: binding.TF_ATTR_BOOL, value: false };
  const dtype = { name: 'T', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT };
  const forward = [
    // tfjs-layers' unitForgetBias is already in the bias: no extra forget bias.
    { name: 'forget_bias', type: binding.TF_ATTR_FLOAT, value: 0 },
    // BlockLSTM clips the cell state at 3 unless told not to; tfjs-layers never clips.
    { name: 'cell_clip', type: binding.TF_ATTR_FLOAT, value: -1 },
    peephole,
    dtype,
  ];
  return { peephole, dtype, forward };
}

/**
 * {@link blockLstm} for inference: the op alone, without the gradient wrapper, keeping only h
 * (BlockLSTM's other six outputs are what its gradient needs).
 */
export function blockLstmInference(
  tf: Tf,
  node: NodeKernelBackend,
  seqLen: Tensor,
  x: Tensor,
  weights: BlockWeights,
): Tensor {
  const units = weights.b.shape[0]! / 4;
  const state = tf.zeros([x.shape[1]!, units]);
  const noPeephole = tf.zeros([units]);
  const outputs = node.executeMultipleOutputs(
    'BlockLSTM',
    blockLstmAttrs(node).forward,
    [seqLen, x, state, state, weights.w, noPeephole, noPeephole, noPeephole, weights.b],
    7,
  );
  tf.dispose([state, noPeephole, ...outputs.slice(0, 6)]);
  return outputs[6]!;
}

/**
 * RepeatVector in time-major form: [batch, units] → [time, batch, units]. tfjs' own tile or
 * broadcastTo back-propagates with one slice and one add per step; this sums once.
 */
export function repeatSteps(tf: Tf, h: Tensor, steps: number): Tensor {
  const repeat = tf.customGrad((...args) => {
    const v = args[0] as Tensor;
    return {
      value: tf.tile(tf.expandDims(v, 0), [steps, 1, 1]),
      gradFunc: (dy: Tensor) => tf.sum(dy, 0),
    };
  });
  return repeat(h);
}

/**
 * Where `scripts/lstm-op.sh` builds aemon's LSTM inference op (src/model/lstmOp.cc): next to the
 * libtensorflow tfjs-node runs on. Undefined when tfjs-node is not installed.
 */
export function lstmOpPath(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('@tensorflow/tfjs-node/package.json');
    return join(dirname(pkg), 'deps', 'aemon_lstm_op.node');
  } catch {
    return undefined;
  }
}

// Whether the op library loaded: a fact about the process (a library loads into it once), not a
// setting; whether a model scores with it is the fused kernel's `lstmOp` option.
let lstmOp: boolean | undefined;

/**
 * Loads aemon's LSTM inference op into this process, once: true when `AemonLstmInference` can run.
 * False without the built library, or when loading fails (the fused kernel then scores with
 * BlockLSTM, as before the op existed).
 */
export function lstmOpAvailable(): boolean {
  if (lstmOp !== undefined) return lstmOp;
  const path = lstmOpPath();
  if (path === undefined || !existsSync(path)) return (lstmOp = false);
  try {
    // A Node-API module that registers the op with the libtensorflow tfjs-node already loaded.
    process.dlopen({ exports: {} } as NodeJS.Module, path);
    lstmOp = true;
  } catch {
    lstmOp = false;
  }
  return lstmOp;
}

/**
 * One LSTM layer for inference with aemon's op (tfjs-layers' weights as they are): x time-major
 * [time, batch, in] → h [time, batch, units], or [batch, units] with `lastOnly`; with `repeat`,
 * x is [batch, in], the input at each of `repeat` steps (a decoder's repeated code).
 */
export function lstmInference(
  node: NodeKernelBackend,
  x: Tensor,
  weights: LstmWeights,
  options: { repeat?: number; lastOnly?: boolean } = {},
): Tensor {
  const { binding } = node;
  const attrs = [
    { name: 'steps', type: binding.TF_ATTR_INT, value: options.repeat ?? 0 },
    { name: 'repeat', type: binding.TF_ATTR_BOOL, value: options.repeat !== undefined },
    { name: 'last_only', type: binding.TF_ATTR_BOOL, value: options.lastOnly ?? false },
  ];
  return node.executeMultipleOutputs(
    'AemonLstmInference',
    attrs,
    [x, weights.kernel, weights.recurrentKernel, weights.bias],
    1,
  )[0]!;
}
