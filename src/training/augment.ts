/**
 * `model.levelShift`: training windows moved along a sensor's main direction of variation, so
 * that the autoencoder learns its operating point at levels the training data did not reach.
 *
 * A plant whose channels follow one load (a pump's current, pressure and temperature rise and fall
 * together) moves along that direction as its load wanders; a short training period sees only
 * part of the range, and a model that learnt absolute levels then flags every new level as an
 * anomaly. Moving whole windows along the first principal component keeps how the channels relate
 * to each other, so a channel that leaves the others (a level shift of one channel, a stuck or a
 * decorrelated sensor) is still far from anything the model saw.
 */

/** The first principal component of `rows` (row-major, scaled, `channels` columns) and its variance. */
export function principalDirection(rows: Float32Array, channels: number): { direction: number[]; variance: number } {
  const n = Math.floor(rows.length / channels);
  const mean = new Array<number>(channels).fill(0);
  for (let i = 0; i < n; i++) for (let c = 0; c < channels; c++) mean[c]! += rows[i * channels + c]! / n;
  const cov = Array.from({ length: channels }, () => new Array<number>(channels).fill(0));
  for (let i = 0; i < n; i++)
    for (let a = 0; a < channels; a++) {
      const da = rows[i * channels + a]! - mean[a]!;
      for (let b = a; b < channels; b++)
        cov[a]![b]! += (da * (rows[i * channels + b]! - mean[b]!)) / Math.max(1, n - 1);
    }
  for (let a = 0; a < channels; a++) for (let b = 0; b < a; b++) cov[a]![b] = cov[b]![a]!;
  return topEigen(cov);
}

/**
 * The largest eigenvalue of a symmetric matrix and its unit eigenvector, by cyclic Jacobi
 * rotations (robust where a power iteration can start orthogonal to the answer, e.g. two channels
 * with gains of opposite sign). Sign: the largest component is positive.
 */
function topEigen(m: number[][]): { direction: number[]; variance: number } {
  const n = m.length;
  const a = m.map((row) => [...row]);
  const v: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p]![q]! * a[p]![q]!;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = a[p]![q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q]![q]! - a[p]![p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k]![p]!;
          const akq = a[k]![q]!;
          a[k]![p] = c * akp - s * akq;
          a[k]![q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p]![k]!;
          const aqk = a[q]![k]!;
          a[p]![k] = c * apk - s * aqk;
          a[q]![k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k]![p]!;
          const vkq = v[k]![q]!;
          v[k]![p] = c * vkp - s * vkq;
          v[k]![q] = s * vkp + c * vkq;
        }
      }
  }
  let top = 0;
  for (let i = 1; i < n; i++) if (a[i]![i]! > a[top]![top]!) top = i;
  const direction = v.map((row) => row[top]!);
  let big = 0;
  for (let i = 1; i < n; i++) if (Math.abs(direction[i]!) > Math.abs(direction[big]!)) big = i;
  const sign = direction[big]! < 0 ? -1 : 1;
  return { direction: direction.map((x) => sign * x), variance: Math.max(0, a[top]![top]!) };
}

const GOLDEN = 0.6180339887498949;

/**
 * Moves each of the first `count` windows of `x` (each `size` readings × `channels`, scaled) along
 * `direction`, as a whole, by its own shift within ±`k` standard deviations along it, in place.
 * The shifts are a low-discrepancy sequence (golden-ratio steps from a start set by `seed` and
 * `stream`): they cover the range evenly however few windows there are, unlike independent
 * draws, and the same data and seed give the same windows.
 */
export function shiftWindows(
  x: Float32Array,
  count: number,
  size: number,
  channels: number,
  along: { direction: readonly number[]; variance: number },
  k: number,
  seed: number,
  stream: number,
): void {
  const amplitude = k * Math.sqrt(along.variance);
  if (!(amplitude > 0)) return;
  let u = ((Math.imul(seed | 0, 0x27d4eb2d) ^ Math.imul(stream + 1, 0x165667b1)) >>> 0) / 4294967296;
  const stride = size * channels;
  for (let w = 0; w < count; w++) {
    u = (u + GOLDEN) % 1;
    const c = (2 * u - 1) * amplitude;
    const base = w * stride;
    for (let i = 0; i < stride; i++) x[base + i]! += c * along.direction[i % channels]!;
  }
}
