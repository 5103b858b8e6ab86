import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import type { Autoencoder, BatchErrors, FitOptions, FitReport, ModelHyperParams } from '../pipeline/model.js';
import type { Tf } from './backend.js';
import { fitAutoencoder } from './fit.js';
import { chooseKernel } from './fusedModel.js';
import type { FusedForward, KernelChoice, KernelName, KernelPreference } from './fusedModel.js';
import type { SimdForward } from './simdModel.js';
import { applyWithCode, attachDropout, buildLayersModel, checkParams, checkTopology, clearDropoutMasks, invalid, isVariational } from './layers.js';
import type { DropoutFunc, Encoded } from './layers.js';
import { createRng, nextSeed, STREAM } from './prng.js';

/**
 * The LSTM autoencoder on TensorFlow.js layers. Epochs in {@link FitReport} and progress are
 * 1-based (`bestEpoch` 3 is `loss[2]`). On the tensorflow backend the `fused` kernel runs the
 * same weights through TensorFlow's BlockLSTM; training with dropout stays on tfjs-layers. Elsewhere
 * the `simd` kernel scores and reconstructs them in WebAssembly SIMD; training stays on tfjs-layers.
 */
export class LstmAutoencoder implements Autoencoder {
  readonly params: Readonly<ModelHyperParams>;
  readonly backend: string;
  /** `fused` (BlockLSTM on tfjs-node), `simd` (WebAssembly SIMD scoring) or `layers` (tfjs-layers' LSTM). */
  readonly kernel: KernelName;
  /** Why `auto` chose `layers`, when it did on the tensorflow backend. */
  readonly kernelNote: string | undefined;
  /** The underlying tfjs model, for saving; scoring and training go through the methods. */
  readonly layersModel: LayersModel;
  private readonly tf: Tf;
  private readonly fused: FusedForward | undefined;
  private readonly simd: SimdForward | undefined;
  private dropoutRng: () => number;
  private disposed = false;

  private constructor(tf: Tf, backend: string, params: ModelHyperParams, model: LayersModel | undefined, kernel: KernelPreference) {
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
      choice = chooseKernel(tf, kernel, this.layersModel);
    } catch (err) {
      if (model === undefined) this.layersModel.dispose();
      throw err;
    }
    this.kernel = choice.kernel;
    this.fused = choice.kernel === 'fused' ? choice.fused : undefined;
    this.simd = choice.kernel === 'simd' ? choice.simd : undefined;
    this.kernelNote = choice.kernel === 'layers' && backend === 'tensorflow' ? choice.note : undefined;
  }

  static create(tf: Tf, backend: string, params: ModelHyperParams, kernel: KernelPreference = 'auto'): LstmAutoencoder {
    return new LstmAutoencoder(tf, backend, params, undefined, kernel);
  }

  /** Wraps a loaded model; throws `AEMON_MODEL_INVALID` when it is not the one `params` describe. */
  static fromLayersModel(tf: Tf, backend: string, params: ModelHyperParams, model: LayersModel, kernel: KernelPreference = 'auto'): LstmAutoencoder {
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
    const { channels } = this.params;
    if (n === 0) return { errors: new Float32Array(0), channelErrors: new Float32Array(0), lastRows: new Float32Array(0) };
    if (this.simd !== undefined) return this.errorsOf(x, this.simd.reconstruct(x, n, this.params.windowSize, channels), n);
    const { tf } = this;
    const { windowSize, loss } = this.params;
    // Columns 0..channels-1: each channel's mean error over the steps; then the reconstruction of
    // the last step, one column per channel. The window's error is their mean (as errorsOf).
    const table =
      this.fused !== undefined
        ? this.fused.scoreTable(x, n, windowSize, channels, loss)
        : tf.tidy(() => {
            const input = this.toTensor(x, n);
            const output = this.forward(input, false);
            const diff = loss === 'mse' ? tf.squaredDifference(output, input) : tf.abs(tf.sub(output, input));
            const last = tf.reshape(tf.slice(output, [0, windowSize - 1, 0], [n, 1, channels]), [n, channels]);
            return tf.concat([tf.mean(diff, 1), last], 1);
          });
    this.dropMasks();
    let values: Float32Array;
    try {
      values = (await table.data()) as Float32Array;
    } finally {
      table.dispose();
    }
    const errors = new Float32Array(n);
    const channelErrors = new Float32Array(n * channels);
    const lastRows = new Float32Array(n * channels);
    for (let i = 0; i < n; i++) {
      const row = i * 2 * channels;
      let total = 0;
      for (let c = 0; c < channels; c++) total += values[row + c]!;
      errors[i] = total / channels;
      channelErrors.set(values.subarray(row, row + channels), i * channels);
      lastRows.set(values.subarray(row + channels, row + 2 * channels), i * channels);
    }
    return { errors, channelErrors, lastRows };
  }

  async reconstruct(x: Float32Array, n: number): Promise<Float32Array> {
    this.checkInput(x, n);
    if (n === 0) return new Float32Array(0);
    if (this.simd !== undefined) return this.simd.reconstruct(x, n, this.params.windowSize, this.params.channels);
    const output = this.tf.tidy(() => this.forward(this.toTensor(x, n), false));
    this.dropMasks();
    try {
      return (await output.data()) as Float32Array;
    } finally {
      output.dispose();
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    clearDropoutMasks(this.tf, this.layersModel);
    this.layersModel.dispose();
    this.fused?.dispose();
    this.simd?.dispose();
  }

  /** `score`'s errors from reconstructions in hand: per channel the mean over steps, then their mean. */
  private errorsOf(x: Float32Array, output: Float32Array, n: number): BatchErrors {
    const { windowSize, channels, loss } = this.params;
    const errors = new Float32Array(n);
    const channelErrors = new Float32Array(n * channels);
    const lastRows = new Float32Array(n * channels);
    const sums = new Float64Array(channels);
    for (let i = 0; i < n; i++) {
      sums.fill(0);
      for (let t = 0; t < windowSize; t++) {
        const row = (i * windowSize + t) * channels;
        for (let c = 0; c < channels; c++) {
          const d = output[row + c]! - x[row + c]!;
          sums[c]! += loss === 'mse' ? d * d : Math.abs(d);
        }
      }
      let total = 0;
      for (let c = 0; c < channels; c++) {
        channelErrors[i * channels + c] = sums[c]! / windowSize;
        total += sums[c]! / windowSize;
      }
      errors[i] = total / channels;
      // The reconstruction of the window's last step (the live view draws it).
      const last = (i * windowSize + windowSize - 1) * channels;
      lastRows.set(output.subarray(last, last + channels), i * channels);
    }
    return { errors, channelErrors, lastRows };
  }

  /** Reconstructions of a batch; the fused kernel has no dropout, so training with it stays on layers. Never simd (fit's path). */
  private forward(x: Tensor, training: boolean): Tensor {
    if (this.fused !== undefined && !(training && this.params.dropout > 0)) return this.fused.apply(x, training);
    // A VAE's layers model has z_log_var as a second output; scoring decodes z_mean alone.
    if (isVariational(this.params)) return this.tf.tidy(() => applyWithCode(this.layersModel, this.params, x, training).output);
    if (training) return this.layersModel.apply(x, { training: true }) as Tensor;
    // predict would split into batches of 32 unless told the batch size.
    return this.layersModel.predict(x, { batchSize: x.shape[0]! }) as Tensor;
  }

  /** {@link forward} plus the bottleneck code, for the sparse-latent (L1) penalty and the VAE's KL term in training. */
  private forwardWithCode(x: Tensor, training: boolean, epsilon?: Tensor): Encoded {
    if (this.fused !== undefined && !(training && this.params.dropout > 0)) return this.fused.applyWithCode(x, training);
    return applyWithCode(this.layersModel, this.params, x, training, epsilon);
  }

  /** With dropout, inference leaves all-ones masks on the cells; free them with the call. */
  private dropMasks(): void {
    if (this.params.dropout > 0) clearDropoutMasks(this.tf, this.layersModel);
  }

  private toTensor(x: Float32Array, n: number): Tensor {
    return this.tf.tensor3d(x, [n, this.params.windowSize, this.params.channels]);
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
export function createAutoencoder(tf: Tf, backend: string, params: ModelHyperParams, kernel: KernelPreference = 'auto'): Autoencoder {
  return LstmAutoencoder.create(tf, backend, params, kernel);
}
