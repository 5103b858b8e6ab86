import { after, before } from 'node:test';
import { createAutoencoder } from '../../src/model/autoencoder.js';
import { selectBackend } from '../../src/model/backend.js';
import type { BackendPreference, BackendSelection } from '../../src/model/backend.js';
import type { KernelName, KernelPreference } from '../../src/model/kernels/kernel.js';
import { createRng } from '../../src/model/prng.js';
import { exportArtifacts, modelVersion } from '../../src/model/io.js';
import type { Autoencoder, ModelBundle, ModelHyperParams, ModelMetadata } from '../../src/pipeline/model.js';

/**
 * The model tests run on the backend and kernel these name, so CI can run them on each:
 * AEMON_TEST_BACKEND=auto|tensorflow|wasm|cpu (default auto), AEMON_TEST_KERNEL=auto|fused|simd|layers
 * (default auto: fused on tensorflow, simd elsewhere).
 */
export const TEST_BACKEND = oneOf('AEMON_TEST_BACKEND', ['auto', 'tensorflow', 'wasm', 'cpu'] as const, 'auto');
export const TEST_KERNEL = oneOf('AEMON_TEST_KERNEL', ['auto', 'fused', 'simd', 'layers'] as const, 'auto');

function oneOf<T extends string>(name: string, values: readonly T[], fallback: T): T {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  if (!(values as readonly string[]).includes(value))
    throw new Error(`${name} must be one of ${values.join(', ')}, got "${value}"`);
  return value as T;
}

export function selectTestBackend(): Promise<BackendSelection> {
  return selectBackend(TEST_BACKEND satisfies BackendPreference);
}

/** The kernel a model built with {@link TEST_KERNEL} runs on, on this backend. */
export function expectedKernel(backend: string): KernelName {
  const preference: KernelPreference = TEST_KERNEL;
  if (preference === 'auto') return backend === 'tensorflow' ? 'fused' : 'simd';
  return preference;
}

export const SMALL: ModelHyperParams = {
  windowSize: 16,
  channels: 3,
  units: 8,
  depth: 1,
  dropout: 0,
  loss: 'mse',
  learningRate: 0.02,
  seed: 7,
};

/**
 * `n` windows of seeded multichannel sine waves (each channel its own period, each window a
 * random phase, a little noise), row-major `n × windowSize × channels`, roughly in [-1, 1].
 */
export function sineWindows(n: number, windowSize: number, channels: number, seed: number): Float32Array {
  const rng = createRng(seed, 99);
  const x = new Float32Array(n * windowSize * channels);
  for (let i = 0; i < n; i++) {
    const phase = rng() * 2 * Math.PI;
    for (let t = 0; t < windowSize; t++) {
      for (let c = 0; c < channels; c++) {
        const period = 8 + 4 * c;
        x[(i * windowSize + t) * channels + c] =
          0.8 * Math.sin(phase + (2 * Math.PI * t) / period) + 0.05 * (rng() - 0.5);
      }
    }
  }
  return x;
}

/** A copy of `x` with a spike of `size` in `channel` over two steps in the middle of each window. */
export function withSpikes(
  x: Float32Array,
  windowSize: number,
  channels: number,
  channel: number,
  size: number,
): Float32Array {
  const out = x.slice();
  const n = x.length / (windowSize * channels);
  const mid = Math.floor(windowSize / 2);
  for (let i = 0; i < n; i++) {
    for (const t of [mid, mid + 1]) out[(i * windowSize + t) * channels + channel]! += size;
  }
  return out;
}

export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return sum / values.length;
}

/**
 * A bundle for `model`: its content-derived version, channels a, b, c, an identity scaler with
 * threshold 1 as fallback and no sensors; `metadata` overrides any of it.
 */
export async function bundleFor(model: Autoencoder, metadata: Partial<ModelMetadata> = {}): Promise<ModelBundle> {
  const { weights, topology } = await exportArtifacts(model);
  const calibration = { mean: [0, 0, 0], std: [1, 1, 1], threshold: 1 };
  return {
    model,
    metadata: {
      version: modelVersion(weights, topology),
      createdAt: '2026-01-01T00:00:00.000Z',
      group: 'a,b,c',
      channels: ['a', 'b', 'c'],
      params: model.params,
      dataFrom: null,
      dataTo: null,
      trainingWindows: 0,
      fit: null,
      sensors: {},
      fallback: calibration,
      ...metadata,
    },
  };
}

/**
 * Untrained models on the test backend, as bundles: the seed makes each one (and its version)
 * different; created on 2026-01-<seed>, 100 + seed training windows, an identity calibration
 * (threshold 0.5) for sensor `s-<seed>` and as fallback; `metadata` overrides any of it. Call at
 * a test file's top level: it selects the backend before the file's tests and disposes every
 * model made after them.
 */
export function untrainedBundles(): {
  readonly tf: BackendSelection['tf'];
  readonly backend: string;
  bundle(seed: number, metadata?: Partial<ModelMetadata>): Promise<ModelBundle>;
} {
  let sel: BackendSelection | undefined;
  const made: ModelBundle[] = [];
  before(async () => {
    sel = await selectTestBackend();
  });
  after(() => {
    for (const b of made) b.model.dispose();
  });
  const selected = (): BackendSelection => {
    if (!sel) throw new Error('untrainedBundles: used outside a test');
    return sel;
  };
  return {
    get tf() {
      return selected().tf;
    },
    get backend() {
      return selected().backend;
    },
    async bundle(seed, metadata = {}) {
      const { tf, backend } = selected();
      const model = createAutoencoder(tf, backend, { ...SMALL, seed }, TEST_KERNEL);
      const calibration = { mean: [0, 0, 0], std: [1, 1, 1], threshold: 0.5 };
      const b = await bundleFor(model, {
        createdAt: new Date(Date.UTC(2026, 0, seed)).toISOString(),
        trainingWindows: 100 + seed,
        sensors: { [`s-${seed}`]: calibration },
        fallback: calibration,
        ...metadata,
      });
      made.push(b);
      return b;
    },
  };
}
