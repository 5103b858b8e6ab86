import type { Tensor } from '@tensorflow/tfjs';
import type { Tf } from '../backend.js';
import type { Encoded } from '../layers.js';
import type { TrainingForward } from './kernel.js';
import type { Plan } from './plan.js';
import { align, ensure, newInstance, type LstmExports } from './wasm.js';

/**
 * Training through the `simd` kernel (docs/performance.md#training-kernels): the autoencoder's
 * forward and backward passes in WebAssembly (src/model/lstmGrad.c), wrapped in one
 * `tf.customGrad` whose inputs are the window batch and the model's own variables. The loss, its
 * gradient with respect to the reconstruction, and the Adam step stay in tfjs, so the optimizer
 * and its hyper-parameters are exactly those of tfjs-layers training, and the weights trained
 * are the saved model's. The customGrad's value packs each window's reconstruction and its
 * bottleneck code side by side, so that the sparse-latent penalty's gradient reaches the encoder.
 */

interface LayerBuffers {
  inDim: number;
  units: number;
  xp: number;
  gates: number;
  cs: number;
  tcs: number;
  hs: number;
}

/** Byte offsets in the training instance's memory for one batch size. */
interface Layout {
  batch: number;
  weights: number[];
  /** The weight matrices transposed, for the backward pass (biases' slots unused). */
  transposed: number[];
  grads: number[];
  gradsEnd: number;
  x: number;
  encoders: LayerBuffers[];
  decoders: LayerBuffers[];
  code: number;
  y: number;
  dy: number;
  dh: number;
  dz: number;
  sum: number;
  dCode: number;
  dx: number;
  scratch: number;
}

export class SimdTraining implements TrainingForward {
  private wasm: LstmExports | undefined;
  private layout: Layout | undefined;
  private readonly variables: Plan['denseKernel'][];
  private readonly shapes: { inDim: number; units: number }[];
  private readonly sizes: number[];
  /** Which forward pass the instance's memory holds, so that a backward pass can tell. */
  private last = 0;

  constructor(
    private readonly tf: Tf,
    private readonly plan: Plan,
    private readonly steps: number,
    private readonly channels: number,
    /** The scoring kernel's reconstructions, for passes outside training (validation). */
    private readonly reconstruct: (x: Float32Array, n: number) => Float32Array,
  ) {
    const lstms = [...plan.encoders, ...plan.decoders];
    this.variables = [...lstms.flatMap((l) => [l.kernel, l.recurrentKernel, l.bias]), plan.denseKernel, plan.denseBias];
    this.sizes = this.variables.map((v) => (v.shape as number[]).reduce((a, b) => a * b, 1));
    this.shapes = lstms.map((l) => {
      const [inDim, g] = l.kernel.shape as [number, number];
      return { inDim, units: g / 4 };
    });
  }

  apply(x: Tensor, training: boolean): Tensor {
    if (!training) {
      const n = x.shape[0]!;
      const out = this.reconstruct(x.dataSync() as Float32Array, n);
      return this.tf.tensor3d(out.slice(), [n, this.steps, this.channels]);
    }
    const { output, code } = this.applyWithCode(x, true);
    code.dispose();
    return output;
  }

  applyWithCode(x: Tensor, _training: boolean): Encoded {
    const { tf, steps, channels } = this;
    const batch = x.shape[0]!;
    const per = steps * channels;
    const units = this.shapes[this.plan.encoders.length - 1]!.units;
    const packed = this.differentiable()(x, ...this.variables.map((v) => v.read()));
    const output = tf.reshape(tf.slice(packed, [0, 0], [batch, per]), [batch, steps, channels]);
    const code = tf.slice(packed, [0, per], [batch, units]);
    packed.dispose();
    return { output, code };
  }

  dispose(): void {
    this.wasm = undefined;
    this.layout = undefined;
  }

  private differentiable(): (...inputs: Tensor[]) => Tensor {
    const { tf } = this;
    return tf.customGrad((...args: unknown[]) => {
      const inputs = args.slice(0, this.variables.length + 1) as Tensor[];
      const x = inputs[0]!;
      const batch = x.shape[0]!;
      const xData = x.dataSync() as Float32Array;
      const weights = inputs.slice(1).map((w) => w.dataSync() as Float32Array);
      const packed = this.forward(xData, weights, batch);
      const token = this.last;
      const value = tf.tensor2d(packed, [batch, packed.length / batch]);
      const gradFunc = (dy: Tensor): Tensor[] => {
        // Another forward pass used the memory in between: run this one again.
        if (this.last !== token) this.forward(xData, weights, batch);
        const grads = this.backward(dy.dataSync() as Float32Array, batch);
        return [
          tf.tensor3d(grads[0]!, [batch, this.steps, this.channels]),
          ...grads.slice(1).map((g, i) => tf.tensor(g, inputs[i + 1]!.shape)),
        ];
      };
      return { value, gradFunc };
    }) as unknown as (...inputs: Tensor[]) => Tensor;
  }

  private instance(batch: number): { wasm: LstmExports; l: Layout } {
    this.wasm ??= newInstance();
    if (this.layout?.batch !== batch) this.layout = this.place(this.wasm, batch);
    return { wasm: this.wasm, l: this.layout };
  }

  private place(wasm: LstmExports, batch: number): Layout {
    const { steps, channels } = this;
    const rows = batch * steps;
    let at = align(wasm.__heap_base.value);
    const take = (floats: number) => {
      const p = at;
      at += align(floats * 4);
      return p;
    };
    const weights = this.sizes.map((n) => take(n));
    const transposed = this.sizes.map((n) => take(n));
    const grads = this.sizes.map((n) => take(n));
    const gradsEnd = at;
    const maxUnits = Math.max(...this.shapes.map((s) => s.units));
    const maxDim = Math.max(maxUnits, channels);
    const layer = (s: { inDim: number; units: number }): LayerBuffers => ({
      ...s,
      xp: take(rows * 4 * s.units),
      gates: take(rows * 4 * s.units),
      cs: take(rows * s.units),
      tcs: take(rows * s.units),
      hs: take(rows * s.units),
    });
    const nEnc = this.plan.encoders.length;
    const l: Layout = {
      batch,
      weights,
      transposed,
      grads,
      gradsEnd,
      x: take(rows * channels),
      encoders: this.shapes.slice(0, nEnc).map(layer),
      decoders: this.shapes.slice(nEnc).map(layer),
      code: take(batch * maxUnits),
      y: take(rows * channels),
      dy: take(rows * channels),
      dh: take(rows * maxDim),
      dz: take(rows * 4 * maxUnits),
      sum: take(batch * 4 * maxUnits),
      dCode: take(batch * maxUnits),
      dx: take(rows * channels),
      scratch: take(2 * (maxUnits + 3)),
    };
    ensure(wasm, at);
    return l;
  }

  /** The packed [batch, steps × channels + units] reconstructions and codes; keeps the activations. */
  private forward(x: Float32Array, weights: Float32Array[], batch: number): Float32Array {
    const { wasm, l } = this.instance(batch);
    const { steps, channels } = this;
    const rows = batch * steps;
    const mem = new Float32Array(wasm.memory.buffer);
    weights.forEach((w, i) => mem.set(w, l.weights[i]! / 4));
    mem.set(x, l.x / 4);
    const w = (layer: number, part: number) => l.weights[3 * layer + part]!;
    const nEnc = l.encoders.length;
    let from = l.x;
    l.encoders.forEach((e, i) => {
      const g = 4 * e.units;
      wasm.project(from, rows, e.inDim, w(i, 0), w(i, 2), e.xp, g);
      wasm.lstm_train(e.xp, steps * g, g, w(i, 1), e.units, batch, steps, e.gates, e.cs, e.tcs, e.hs);
      from = e.hs;
    });
    const last = l.encoders[nEnc - 1]!;
    const u = last.units;
    for (let b = 0; b < batch; b++) {
      const src = last.hs / 4 + (b * steps + steps - 1) * u;
      mem.copyWithin(l.code / 4 + b * u, src, src + u);
    }
    l.decoders.forEach((d, i) => {
      const g = 4 * d.units;
      const at = nEnc + i;
      if (i === 0) {
        // RepeatVector: the code's projection is the same at every step.
        wasm.project(l.code, batch, d.inDim, w(at, 0), w(at, 2), d.xp, g);
        wasm.lstm_train(d.xp, g, 0, w(at, 1), d.units, batch, steps, d.gates, d.cs, d.tcs, d.hs);
      } else {
        wasm.project(from, rows, d.inDim, w(at, 0), w(at, 2), d.xp, g);
        wasm.lstm_train(d.xp, steps * g, g, w(at, 1), d.units, batch, steps, d.gates, d.cs, d.tcs, d.hs);
      }
      from = d.hs;
    });
    const top = l.decoders.at(-1)!;
    const dense = 3 * this.shapes.length;
    wasm.project(top.hs, rows, top.units, l.weights[dense]!, l.weights[dense + 1]!, l.y, channels);
    this.last++;
    const per = steps * channels;
    const packed = new Float32Array(batch * (per + u));
    for (let b = 0; b < batch; b++) {
      packed.set(mem.subarray(l.y / 4 + b * per, l.y / 4 + (b + 1) * per), b * (per + u));
      packed.set(mem.subarray(l.code / 4 + b * u, l.code / 4 + (b + 1) * u), b * (per + u) + per);
    }
    return packed;
  }

  /** Gradients of the input and of every variable (plan order) from the packed output's gradient. */
  private backward(dyPacked: Float32Array, batch: number): Float32Array[] {
    const { wasm, l } = this.instance(batch);
    const { steps, channels } = this;
    const rows = batch * steps;
    const per = steps * channels;
    const nEnc = l.encoders.length;
    const u = l.encoders[nEnc - 1]!.units;
    const mem = new Float32Array(wasm.memory.buffer);
    mem.fill(0, l.grads[0]! / 4, l.gradsEnd / 4);
    for (let b = 0; b < batch; b++) {
      mem.set(dyPacked.subarray(b * (per + u), b * (per + u) + per), l.dy / 4 + b * per);
    }
    const dense = 3 * this.shapes.length;
    // Each layer's kernel and recurrent kernel, and the dense kernel, transposed.
    [...l.encoders, ...l.decoders].forEach((layer, i) => {
      wasm.transpose(l.weights[3 * i]!, layer.inDim, 4 * layer.units, l.transposed[3 * i]!);
      wasm.transpose(l.weights[3 * i + 1]!, layer.units, 4 * layer.units, l.transposed[3 * i + 1]!);
    });
    const top = l.decoders.at(-1)!;
    wasm.transpose(l.weights[dense]!, top.units, channels, l.transposed[dense]!);
    const w = (layer: number, part: number) => l.transposed[3 * layer + part]!;
    const gr = (layer: number, part: number) => l.grads[3 * layer + part]!;
    wasm.grad_at_b(top.hs, rows, top.units, top.units, l.dy, channels, channels, l.grads[dense]!);
    wasm.sum_steps(l.dy, 1, rows, channels, l.grads[dense + 1]!);
    wasm.a_bt(l.dy, rows, channels, l.transposed[dense]!, top.units, l.dh);
    /** One layer's weight gradients from its dz, given its input rows (`from`, or the code for the first decoder). */
    const layerGrads = (buf: LayerBuffers, at: number) => {
      const g = 4 * buf.units;
      wasm.recurrent_grad(buf.hs, l.dz, buf.units, batch, steps, gr(at, 1));
      wasm.sum_steps(l.dz, 1, rows, g, gr(at, 2));
      return g;
    };
    for (let i = l.decoders.length - 1; i >= 0; i--) {
      const d = l.decoders[i]!;
      const at = nEnc + i;
      wasm.lstm_backward(l.dh, 1, d.gates, d.cs, d.tcs, w(at, 1), d.units, batch, steps, l.dz, l.scratch);
      const g = layerGrads(d, at);
      if (i > 0) {
        const below = l.decoders[i - 1]!;
        wasm.grad_at_b(below.hs, rows, d.inDim, d.inDim, l.dz, g, g, gr(at, 0));
        wasm.a_bt(l.dz, rows, g, w(at, 0), d.inDim, l.dh);
      } else {
        // RepeatVector's backward: the code's gradient is the sum over the steps.
        wasm.sum_steps(l.dz, batch, steps, g, l.sum);
        wasm.grad_at_b(l.code, batch, d.inDim, d.inDim, l.sum, g, g, gr(at, 0));
        wasm.a_bt(l.sum, batch, g, w(at, 0), d.inDim, l.dCode);
      }
    }
    // The code's own gradient (the sparse-latent penalty), beside the decoder's.
    const view = new Float32Array(wasm.memory.buffer);
    for (let b = 0; b < batch; b++) {
      const dst = l.dCode / 4 + b * u;
      const src = b * (per + u) + per;
      for (let k = 0; k < u; k++) view[dst + k] = view[dst + k]! + dyPacked[src + k]!;
    }
    for (let i = nEnc - 1; i >= 0; i--) {
      const e = l.encoders[i]!;
      const final = i === nEnc - 1;
      wasm.lstm_backward(
        final ? l.dCode : l.dh,
        final ? 0 : 1,
        e.gates,
        e.cs,
        e.tcs,
        w(i, 1),
        e.units,
        batch,
        steps,
        l.dz,
        l.scratch,
      );
      const g = layerGrads(e, i);
      const input = i > 0 ? l.encoders[i - 1]!.hs : l.x;
      wasm.grad_at_b(input, rows, e.inDim, e.inDim, l.dz, g, g, gr(i, 0));
      wasm.a_bt(l.dz, rows, g, w(i, 0), e.inDim, i > 0 ? l.dh : l.dx);
    }
    const out = new Float32Array(wasm.memory.buffer);
    const copy = (p: number, n: number) => out.slice(p / 4, p / 4 + n);
    return [copy(l.dx, rows * channels), ...this.sizes.map((n, i) => copy(l.grads[i]!, n))];
  }
}
