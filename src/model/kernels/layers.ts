import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import type { BatchErrors, ModelHyperParams } from '../../pipeline/model.js';
import type { Tf } from '../backend.js';
import { applyWithCode, clearDropoutMasks, isVariational } from '../layers.js';
import { tableErrors } from './errors.js';
import type { ScoringKernel } from './kernel.js';

/** tfjs-layers' own forward pass: what trains every model, and scores where no other kernel can. */
export function layersForward(
  tf: Tf,
  model: LayersModel,
  params: Readonly<ModelHyperParams>,
  x: Tensor,
  training: boolean,
): Tensor {
  // A VAE's layers model has z_log_var as a second output; scoring decodes z_mean alone.
  if (isVariational(params)) return tf.tidy(() => applyWithCode(model, params, x, training).output);
  if (training) return model.apply(x, { training: true }) as Tensor;
  // predict would split into batches of 32 unless told the batch size.
  return model.predict(x, { batchSize: x.shape[0]! }) as Tensor;
}

/** With dropout, inference leaves all-ones masks on the cells; free them with the call. */
export function dropMasks(tf: Tf, model: LayersModel, params: Readonly<ModelHyperParams>): void {
  if (params.dropout > 0) clearDropoutMasks(tf, model);
}

/** The `layers` kernel: tfjs-layers' LSTM (or GRU, or the VAE), on any backend and any model aemon builds. */
export class LayersKernel implements ScoringKernel {
  readonly name = 'layers' as const;

  constructor(
    private readonly tf: Tf,
    private readonly model: LayersModel,
    private readonly params: Readonly<ModelHyperParams>,
  ) {}

  score(x: Float32Array, n: number): Promise<BatchErrors> {
    const { tf, params } = this;
    const { windowSize, channels, loss } = params;
    // Columns 0..channels-1: each channel's mean error over the steps; then the reconstruction of
    // the last step, one column per channel.
    const table = tf.tidy(() => {
      const input = tf.tensor3d(x, [n, windowSize, channels]);
      const output = layersForward(tf, this.model, params, input, false);
      const diff = loss === 'mse' ? tf.squaredDifference(output, input) : tf.abs(tf.sub(output, input));
      const last = tf.reshape(tf.slice(output, [0, windowSize - 1, 0], [n, 1, channels]), [n, channels]);
      return tf.concat([tf.mean(diff, 1), last], 1);
    });
    dropMasks(tf, this.model, params);
    return tableErrors(table, n, channels);
  }

  async reconstruct(x: Float32Array, n: number): Promise<Float32Array> {
    const { tf, params } = this;
    const output = tf.tidy(() =>
      layersForward(tf, this.model, params, tf.tensor3d(x, [n, params.windowSize, params.channels]), false),
    );
    dropMasks(tf, this.model, params);
    try {
      return (await output.data()) as Float32Array;
    } finally {
      output.dispose();
    }
  }

  // The layers model is the autoencoder's, disposed with it.
  dispose(): void {}
}
