/**
 * Nonparametric dynamic thresholds over a sensor's own smoothed scores (after telemanom, Hundman
 * et al., KDD 2018, "Detecting Spacecraft Anomalies Using LSTMs and Nonparametric Dynamic
 * Thresholding", §3.2–3.3). The window scores are smoothed with an EWMA; the last `window`
 * smoothed scores are the history, and its threshold ε = μ + z·σ takes the z that best splits the
 * history's high values from the rest. Causal: each window is judged against the threshold of the
 * history before it, then joins it. The decision score is smoothed score ÷ ε (after pruning, see
 * {@link effectiveThreshold}), so it plugs into the same "> 1" hysteresis as error ÷ threshold.
 * ε is recomputed every `every` windows, not every window: a recomputation scans the history once
 * per z (on NAB, every window instead of every 20th made the decisions ten times slower).
 * Windows kept out of the history (an open anomaly under `holdOpen`) are dropped, never learnt
 * later: adding those of short anomalies back when they closed cost 2.6 NAB points.
 */
import type { WindowScore } from '../pipeline/contracts.js';
import { type AnomalyState, type Decision, type DecisionPolicy, windowDecision } from './policy.js';
import { conforms } from './state-codec.js';

export interface DynamicConfig {
  /** Smoothed scores in the history. */
  window: number;
  /** EWMA span (α = 2 / (span + 1)) of the window scores. */
  span: number;
  /** The z tried for ε = μ + z·σ: zMin, zMin + zStep, … up to zMax. */
  zMin: number;
  zMax: number;
  zStep: number;
  /** Windows between recomputations of ε (each is O(window × number of z)). */
  every: number;
  /** Minimum relative drop p from a high value to the largest normal one (0 = no pruning). */
  pruning: number;
  /** Smoothed scores needed before the threshold decides (before that: score > 1). */
  warmup: number;
}

/** A history's threshold: ε, the z it came from, and the largest history value below ε. */
export interface DynamicThreshold {
  epsilon: number;
  /** `null` for a history without spread (σ = 0: ε = μ). */
  z: number | null;
  /** The largest value below ε (0 when there is none). */
  normalMax: number;
}

/**
 * telemanom's ε selection (`find_epsilon`) over `values` in time order: for each z, ε = μ + z·σ
 * (population σ), and the z maximising (Δμ/μ + Δσ/σ) / (|e_a| + |E_seq|²) wins, where Δμ, Δσ are
 * the drops in mean and standard deviation when the values ≥ ε are removed, e_a those values and
 * E_seq their contiguous runs. As in telemanom, ties go to the larger z and a z with no value ≥ ε
 * does not qualify; when none does, ε = μ + zMax·σ (telemanom's default `sd_lim`). telemanom's
 * error buffer around anomalous values and its "at most 5 sequences" guard are left out: the
 * history here is one sensor's recent past, not a batch judged as a whole.
 */
export function selectThreshold(
  values: ArrayLike<number>,
  zMin: number,
  zMax: number,
  zStep: number,
): DynamicThreshold {
  const n = values.length;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    sum += values[i]!;
    sumSq += values[i]! * values[i]!;
  }
  const mean = sum / n;
  const std = Math.sqrt(Math.max(0, sumSq / n - mean * mean));
  if (!(std > 0) || !(mean > 0)) return { epsilon: mean, z: null, normalMax: 0 };

  let best = -Infinity;
  let bestZ = zMax;
  const steps = Math.floor((zMax - zMin) / zStep + 1e-9);
  for (let k = 0; k <= steps; k++) {
    const z = zMin + k * zStep;
    const epsilon = mean + z * std;
    let above = 0;
    let runs = 0;
    let keptSum = 0;
    let keptSq = 0;
    let prevAbove = false;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (v >= epsilon) {
        above++;
        if (!prevAbove) runs++;
        prevAbove = true;
      } else {
        keptSum += v;
        keptSq += v * v;
        prevAbove = false;
      }
    }
    if (above === 0) continue;
    const kept = n - above;
    const keptMean = keptSum / kept;
    const keptStd = Math.sqrt(Math.max(0, keptSq / kept - keptMean * keptMean));
    const score = ((mean - keptMean) / mean + (std - keptStd) / std) / (above + runs * runs);
    if (score >= best) {
      best = score;
      bestZ = z;
    }
  }
  const epsilon = mean + bestZ * std;
  let normalMax = 0;
  for (let i = 0; i < n; i++) if (values[i]! < epsilon && values[i]! > normalMax) normalMax = values[i]!;
  return { epsilon, z: bestZ, normalMax };
}

/**
 * The threshold a smoothed score is compared with: ε, raised by telemanom's pruning so that a
 * high value must also stand a relative drop of `pruning` above the largest normal value
 * ((e − normalMax) / e ≥ p, i.e. e ≥ normalMax / (1 − p)). telemanom prunes offline, comparing
 * the maxima of all anomalous sequences of a batch; causally only the history's largest normal
 * value is there to compare with.
 */
export function effectiveThreshold(t: DynamicThreshold, pruning: number): number {
  return Math.max(t.epsilon, t.normalMax / (1 - pruning));
}

interface History {
  /** EWMA numerator and denominator (pandas' `ewm(span).mean()`, adjust=True). */
  num: number;
  den: number;
  /**
   * The last `window` smoothed scores (ring), in single precision: 16 KB per sensor at the
   * default 4000. It grows by doubling while the history fills, so a new sensor costs little.
   */
  values: Float32Array;
  count: number;
  next: number;
  /** ε_effective of the history as last recomputed; `null` until the history warmed up. */
  threshold: number | null;
  /** Windows judged since the threshold was recomputed. */
  sinceCompute: number;
}

/** Per-sensor smoothed-score histories and their dynamic thresholds. */
export class DynamicThresholds {
  private readonly histories = new Map<string, History>();
  private readonly scratch: Float64Array;

  constructor(private readonly cfg: DynamicConfig) {
    this.scratch = new Float64Array(cfg.window);
  }

  /**
   * Feeds a sensor's next window score (windows in event-time order). Returns its smoothed score
   * ÷ the history's effective threshold (> 1 = above), or `null` while the history has fewer
   * than `warmup` values (or has no positive threshold). With `absorb` false the smoothed score
   * is judged but does not join the history (the EWMA still advances).
   */
  update(sensor: string, score: number, absorb = true): number | null {
    const h = this.history(sensor);
    const decay = 1 - 2 / (this.cfg.span + 1);
    h.num = score + decay * h.num;
    h.den = 1 + decay * h.den;
    const smoothed = h.num / h.den;

    let decision: number | null = null;
    if (h.count >= this.cfg.warmup) {
      if (h.threshold === null || h.sinceCompute >= this.cfg.every) this.recompute(h);
      h.sinceCompute++;
      if (h.threshold! > 0) decision = smoothed / h.threshold!;
    }
    if (absorb) this.absorb(h, smoothed);
    return decision;
  }

  /** The effective threshold the sensor's last smoothed score was judged against (score units), if it decided. */
  threshold(sensor: string): number | null {
    return this.histories.get(sensor)?.threshold ?? null;
  }

  /** The sensor's history (its ring trimmed to the values it holds). */
  snapshot(sensor: string): History | undefined {
    const h = this.histories.get(sensor);
    return h && { ...h, values: h.values.slice(0, h.count) };
  }

  /** Takes a history `snapshot` gave; false for one of another shape or another `window`. */
  restore(sensor: string, state: unknown): boolean {
    if (!conforms(emptyHistory(), state)) return false;
    const h = state as History;
    const { window } = this.cfg;
    const fits =
      h.count <= window &&
      h.values.length === h.count &&
      (h.count < window ? h.next === h.count : h.next < window) &&
      Number.isInteger(h.count) &&
      Number.isInteger(h.next) &&
      h.next >= 0;
    if (!fits) return false;
    this.histories.set(sensor, h);
    return true;
  }

  drop(sensor: string): void {
    this.histories.delete(sensor);
  }

  private absorb(h: History, value: number): void {
    // Until the ring is full, next === count: the values sit at 0..count-1, in order.
    if (h.count === h.values.length && h.count < this.cfg.window) {
      const grown = new Float32Array(Math.min(this.cfg.window, Math.max(64, 2 * h.count)));
      grown.set(h.values);
      h.values = grown;
    }
    h.values[h.next] = value;
    h.next = (h.next + 1) % this.cfg.window;
    if (h.count < this.cfg.window) h.count++;
  }

  private recompute(h: History): void {
    const { window, zMin, zMax, zStep, pruning } = this.cfg;
    // time order: the oldest value sits at `next` once the ring is full
    const start = h.count < window ? 0 : h.next;
    for (let i = 0; i < h.count; i++) this.scratch[i] = h.values[(start + i) % window]!;
    h.threshold = effectiveThreshold(selectThreshold(this.scratch.subarray(0, h.count), zMin, zMax, zStep), pruning);
    h.sinceCompute = 0;
  }

  private history(sensor: string): History {
    let h = this.histories.get(sensor);
    if (!h) {
      h = emptyHistory();
      this.histories.set(sensor, h);
    }
    return h;
  }
}

function emptyHistory(): History {
  return { num: 0, den: 0, values: new Float32Array(0), count: 0, next: 0, threshold: null, sinceCompute: 0 };
}

export interface DynamicPolicyConfig extends DynamicConfig {
  /** Windows of an open anomaly kept out of the history, at most (0 = none). */
  holdOpen: number;
}

/**
 * `detection.decision: dynamic`: the smoothed score ÷ the sensor's dynamic threshold; the first
 * `holdOpen` windows of an open anomaly stay out of its history. The threshold in force, in
 * error units, is ε_effective × the sensor's calibrated threshold.
 */
export class DynamicPolicy implements DecisionPolicy {
  readonly name = 'dynamic' as const;
  private readonly thresholds: DynamicThresholds;

  constructor(private readonly cfg: DynamicPolicyConfig) {
    this.thresholds = new DynamicThresholds(cfg);
  }

  decide(ws: WindowScore, anomaly: Readonly<AnomalyState>): Decision {
    const { sensor } = ws.window;
    const score = this.thresholds.update(sensor, ws.score, !(anomaly.open && anomaly.openFor < this.cfg.holdOpen));
    if (score === null) return windowDecision(ws);
    return { decisionScore: score, threshold: this.thresholds.threshold(sensor)! * ws.threshold };
  }

  snapshot(sensor: string): unknown {
    return this.thresholds.snapshot(sensor);
  }

  restore(sensor: string, state: unknown): boolean {
    return this.thresholds.restore(sensor, state);
  }

  drop(sensor: string): void {
    this.thresholds.drop(sensor);
  }
}
