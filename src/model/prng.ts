/**
 * Seeded randomness for training. tfjs' own shuffling and dropout draw from Math.random, so
 * everything that must repeat for a given seed draws from these instead.
 */

/** One independent stream per (seed, stream) pair: murmur3's finaliser spreads nearby seeds apart. */
function mix(seed: number, stream: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(stream | 0, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** mulberry32: uniform in [0, 1), 2^32 period, enough for shuffles and seeds. */
export function createRng(seed: number, stream = 0): () => number {
  let state = mix(seed, stream);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A non-negative integer seed for a tfjs initialiser or random op. */
export function nextSeed(rng: () => number): number {
  return Math.floor(rng() * 2147483647);
}

/** Fisher–Yates, in place. */
export function shuffleInPlace(values: Int32Array, rng: () => number): void {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = values[i]!;
    values[i] = values[j]!;
    values[j] = tmp;
  }
}

/** Random streams used by the model, one per purpose so that adding one never shifts another. */
export const STREAM = { init: 1, shuffle: 2, dropout: 3, noise: 4, latent: 5, contractive: 6 } as const;
