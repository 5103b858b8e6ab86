import { applyScaler, channelParts, channelTolerance } from '../pipeline/calibration.js';
import type { SensorWindow, WindowScore } from '../pipeline/contracts.js';
import { latentPoint } from '../pipeline/latent.js';
import type { ScoringTarget } from '../pipeline/model.js';

export interface ScoreOptions {
  /** Also encode the windows and place each code in the model's latent space (`scoring.latent`), when the model has one. */
  latent?: boolean;
  /** `scoring.latentWeight`: the latent distance's weight in the raw score, when the model has a latent space. */
  latentWeight?: number;
}

/**
 * Scores windows that share one model in a single model call: each window is scaled with its
 * own sensor's scaler, the batch goes through the autoencoder once, and each window's error (its
 * channels' errors combined as its sensor's calibration says) is divided by its sensor's threshold.
 */
export async function scoreWithModel(
  items: ReadonlyArray<{ window: SensorWindow; target: ScoringTarget }>,
  options: ScoreOptions = {},
): Promise<WindowScore[]> {
  if (items.length === 0) return [];
  const { model, metadata } = items[0]!.target.bundle;
  const { windowSize, channels } = model.params;
  const stride = windowSize * channels;
  const x = new Float32Array(items.length * stride);
  items.forEach(({ window, target }, i) => applyScaler(window.data, target.calibration, x, i * stride));
  const batch = await model.score(x, items.length);
  const { lastRows } = batch;
  const weight = options.latentWeight ?? 0;
  const space = options.latent || weight > 0 ? metadata.latent : undefined;
  const codes = space ? await model.encode(x, items.length) : undefined;
  return items.map(({ window, target }, i) => {
    const shares = new Float32Array(channels);
    const error = channelParts(batch, i, channels, target.calibration.channelErrors, shares);
    let total = 0;
    for (let c = 0; c < channels; c++) total += shares[c]!;
    for (let c = 0; c < channels; c++) shares[c] = total > 0 ? shares[c]! / total : 1 / channels;
    const { threshold, mean, std } = target.calibration;
    const ws: WindowScore = {
      window,
      error,
      channelShares: shares,
      threshold,
      score: error / threshold,
      modelVersion: metadata.version,
    };
    if (lastRows !== undefined) {
      // Back to raw units: the inverse of applyScaler.
      const raw = new Float32Array(channels);
      for (let c = 0; c < channels; c++) raw[c] = lastRows[i * channels + c]! * std[c]! + mean[c]!;
      ws.reconstruction = raw;
      ws.tolerance = channelTolerance(target.calibration, channels, model.params.loss);
    }
    if (space && codes) {
      const point = latentPoint(space, codes, i);
      if (weight > 0) ws.score = (ws.score + weight * point.distance) / (1 + weight);
      if (options.latent) ws.latent = point;
    }
    return ws;
  });
}

/** Groups scoring requests by the model bundle they use (one model call per bundle). */
export async function scoreBatch(
  items: ReadonlyArray<{ window: SensorWindow; target: ScoringTarget }>,
  options: ScoreOptions = {},
): Promise<WindowScore[]> {
  const byBundle = new Map<object, number[]>();
  items.forEach((item, i) => {
    const list = byBundle.get(item.target.bundle);
    if (list) list.push(i);
    else byBundle.set(item.target.bundle, [i]);
  });
  const out = new Array<WindowScore>(items.length);
  for (const indices of byBundle.values()) {
    const scores = await scoreWithModel(
      indices.map((i) => items[i]!),
      options,
    );
    indices.forEach((i, k) => (out[i] = scores[k]!));
  }
  return out;
}
