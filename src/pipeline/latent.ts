/**
 * The model's latent space, fitted at training time on the bottleneck codes of its training
 * windows: their mean, a 2-D projection (the first two principal directions), and the
 * Mahalanobis distance of a code to them, scaled so that the held-out normal windows' quantile
 * (`detection.quantile`) is 1.
 */
export interface LatentSpace {
  /** Numbers per code. */
  size: number;
  /** The training codes' mean. */
  mean: number[];
  /** The first two principal directions of the training codes, unit vectors of `size` numbers. */
  components: [number[], number[]];
  /** The share of the codes' variance along each of the two directions. */
  explained: [number, number];
  /** The inverse of the codes' covariance (shrunk towards its mean variance), row-major `size × size`. */
  precision: number[];
  /** The held-out windows' distance at `detection.quantile`: a code's distance ÷ it is its latent distance. */
  scale: number;
  /** Up to {@link SAMPLE} training windows, projected: what the operating modes the model learnt look like. */
  sample: Array<[number, number]>;
}

/** Where one window's code sits: its projection and its distance to the training codes (1 = the held-out quantile). */
export interface LatentPoint {
  x: number;
  y: number;
  distance: number;
  code: Float32Array;
}

/** Training windows kept, projected, in {@link LatentSpace.sample}. */
export const SAMPLE = 256;
/** The covariance is shrunk this far towards its mean variance, so few or collinear codes still invert. */
const SHRINK = 0.05;

function covariance(codes: Float32Array, n: number, d: number, mean: Float64Array): Float64Array {
  const cov = new Float64Array(d * d);
  const z = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) z[a] = codes[i * d + a]! - mean[a]!;
    for (let a = 0; a < d; a++) {
      const za = z[a]!;
      if (za === 0) continue;
      for (let b = a; b < d; b++) cov[a * d + b] = cov[a * d + b]! + za * z[b]!;
    }
  }
  const div = Math.max(1, n - 1);
  for (let a = 0; a < d; a++)
    for (let b = a; b < d; b++) {
      const v = cov[a * d + b]! / div;
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
  return cov;
}

/** The leading eigenvector of a symmetric matrix by power iteration from a fixed start; the sign makes its largest entry positive. */
function leadingEigenvector(m: Float64Array, d: number): { vector: Float64Array; value: number } {
  let v = new Float64Array(d);
  for (let a = 0; a < d; a++) v[a] = 1 + a / d;
  let value = 0;
  for (let it = 0; it < 500; it++) {
    const next = new Float64Array(d);
    for (let a = 0; a < d; a++) {
      let s = 0;
      for (let b = 0; b < d; b++) s += m[a * d + b]! * v[b]!;
      next[a] = s;
    }
    const norm = Math.hypot(...next);
    if (norm === 0) return { vector: v.map(() => 0), value: 0 };
    for (let a = 0; a < d; a++) next[a]! /= norm;
    let change = 0;
    for (let a = 0; a < d; a++) change = Math.max(change, Math.abs(next[a]! - v[a]!));
    v = next;
    value = norm;
    if (change < 1e-10) break;
  }
  let big = 0;
  for (let a = 1; a < d; a++) if (Math.abs(v[a]!) > Math.abs(v[big]!)) big = a;
  if (v[big]! < 0) for (let a = 0; a < d; a++) v[a] = -v[a]!;
  return { vector: v, value };
}

/** The inverse of a symmetric positive-definite matrix (Gauss–Jordan with partial pivoting). */
function invert(m: Float64Array, d: number): Float64Array {
  const a = Float64Array.from(m);
  const inv = new Float64Array(d * d);
  for (let i = 0; i < d; i++) inv[i * d + i] = 1;
  for (let col = 0; col < d; col++) {
    let pivot = col;
    for (let r = col + 1; r < d; r++) if (Math.abs(a[r * d + col]!) > Math.abs(a[pivot * d + col]!)) pivot = r;
    if (pivot !== col) {
      for (let k = 0; k < d; k++) {
        [a[col * d + k], a[pivot * d + k]] = [a[pivot * d + k]!, a[col * d + k]!];
        [inv[col * d + k], inv[pivot * d + k]] = [inv[pivot * d + k]!, inv[col * d + k]!];
      }
    }
    const p = a[col * d + col]!;
    for (let k = 0; k < d; k++) {
      a[col * d + k]! /= p;
      inv[col * d + k]! /= p;
    }
    for (let r = 0; r < d; r++) {
      if (r === col) continue;
      const f = a[r * d + col]!;
      if (f === 0) continue;
      for (let k = 0; k < d; k++) {
        a[r * d + k]! -= f * a[col * d + k]!;
        inv[r * d + k]! -= f * inv[col * d + k]!;
      }
    }
  }
  return inv;
}

function quantile(values: Float64Array, q: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return 1;
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[at]!;
}

function round(x: number): number {
  return Number(x.toPrecision(7));
}

/** The Mahalanobis distance of code `i` of `codes` under `precision` (not yet scaled). */
function mahalanobis(
  codes: Float32Array,
  i: number,
  d: number,
  mean: ArrayLike<number>,
  precision: ArrayLike<number>,
): number {
  let s = 0;
  for (let a = 0; a < d; a++) {
    const za = codes[i * d + a]! - mean[a]!;
    let row = 0;
    for (let b = 0; b < d; b++) row += precision[a * d + b]! * (codes[i * d + b]! - mean[b]!);
    s += za * row;
  }
  return Math.sqrt(Math.max(0, s));
}

/**
 * Fits the latent space on `n` training codes of `d` numbers each; `held` (its `nHeld` codes:
 * the held-out normal windows the thresholds are calibrated on) sets the distance's scale, or
 * the training codes do when there are none. Deterministic.
 */
export function fitLatent(
  codes: Float32Array,
  n: number,
  d: number,
  held: Float32Array,
  nHeld: number,
  q: number,
): LatentSpace {
  if (n < 1 || codes.length !== n * d || held.length !== nHeld * d)
    throw new Error(`fitLatent: expected ${n} × ${d} training and ${nHeld} × ${d} held-out codes`);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let a = 0; a < d; a++) mean[a] = mean[a]! + codes[i * d + a]!;
  for (let a = 0; a < d; a++) mean[a]! /= n;
  const cov = covariance(codes, n, d, mean);
  let trace = 0;
  for (let a = 0; a < d; a++) trace += cov[a * d + a]!;
  const first = leadingEigenvector(cov, d);
  const deflated = Float64Array.from(cov);
  for (let a = 0; a < d; a++)
    for (let b = 0; b < d; b++) deflated[a * d + b]! -= first.value * first.vector[a]! * first.vector[b]!;
  const second = leadingEigenvector(deflated, d);
  const level = trace > 0 ? trace / d : 1;
  const shrunk = new Float64Array(d * d);
  for (let a = 0; a < d; a++)
    for (let b = 0; b < d; b++) shrunk[a * d + b] = (1 - SHRINK) * cov[a * d + b]! + (a === b ? SHRINK * level : 0);
  // Rounded as stored; the scale is measured with the rounded numbers that scoring will use.
  const meanR = Array.from(mean, round);
  const precision = Array.from(invert(shrunk, d), round);
  const [scaleCodes, scaleN] = nHeld > 0 ? [held, nHeld] : [codes, n];
  const distances = new Float64Array(scaleN);
  for (let i = 0; i < scaleN; i++) distances[i] = mahalanobis(scaleCodes, i, d, meanR, precision);
  const scale = quantile(distances, q);
  const space: LatentSpace = {
    size: d,
    mean: meanR,
    components: [Array.from(first.vector, round), Array.from(second.vector, round)],
    explained: [trace > 0 ? round(first.value / trace) : 0, trace > 0 ? round(second.value / trace) : 0],
    precision,
    scale: scale > 0 ? scale : 1,
    sample: [],
  };
  const every = Math.max(1, Math.ceil(n / SAMPLE));
  for (let i = 0; i < n; i += every) {
    const p = project(space, codes, i);
    space.sample.push([round(p.x), round(p.y)]);
  }
  return space;
}

function project(space: LatentSpace, codes: Float32Array, i: number): { x: number; y: number } {
  const { size: d, mean, components } = space;
  let x = 0;
  let y = 0;
  for (let a = 0; a < d; a++) {
    const z = codes[i * d + a]! - mean[a]!;
    x += z * components[0][a]!;
    y += z * components[1][a]!;
  }
  return { x, y };
}

/** Code `i` of `codes` in the latent space: its projection, its scaled distance, and the code itself. */
export function latentPoint(space: LatentSpace, codes: Float32Array, i: number): LatentPoint {
  const { x, y } = project(space, codes, i);
  const d = space.size;
  const distance = mahalanobis(codes, i, d, space.mean, space.precision) / space.scale;
  return { x, y, distance, code: codes.slice(i * d, (i + 1) * d) };
}

/** Whether a parsed metadata.json's `latent` has the shape of a {@link LatentSpace}. */
export function isLatentSpace(value: unknown): value is LatentSpace {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const d = v.size;
  const numbers = (x: unknown, length: number): boolean =>
    Array.isArray(x) && x.length === length && x.every((e) => typeof e === 'number' && Number.isFinite(e));
  return (
    typeof d === 'number' &&
    Number.isInteger(d) &&
    d > 0 &&
    numbers(v.mean, d) &&
    Array.isArray(v.components) &&
    v.components.length === 2 &&
    v.components.every((c) => numbers(c, d)) &&
    numbers(v.explained, 2) &&
    numbers(v.precision, d * d) &&
    typeof v.scale === 'number' &&
    v.scale > 0 &&
    Array.isArray(v.sample) &&
    v.sample.every((p) => numbers(p, 2))
  );
}
