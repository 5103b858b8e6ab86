/**
 * NAB's scoring rules, written from their published definition (Lavin & Ahmad 2015, "Evaluating
 * real-time anomaly detection algorithms — the Numenta Anomaly Benchmark", and NAB's
 * `nab/sweeper.py`, `optimizer.py`, `runner.py`):
 * - each record of a file after the probationary period gets a sweep score: inside a labelled
 *   window the scaled sigmoid of its position (earliest = `tpWeight`, window end ≈ 0), outside it
 *   `fpWeight` × the scaled sigmoid of its distance past the previous window (−1 when none);
 * - at a threshold, a window counts the best (= earliest) detection in it, or `−fnWeight` if none;
 *   every detection outside a window adds its (negative) sweep score;
 * - one threshold per profile is chosen over the whole corpus (the sweep over every score);
 * - the total is normalised so that the null detector scores 0 and the perfect one 100.
 */

/** A profile's cost matrix, as in NAB's `profiles.json`. */
export interface CostMatrix {
  tpWeight: number;
  fpWeight: number;
  fnWeight: number;
}

/** One data file as NAB scores it. */
export interface NabFile {
  name: string;
  /** One anomaly score in [0, 1] per record, in file order. */
  scores: readonly number[];
  /** Labelled windows as inclusive record indices, in time order, not overlapping. */
  windows: ReadonlyArray<readonly [number, number]>;
}

/** A file's result at the corpus threshold: windows and records as NAB counts them. */
export interface NabFileScore {
  name: string;
  /** Raw (unnormalised) NAB score of this file. */
  score: number;
  /** Scorable windows (with at least one record after the probationary period). */
  windows: number;
  detectedWindows: number;
  /** Records (after the probationary period) detected inside a window. */
  tp: number;
  /** Records detected outside every window: the false positives NAB charges for. */
  fp: number;
  fn: number;
  tn: number;
}

export interface NabProfileResult {
  /** Anomaly scores at or above this are detections; 1.1 (NAB's start value) = never detect. */
  threshold: number;
  raw: number;
  /** Raw score of the null detector (constant 0.5, its threshold optimised alike). */
  nullRaw: number;
  /** Raw score of the perfect detector: every labelled window × `tpWeight`. */
  perfect: number;
  /** 100 × (raw − null) / (perfect − null). */
  score: number;
  perFile: NabFileScore[];
}

/** NAB's probationary fraction and the record count it caps at (15 % of 5000 = 750). */
export const PROBATIONARY_PERCENT = 0.15;
const NEVER = 1.1;
// Scores closer than this are ties; NAB then keeps the higher threshold (stable sort).
const TIE = 1e-9;

/**
 * NAB's scaled sigmoid of a relative position y: −1 at a window's start gives 0.9866, its right
 * edge 0, and positions past it go towards −1 (exactly −1 beyond 3).
 */
export function scaledSigmoid(y: number): number {
  if (y > 3) return -1;
  return 2 / (1 + Math.exp(5 * y)) - 1;
}

/** Records of the probationary period: ⌊15 % of the file⌋, at most 750. */
export function probationaryLength(records: number, percent = PROBATIONARY_PERCENT): number {
  return Math.min(Math.floor(percent * records), Math.floor(percent * 5000));
}

/** A scorable record: its anomaly score, its window (global id, −1 outside) and unweighted sweep score. */
interface SweepPoint {
  score: number;
  window: number;
  unweighted: number;
}

function sweepFile(file: NabFile, firstWindowId: number): SweepPoint[] {
  const n = file.scores.length;
  const probation = probationaryLength(n);
  const points: SweepPoint[] = [];
  let next = 0;
  let cur: readonly [number, number] | undefined;
  let curId = -1;
  let prevRight = -1;
  let prevWidth = 0;
  for (let i = 0; i < n; i++) {
    if (cur === undefined && next < file.windows.length && i === file.windows[next]![0]) {
      cur = file.windows[next]!;
      curId = firstWindowId + next++;
    }
    let unweighted: number;
    if (cur !== undefined) {
      const width = cur[1] - cur[0] + 1;
      unweighted = scaledSigmoid(-(cur[1] - i + 1) / width);
    } else if (prevRight < 0) {
      unweighted = -1;
    } else {
      // NAB divides by (width − 1); a one-record window would divide by zero there: treat as far.
      unweighted = prevWidth > 1 ? scaledSigmoid((i - prevRight) / (prevWidth - 1)) : -1;
    }
    if (i >= probation) points.push({ score: file.scores[i]!, window: cur !== undefined ? curId : -1, unweighted });
    if (cur !== undefined && i === cur[1]) {
      prevRight = i;
      prevWidth = cur[1] - cur[0] + 1;
      cur = undefined;
    }
  }
  return points;
}

interface Swept {
  points: SweepPoint[];
  /** Global window id range of each file: [first, first + count). */
  firstWindow: number[];
}

function sweepCorpus(files: readonly NabFile[]): Swept {
  const points: SweepPoint[] = [];
  const firstWindow: number[] = [];
  let id = 0;
  for (const f of files) {
    firstWindow.push(id);
    for (const p of sweepFile(f, id)) points.push(p);
    id += f.windows.length;
  }
  return { points, firstWindow };
}

function weighted(p: SweepPoint, cost: CostMatrix, maxTP: number): number {
  return p.window >= 0 ? (p.unweighted * cost.tpWeight) / maxTP : p.unweighted * cost.fpWeight;
}

/**
 * The corpus score at every candidate threshold (NAB's `calcScoreByThreshold`): the records sorted
 * by anomaly score, highest first; each new score value is a threshold that detects every record
 * at or above it. Returns the best threshold and its raw score.
 */
export function optimiseThreshold(files: readonly NabFile[], cost: CostMatrix): { threshold: number; raw: number } {
  const { points } = sweepCorpus(files);
  const maxTP = scaledSigmoid(-1);
  const sorted = [...points].sort((a, b) => b.score - a.score);
  const best = new Map<number, number>();
  for (const p of sorted) if (p.window >= 0) best.set(p.window, -cost.fnWeight);
  let total = -cost.fnWeight * best.size;
  let result = { threshold: NEVER, raw: total };
  for (let i = 0; i < sorted.length;) {
    const t = sorted[i]!.score;
    for (; i < sorted.length && sorted[i]!.score === t; i++) {
      const p = sorted[i]!;
      const s = weighted(p, cost, maxTP);
      if (p.window < 0) {
        total += s;
      } else if (s > best.get(p.window)!) {
        total += s - best.get(p.window)!;
        best.set(p.window, s);
      }
    }
    if (total > result.raw + TIE) result = { threshold: t, raw: total };
  }
  return result;
}

/** Each file's raw score and counts at one threshold (NAB's `scoreDataSet`). */
export function scoreFiles(files: readonly NabFile[], cost: CostMatrix, threshold: number): NabFileScore[] {
  const maxTP = scaledSigmoid(-1);
  return files.map((f) => {
    const points = sweepFile(f, 0);
    const best = new Map<number, number>();
    for (const p of points) if (p.window >= 0) best.set(p.window, -cost.fnWeight);
    let fpSum = 0;
    let tp = 0;
    let fp = 0;
    let fn = 0;
    let tn = 0;
    for (const p of points) {
      const detected = p.score >= threshold;
      if (p.window >= 0) {
        if (detected) {
          tp++;
          best.set(p.window, Math.max(best.get(p.window)!, weighted(p, cost, maxTP)));
        } else fn++;
      } else if (detected) {
        fp++;
        fpSum += weighted(p, cost, maxTP);
      } else tn++;
    }
    const windowScores = [...best.values()];
    return {
      name: f.name,
      score: fpSum + windowScores.reduce((a, b) => a + b, 0),
      windows: best.size,
      detectedWindows: windowScores.filter((s) => s > -cost.fnWeight).length,
      tp,
      fp,
      fn,
      tn,
    };
  });
}

/** The null detector: the same records with a constant 0.5 (NAB's `null_detector.py`). */
export function nullFiles(files: readonly NabFile[]): NabFile[] {
  return files.map((f) => ({ ...f, scores: new Array<number>(f.scores.length).fill(0.5) }));
}

/** Scores a corpus under one profile: threshold optimised over all files, then normalised. */
export function scoreProfile(files: readonly NabFile[], cost: CostMatrix): NabProfileResult {
  for (const f of files) {
    for (const s of f.scores) {
      if (!(s >= 0 && s <= 1)) throw new RangeError(`${f.name}: anomaly score ${s} is outside [0, 1]`);
    }
  }
  const { threshold, raw } = optimiseThreshold(files, cost);
  const nullRaw = optimiseThreshold(nullFiles(files), cost).raw;
  const perfect = files.reduce((n, f) => n + f.windows.length, 0) * cost.tpWeight;
  const score = perfect === nullRaw ? 0 : (100 * (raw - nullRaw)) / (perfect - nullRaw);
  return { threshold, raw, nullRaw, perfect, score, perFile: scoreFiles(files, cost, threshold) };
}
