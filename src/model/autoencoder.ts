import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import type { Autoencoder, BatchErrors, FitOptions, FitReport, ModelHyperParams } from '../pipeline/model.js';
import type { Tf } from './backend.js';
import { fitAutoencoder } from './fit.js';
import type { KernelName, KernelSetting, ScoringKernel } from './kernels/kernel.js';
import { layersForward } from './kernels/layers.js';
import { chooseKernel, type KernelChoice } from './kernels/select.js';
import {
  applyWithCode,
  attachDropout,
  buildLayersModel,
  checkParams,
  checkTopology,
  clearDropoutMasks,
  invalid,
} from './layers.js';
import type { DropoutFunc, Encoded } from './layers.js';
import { createRng, nextSeed, STREAM } from './prng.js';

/** Windows per model call in {@link LstmAutoencoder.encode}. */
const ENCODE_BATCH = 512;

/**
 * The LSTM autoencoder on TensorFlow.js layers. Epochs in {@link FitReport} and progress are
 * 1-based (`bestEpoch` 3 is `loss[2]`). Scoring and reconstruction go through the model's
 * {@link ScoringKernel} (src/model/kernels/): on the tensorflow backend the `fused` kernel runs
 * the same weights through TensorFlow's BlockLSTM, and trains through it too unless there is
 * dropout; elsewhere the `simd` kernel scores and trains (without dropout) in WebAssembly SIMD.
 */
export class LstmAutoencoder implements Autoencoder {
  readonly params: Readonly<ModelHyperParams>;
  readonly backend: string;
  /** `fused` (BlockLSTM on tfjs-node), `simd` (WebAssembly SIMD) or `layers` (tfjs-layers' LSTM). */
  readonly kernel: KernelName;
  /** Why `auto` chose `layers`, when it did on the tensorflow backend. */
  readonly kernelNote: string | undefined;
  /** The underlying tfjs model, for saving; scoring and training go through the methods. */
  readonly layersModel: LayersModel;
  private readonly tf: Tf;
  private readonly scorer: ScoringKernel;
  private dropoutRng: () => number;
  private disposed = false;

  private constructor(
    tf: Tf,
    backend: string,
    params: ModelHyperParams,
    model: LayersModel | undefined,
    kernel: KernelSetting,
  ) {
    checkParams(params);
    this.tf = tf;
    this.backend = backend;
    this.params = Object.freeze({ ...params });
    this.dropoutRng = createRng(params.seed, STREAM.dropout);
    if (model === undefined) {
      this.layersModel = buildLayersModel(tf, this.params, this.dropout);
    } else {
      checkTopology(model, this.params);
      attachDropout(model, this.dropout);
      this.layersModel = model;
    }
    let choice: KernelChoice;
    try {
      choice = chooseKernel(tf, kernel, this.layersModel, this.params);
    } catch (err) {
      if (model === undefined) this.layersModel.dispose();
      throw err;
    }
    this.scorer = choice.kernel;
    this.kernel = choice.kernel.name;
    this.kernelNote = choice.kernel.name === 'layers' && backend === 'tensorflow' ? choice.note : undefined;
  }

  static create(tf: Tf, backend: string, params: ModelHyperParams, kernel: KernelSetting = 'auto'): LstmAutoencoder {
    return new LstmAutoencoder(tf, backend, params, undefined, kernel);
  }

  /** Wraps a loaded model; throws `AEMON_MODEL_INVALID` when it is not the one `params` describe. */
  static fromLayersModel(
    tf: Tf,
    backend: string,
    params: ModelHyperParams,
    model: LayersModel,
    kernel: KernelSetting = 'auto',
  ): LstmAutoencoder {
    return new LstmAutoencoder(tf, backend, params, model, kernel);
  }

  // An arrow property so tfjs can call it detached; seeded so fits repeat exactly.
  private readonly dropout: DropoutFunc = (x, rate) => this.tf.dropout(x, rate, undefined, nextSeed(this.dropoutRng));

  async fit(x: Float32Array, n: number, options: FitOptions): Promise<FitReport> {
    this.checkInput(x, n);
    return fitAutoencoder(
      {
        tf: this.tf,
        model: this.layersModel,
        params: this.params,
        forward: (batch, training) => this.forward(batch, training),
        forwardWithCode: (batch, training, epsilon) => this.forwardWithCode(batch, training, epsilon),
        resetDropout: () => {
          this.dropoutRng = createRng(this.params.seed, STREAM.dropout);
        },
        clearDropoutMasks: () => this.dropMasks(),
      },
      x,
      n,
      options,
    );
  }

  async score(x: Float32Array, n: number): Promise<BatchErrors> {
    this.checkInput(x, n);
    if (n === 0)
      return { errors: new Float32Array(0), channelErrors: new Float32Array(0), lastRows: new Float32Array(0) };
    return this.scorer.score(x, n);
  }

  async reconstruct(x: Float32Array, n: number): Promise<Float32Array> {
    this.checkInput(x, n);
    if (n === 0) return new Float32Array(0);
    return this.scorer.reconstruct(x, n);
  }

  async encode(x: Float32Array, n: number): Promise<Float32Array> {
    this.checkInput(x, n);
    if (n === 0) return new Float32Array(0);
    if (this.scorer.encode !== undefined) return this.scorer.encode(x, n);
    const { windowSize, channels } = this.params;
    const stride = windowSize * channels;
    const parts: Float32Array[] = [];
    // A bounded batch at a time: the code path keeps the whole forward pass's tensors alive.
    for (let at = 0; at < n; at += ENCODE_BATCH) {
      const m = Math.min(ENCODE_BATCH, n - at);
      const codes = this.tf.tidy(() => {
        const batch = this.tf.tensor3d(x.subarray(at * stride, (at + m) * stride), [m, windowSize, channels]);
        return this.forwardWithCode(batch, false).code.reshape([m, -1]);
      });
      parts.push((await codes.data()) as Float32Array);
      codes.dispose();
    }
    this.dropMasks();
    if (parts.length === 1) return parts[0]!;
    const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    clearDropoutMasks(this.tf, this.layersModel);
    this.layersModel.dispose();
    this.scorer.dispose();
  }

  /** Reconstructions of a batch for training: through the kernel when it trains (not with dropout, which it lacks), else tfjs-layers. */
  private forward(x: Tensor, training: boolean): Tensor {
    const through = this.scorer.training;
    if (through !== undefined && !(training && this.params.dropout > 0)) return through.apply(x, training);
    return layersForward(this.tf, this.layersModel, this.params, x, training);
  }

  /** {@link forward} plus the bottleneck code, for the sparse-latent (L1) penalty and the VAE's KL term in training. */
  private forwardWithCode(x: Tensor, training: boolean, epsilon?: Tensor): Encoded {
    const through = this.scorer.training;
    if (through !== undefined && !(training && this.params.dropout > 0)) return through.applyWithCode(x, training);
    return applyWithCode(this.layersModel, this.params, x, training, epsilon);
  }

  /** With dropout, training and inference leave all-ones masks on the cells; free them. */
  private dropMasks(): void {
    if (this.params.dropout > 0) clearDropoutMasks(this.tf, this.layersModel);
  }

  private checkInput(x: Float32Array, n: number): void {
    if (this.disposed) throw invalid('the model has been disposed');
    const { windowSize, channels } = this.params;
    if (!Number.isInteger(n) || n < 0 || x.length !== n * windowSize * channels) {
      throw invalid(
        `expected ${n} windows × ${windowSize} steps × ${channels} channels = ${n * windowSize * channels} values, got ${x.length}`,
      );
    }
  }
}

/**
 * A new, seeded LSTM autoencoder on the given tfjs namespace and backend. `kernel` is config
 * `model.kernel`: an explicit `fused` off the tensorflow backend throws `AEMON_BACKEND`.
 */
export function createAutoencoder(
  tf: Tf,
  backend: string,
  params: ModelHyperParams,
  kernel: KernelSetting = 'auto',
): Autoencoder {
  return LstmAutoencoder.create(tf, backend, params, kernel);
}
