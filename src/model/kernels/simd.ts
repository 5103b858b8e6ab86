import type { BatchErrors, ModelHyperParams } from '../../pipeline/model.js';
import { reconstructionErrors } from './errors.js';
import type { Tf } from '../backend.js';
import type { ScoringKernel, TrainingForward } from './kernel.js';
import { SimdTraining } from './simdTraining.js';
import type { Plan } from './plan.js';
import { align, ensure, newInstance, type LstmExports } from './wasm.js';

/**
 * The `simd` scoring kernel (docs/performance.md#scoring-kernels): the autoencoder's inference pass run by a small
 * WebAssembly SIMD module (src/model/lstm.c) on the weights of the tfjs-layers model. It does not
 * go through any tfjs backend, so it serves wasm and cpu alike; it trains through SimdTraining.
 * On the wasm backend tfjs-layers spends most of a scoring call in slices (each one copies its
 * whole input out of the heap) and per-op dispatch; this does one call per layer and batch chunk.
 */

type LayerVariable = Plan['denseKernel'];

/** Where one LSTM layer's weights sit in the module's memory (byte offsets). */
interface LayerSlots {
  inDim: number;
  units: number;
  kernel: number;
  recurrent: number;
  bias: number;
}

interface Placed {
  encoders: LayerSlots[];
  decoders: LayerSlots[];
  dense: number;
  denseBias: number;
  /** First free byte after the weights. */
  end: number;
}

// Windows per pass through the module: bounds its memory (a layer's output for a chunk is
// chunk × steps × u floats, 2 MB for M0) whatever the scoring batch.
const CHUNK = 256;

let shared: LstmExports | undefined;

/**
 * One instance for the process, so its memory (a chunk's work space) does not grow with the
 * number of models; calls are synchronous, so models never interleave in it. Each call copies
 * its model's weights in first: tens of KB, against milliseconds of arithmetic.
 */
function instance(): LstmExports {
  if (shared === undefined) {
    shared = newInstance();
  }
  return shared;
}

class SimdForward {
  private readonly variables: LayerVariable[];
  /** The variables' values, read again when any variable has new data (fit, setWeights, load). */
  private cache: { sources: unknown[]; values: Float32Array[] } | undefined;

  constructor(private readonly plan: Plan) {
    instance();
    const lstms = [...plan.encoders, ...plan.decoders];
    this.variables = [...lstms.flatMap((l) => [l.kernel, l.recurrentKernel, l.bias]), plan.denseKernel, plan.denseBias];
  }

  /** Reconstructions of `n` windows, row-major n × steps × channels in and out. */
  reconstruct(x: Float32Array, n: number, steps: number, channels: number): Float32Array {
    return this.run(x, n, steps, channels, steps * channels, false);
  }

  /** The bottleneck codes of `n` windows (the last encoder's final h, n × its units): the encoders alone. */
  encode(x: Float32Array, n: number, steps: number, channels: number): Float32Array {
    const units = this.plan.encoders.at(-1)!.recurrentKernel.shape[0]!;
    return this.run(x, n, steps, channels, units, true);
  }

  private run(x: Float32Array, n: number, steps: number, channels: number, outPer: number, codes: boolean) {
    const wasm = instance();
    const weights = this.place(wasm);
    const out = new Float32Array(n * outPer);
    const per = steps * channels;
    for (let start = 0; start < n; start += CHUNK) {
      const rows = Math.min(CHUNK, n - start);
      const xs = x.subarray(start * per, (start + rows) * per);
      out.set(this.chunk(wasm, weights, xs, rows, steps, channels, codes), start * outPer);
    }
    return out;
  }

  dispose(): void {
    this.cache = undefined;
  }

  private chunk(
    wasm: LstmExports,
    w: Placed,
    x: Float32Array,
    n: number,
    steps: number,
    channels: number,
    codesOnly: boolean,
  ): Float32Array {
    const maxUnits = Math.max(...[...w.encoders, ...w.decoders].map((l) => l.units));
    const rows = n * steps;
    let at = w.end;
    const take = (floats: number) => {
      const p = at;
      at += align(floats * 4);
      return p;
    };
    const input = take(rows * channels);
    const projected = take(n * 4 * maxUnits);
    const seqs = [take(rows * maxUnits), take(rows * maxUnits)];
    const last = take(n * maxUnits);
    const output = take(rows * channels);
    const scratch = take(wasm.lstm_scratch(maxUnits));
    ensure(wasm, at);
    new Float32Array(wasm.memory.buffer, input, x.length).set(x);

    // The layer's input projected inside each step: its bias at every step and sequence (strides 0).
    const sequence = (l: LayerSlots, from: number, into: number, allSteps: boolean) =>
      wasm.lstm(l.bias, 0, 0, from, l.inDim, l.kernel, l.recurrent, l.units, n, steps, into, allSteps ? 1 : 0, scratch);
    let from = input;
    w.encoders.forEach((l, i) => {
      const final = i === w.encoders.length - 1;
      const into = final ? last : seqs[i % 2]!;
      sequence(l, from, into, !final);
      from = into;
    });
    if (codesOnly) return new Float32Array(wasm.memory.buffer, last, n * w.encoders.at(-1)!.units);
    w.decoders.forEach((l, i) => {
      const into = seqs[i % 2]!;
      if (i === 0) {
        // RepeatVector feeds the first decoder the same vector at every step: project it once.
        const g = 4 * l.units;
        wasm.project(last, n, l.inDim, l.kernel, l.bias, projected, g);
        wasm.lstm(projected, g, 0, last, 0, l.kernel, l.recurrent, l.units, n, steps, into, 1, scratch);
      } else {
        sequence(l, from, into, true);
      }
      from = into;
    });
    const units = w.decoders.at(-1)!.units;
    wasm.project(from, rows, units, w.dense, w.denseBias, output, channels);
    // A view: valid until the memory next grows, and the caller copies it out before that.
    return new Float32Array(wasm.memory.buffer, output, rows * channels);
  }

  /** Copies this model's weights to the start of the module's free memory. */
  private place(wasm: LstmExports): Placed {
    const sources = this.variables.map((v) => v.read().dataId);
    if (this.cache === undefined || this.cache.sources.some((s, i) => s !== sources[i])) {
      this.cache = { sources, values: this.variables.map((v) => v.read().dataSync() as Float32Array) };
    }
    const values = this.cache.values;
    const total = values.reduce((sum, v) => sum + align(v.length * 4), 0);
    let at = align(wasm.__heap_base.value);
    ensure(wasm, at + total);
    let next = 0;
    const put = (): number => {
      const v = values[next++]!;
      const p = at;
      new Float32Array(wasm.memory.buffer, p, v.length).set(v);
      at += align(v.length * 4);
      return p;
    };
    const slots = (l: Plan['encoders'][number]): LayerSlots => {
      const [inDim, g] = l.kernel.shape as [number, number];
      return { inDim, units: g / 4, kernel: put(), recurrent: put(), bias: put() };
    };
    const encoders = this.plan.encoders.map(slots);
    const decoders = this.plan.decoders.map(slots);
    const dense = put();
    const denseBias = put();
    return { encoders, decoders, dense, denseBias, end: at };
  }
}

/** The `simd` kernel (any backend): reconstructions in WebAssembly, their errors in JS; training as SimdTraining. */
export class SimdKernel implements ScoringKernel {
  readonly name = 'simd' as const;
  readonly training?: TrainingForward;
  private readonly forward: SimdForward;

  /** With `tf`, training runs through the kernel too (see SimdTraining); without, it stays on tfjs-layers. */
  constructor(
    plan: Plan,
    private readonly params: Readonly<ModelHyperParams>,
    tf?: Tf,
  ) {
    this.forward = new SimdForward(plan);
    if (tf !== undefined) {
      const { windowSize, channels } = params;
      this.training = new SimdTraining(tf, plan, windowSize, channels, (x, n) =>
        this.forward.reconstruct(x, n, windowSize, channels),
      );
    }
  }

  async score(x: Float32Array, n: number): Promise<BatchErrors> {
    return reconstructionErrors(x, await this.reconstruct(x, n), n, this.params);
  }

  async reconstruct(x: Float32Array, n: number): Promise<Float32Array> {
    return this.forward.reconstruct(x, n, this.params.windowSize, this.params.channels);
  }

  async encode(x: Float32Array, n: number): Promise<Float32Array> {
    return this.forward.encode(x, n, this.params.windowSize, this.params.channels);
  }

  dispose(): void {
    this.forward.dispose();
    (this.training as SimdTraining | undefined)?.dispose();
  }
}
