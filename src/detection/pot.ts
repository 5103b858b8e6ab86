import { quantile } from '../pipeline/calibration.js';
import type { WindowScore } from '../pipeline/contracts.js';
import { type AnomalyState, type Decision, type DecisionPolicy, windowDecision } from './policy.js';
import { conforms } from './state-codec.js';

/**
 * Peaks-over-threshold thresholds from extreme value theory: SPOT and DSPOT (Siffer et al., KDD
 * 2017, "Anomaly Detection in Streams with Extreme Value Theory"). A sensor's first `initial`
 * window scores give an initial threshold t (their `level` quantile); the excesses over t are
 * fitted with a Generalised Pareto distribution (GPD), whose tail gives z_q, the score exceeded
 * with probability `risk`. Each later score above z_q is an alarm, one between t and z_q a new
 * excess that refits the GPD, any other only counts. DSPOT (`depth` > 0) runs the same on the
 * score minus the mean of the sensor's last `depth` normal scores, so a slow drift of the score
 * level does not move the alarms.
 *
 * One departure from the paper: there an alarm leaves the model untouched, so the excesses the
 * GPD sees are cut off at z_q, the fitted tail comes out shorter, z_q lower, and so on: on
 * i.i.d. exponential scores with q = 1e-3 and a batch of 1000, z_q fell to within 5 % of t and
 * 1.2 % of 300 000 scores alarmed. Here an alarm's value still stays out (an anomaly can be any
 * size), but it counts as a right-censored excess, "above z_q − t", in the fit and in n and N_t;
 * on the same stream z_q stays at the true quantile and 0.11 % of the scores alarm.
 */

export interface PotConfig {
  /** Scores (after the drift window fills) in a sensor's initial batch. */
  initial: number;
  /** Quantile of the initial batch taken as the initial threshold t. */
  level: number;
  /** q: the probability of a normal score above z_q. */
  risk: number;
  /** DSPOT: normal scores whose mean is subtracted from each score; 0 = SPOT. */
  depth: number;
}

/** A Generalised Pareto fit: shape ξ (0 = exponential) and scale σ. */
export interface GpdFit {
  xi: number;
  sigma: number;
}

/**
 * Excesses the GPD is fitted on: the most recent of a sensor's (the exceedance rate N_t / n still
 * counts them all). Enough for a stable two-parameter fit, few enough that a refit stays cheap
 * (about 0.2 ms), and recent, so the tail follows a sensor that changes slowly.
 */
export const MAX_EXCESSES = 200;

/**
 * Fewer excesses than this are fitted as an exponential tail (ξ = 0, σ = their mean, the MLE of
 * that one-parameter family): a shape estimated from a handful of points swings from a short
 * bounded tail to a very heavy one, and z_q with it.
 */
export const MIN_GPD_EXCESSES = 10;

/**
 * From {@link MIN_GPD_EXCESSES} excesses on, the GPD is refitted at every this-many-th new excess
 * (one more excess among ten or more moves z_q little). 300 000 i.i.d. scores at level 0.98 took
 * 1.2 s refitting at every excess, 0.13 s so, with the same alarm rate (0.107 %, 0.106 %).
 */
export const REFIT_EVERY = 10;

/** Points per side (θ < 0, θ > 0) of the grid the profile likelihood is first maximised on. */
const GRID = 48;
/** How close (relative) the grid comes to θ = 0 and to θ = −1 / max y. */
const EDGE = 1e-6;

/**
 * GPD log-likelihood of excesses y, and of right-censored excesses c (known only to be above c):
 * −N ln σ − (1 + 1/ξ) Σ ln(1 + ξ y / σ) − (1/ξ) Σ ln(1 + ξ c / σ); for ξ = 0, −N ln σ − (Σ y + Σ c) / σ.
 */
export function gpdLogLikelihood(y: ArrayLike<number>, xi: number, sigma: number, c: ArrayLike<number> = []): number {
  if (!(sigma > 0)) return -Infinity;
  const sy = sumLog(y, xi / sigma);
  const sc = sumLog(c, xi / sigma);
  if (xi === 0) return -y.length * Math.log(sigma) - (sy + sc) / sigma;
  if (!Number.isFinite(sy) || !Number.isFinite(sc)) return -Infinity;
  return -y.length * Math.log(sigma) - (1 + 1 / xi) * sy - sc / xi;
}

/** Σ ln(1 + θ v) (−∞ if a term is not positive); for θ = 0, Σ v. */
function sumLog(v: ArrayLike<number>, theta: number): number {
  let s = 0;
  if (theta === 0) {
    for (let i = 0; i < v.length; i++) s += v[i]!;
    return s;
  }
  for (let i = 0; i < v.length; i++) {
    const a = 1 + theta * v[i]!;
    if (a <= 0) return -Infinity;
    s += Math.log(a);
  }
  return s;
}

/**
 * The likelihood maximised over ξ at fixed θ = ξ / σ (Grimshaw's reduction): setting its ξ
 * derivative to 0 gives ξ(θ) = (Σ ln(1 + θ y) + Σ ln(1 + θ c)) / N, σ = ξ / θ, and there the
 * log-likelihood is −N ln σ − Σ ln(1 + θ y) − N. At θ = 0 it is the exponential fit,
 * σ = (Σ y + Σ c) / N. (Without c, its stationary points are the roots of Grimshaw's u v = 1.)
 */
function profile(y: ArrayLike<number>, c: ArrayLike<number>, theta: number): { ll: number; fit: GpdFit } {
  const n = y.length;
  if (theta === 0) {
    const sigma = (sumLog(y, 0) + sumLog(c, 0)) / n;
    return { ll: -n * Math.log(sigma) - n, fit: { xi: 0, sigma } };
  }
  const a = sumLog(y, theta);
  const b = sumLog(c, theta);
  const xi = (a + b) / n;
  const sigma = xi / theta;
  if (!Number.isFinite(xi) || !(sigma > 0)) return { ll: -Infinity, fit: { xi: 0, sigma: 0 } };
  return { ll: -n * Math.log(sigma) - a - n, fit: { xi, sigma } };
}

/** n points from a to b (0 < a < b), evenly spaced in log. */
function geometric(a: number, b: number, n: number): number[] {
  const r = Math.log(b / a) / (n - 1);
  return Array.from({ length: n }, (_, i) => a * Math.exp(r * i));
}

/**
 * Maximum-likelihood GPD fit of excesses y (all > 0), with right-censored excesses c (alarms:
 * above c, value not used). Grimshaw's trick, as in the paper, reduces the fit to one variable,
 * θ = ξ / σ, on (−1 / max, ∞); rather than solving Grimshaw's equation for the stationary points
 * (roots that vanish into rounding noise near θ = 0, where the exponential fit lies), the
 * profile likelihood is maximised directly: on a log-spaced grid on each side of 0 (up to
 * Grimshaw's bound 2(ȳ − min y) / min y²) and at θ = 0, then by golden-section search between
 * the best point's neighbours. Fewer than {@link MIN_GPD_EXCESSES} excesses: the exponential
 * fit; none: σ = 0.
 */
export function fitGpd(y: ArrayLike<number>, c: ArrayLike<number> = []): GpdFit {
  const n = y.length;
  if (n === 0) return { xi: 0, sigma: 0 };
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    sum += y[i]!;
    min = Math.min(min, y[i]!);
    max = Math.max(max, y[i]!);
  }
  for (let i = 0; i < c.length; i++) max = Math.max(max, c[i]!);
  const mean = sum / n;
  if (n < MIN_GPD_EXCESSES || !(max > min)) return profile(y, c, 0).fit;

  const half = geometric(EDGE, 0.5, GRID / 2);
  const thetas = [
    ...half.map((f) => -(1 - f) / max),
    ...half
      .slice()
      .reverse()
      .map((f) => -f / max),
    0,
  ];
  const upper = Math.min((2 * (mean - min)) / (min * min), 1e8 / mean);
  if (upper > EDGE / mean) thetas.push(...geometric(EDGE / mean, upper, GRID));

  let k = 0;
  let best = profile(y, c, 0);
  thetas.forEach((theta, i) => {
    const p = profile(y, c, theta);
    if (p.ll > best.ll) [best, k] = [p, i];
  });
  if (best.fit.xi === 0) return best.fit;
  // Golden-section search for the maximum between the best grid point's neighbours.
  let lo = thetas[Math.max(k - 1, 0)]!;
  let hi = thetas[Math.min(k + 1, thetas.length - 1)]!;
  const g = (Math.sqrt(5) - 1) / 2;
  let x1 = hi - g * (hi - lo);
  let x2 = lo + g * (hi - lo);
  let p1 = profile(y, c, x1);
  let p2 = profile(y, c, x2);
  for (let i = 0; i < 60 && hi - lo > 1e-10 * Math.abs(hi + lo); i++) {
    if (p1.ll >= p2.ll) {
      [hi, x2, p2] = [x2, x1, p1];
      x1 = hi - g * (hi - lo);
      p1 = profile(y, c, x1);
    } else {
      [lo, x1, p1] = [x1, x2, p2];
      x2 = lo + g * (hi - lo);
      p2 = profile(y, c, x2);
    }
  }
  for (const p of [p1, p2]) if (p.ll > best.ll) best = p;
  return best.fit;
}

/**
 * z_q = t + σ/ξ · ((q n / N_t)^(−ξ) − 1), the score exceeded with probability q given n scores of
 * which N_t were over t; its limit t − σ ln(q n / N_t) for ξ → 0.
 */
export function potThreshold(t: number, fit: GpdFit, q: number, n: number, nt: number): number {
  const r = (q * n) / Math.max(nt, 1);
  if (Math.abs(fit.xi) < 1e-9) return t - fit.sigma * Math.log(r);
  return t + (fit.sigma / fit.xi) * (Math.pow(r, -fit.xi) - 1);
}

interface SensorPot {
  /** The initial batch (drift-corrected scores) while it fills; emptied at calibration. */
  batch: number[];
  calibrated: boolean;
  t: number;
  z: number;
  /** Scores counted (n) and excesses over t among them (N_t), since calibration began. */
  n: number;
  nt: number;
  /** The last {@link MAX_EXCESSES} excesses (ring); censored ones are alarms', at z_q − t. */
  excesses: Float64Array;
  censored: Uint8Array;
  excessCount: number;
  excessNext: number;
  /** DSPOT: the last `depth` normal scores (ring) and their sum. */
  drift: Float64Array;
  driftCount: number;
  driftNext: number;
  driftSum: number;
  sinceExact: number;
}

/** What a sensor's POT model stands at (for tests and diagnostics). */
export interface PotState {
  calibrated: boolean;
  t: number;
  z: number;
  n: number;
  nt: number;
  /** The DSPOT drift (mean of the last `depth` normal scores); 0 for SPOT. */
  drift: number;
}

/** Per-sensor SPOT / DSPOT models and the decision score of each new window score. */
export class ScorePot {
  private readonly sensors = new Map<string, SensorPot>();

  constructor(private readonly cfg: PotConfig) {}

  /**
   * Feeds a sensor's next window score (windows in event-time order). Returns the decision score
   * (x − t) ÷ (z_q − t), x the score (SPOT) or the score less the drift (DSPOT): above 1 exactly
   * when x is above z_q, 0 at t, negative below; or `null` while the sensor's drift window and
   * initial batch fill (and for a non-finite score). Measured from t rather than 0 (score ÷ z_q)
   * so that the hysteresis' `closeBelow` falls between t and z_q: a sensor whose scores sit in a
   * narrow band far from 0 has its band above closeBelow × z_q, and no anomaly of it could close.
   * An alarm joins the fit as a censored excess and stays out of the drift window. With `absorb`
   * false the score is judged but changes nothing (an open anomaly's windows are not learnt).
   */
  update(sensor: string, score: number, absorb = true): number | null {
    if (!Number.isFinite(score)) return null;
    const p = this.pot(sensor);
    const drift = this.driftOf(p);
    const x = score - drift;
    if (!p.calibrated) {
      if (!absorb) return null;
      if (p.driftCount >= this.cfg.depth) p.batch.push(x);
      this.pushDrift(p, score);
      if (p.batch.length >= this.cfg.initial) this.calibrate(p);
      return null;
    }
    const decision = (x - p.t) / Math.max(p.z - p.t, Number.MIN_VALUE);
    if (!absorb) return decision;
    p.n++;
    if (x > p.z) this.addExcess(p, p.z - p.t, true);
    else if (x > p.t) this.addExcess(p, x - p.t, false);
    if (x > p.t && (p.excessCount < MIN_GPD_EXCESSES || p.nt % REFIT_EVERY === 0)) this.refit(p);
    if (x <= p.z) this.pushDrift(p, score);
    return decision;
  }

  /** Drops a sensor's model: its next scores start a new initial batch. */
  forget(sensor: string): void {
    this.sensors.delete(sensor);
  }

  /** The sensor's model, copied. */
  snapshot(sensor: string): SensorPot | undefined {
    const p = this.sensors.get(sensor);
    return (
      p && {
        ...p,
        batch: [...p.batch],
        excesses: p.excesses.slice(),
        censored: p.censored.slice(),
        drift: p.drift.slice(),
      }
    );
  }

  /** Takes a model `snapshot` gave; false for one of another shape or another `depth`. */
  restore(sensor: string, state: unknown): boolean {
    if (!conforms(this.empty(), state)) return false;
    const p = state as SensorPot;
    const ring = (count: number, next: number, size: number): boolean =>
      Number.isInteger(count) &&
      Number.isInteger(next) &&
      count >= 0 &&
      count <= size &&
      next >= 0 &&
      next < Math.max(1, size);
    const fits =
      p.excesses.length === MAX_EXCESSES &&
      p.censored.length === MAX_EXCESSES &&
      p.drift.length === this.cfg.depth &&
      ring(p.excessCount, p.excessNext, MAX_EXCESSES) &&
      ring(p.driftCount, p.driftNext, this.cfg.depth);
    if (!fits) return false;
    this.sensors.set(sensor, p);
    return true;
  }

  state(sensor: string): PotState | undefined {
    const p = this.sensors.get(sensor);
    if (!p) return undefined;
    return { calibrated: p.calibrated, t: p.t, z: p.z, n: p.n, nt: p.nt, drift: this.driftOf(p) };
  }

  private calibrate(p: SensorPot): void {
    p.t = quantile(p.batch, this.cfg.level);
    p.n = p.batch.length;
    for (const x of p.batch) if (x > p.t) this.addExcess(p, x - p.t, false);
    p.batch = [];
    p.calibrated = true;
    this.refit(p);
  }

  private addExcess(p: SensorPot, excess: number, censored: boolean): void {
    p.nt++;
    p.excesses[p.excessNext] = excess;
    p.censored[p.excessNext] = censored ? 1 : 0;
    p.excessNext = (p.excessNext + 1) % MAX_EXCESSES;
    p.excessCount = Math.min(p.excessCount + 1, MAX_EXCESSES);
  }

  private refit(p: SensorPot): void {
    const y: number[] = [];
    const c: number[] = [];
    for (let i = 0; i < p.excessCount; i++) (p.censored[i] ? c : y).push(p.excesses[i]!);
    const fit = fitGpd(y, c);
    p.z = Math.max(potThreshold(p.t, fit, this.cfg.risk, p.n, p.nt), p.t);
  }

  private driftOf(p: SensorPot): number {
    return p.driftCount === 0 ? 0 : p.driftSum / p.driftCount;
  }

  private pushDrift(p: SensorPot, score: number): void {
    const { depth } = this.cfg;
    if (depth === 0) return;
    if (p.driftCount < depth) p.drift[p.driftCount++] = score;
    else {
      p.driftSum -= p.drift[p.driftNext]!;
      p.drift[p.driftNext] = score;
      p.driftNext = (p.driftNext + 1) % depth;
    }
    p.driftSum += score;
    // Recompute the sum exactly now and then (bounds floating-point drift of the running sum).
    if (++p.sinceExact >= depth) {
      p.driftSum = p.drift.subarray(0, p.driftCount).reduce((a, b) => a + b, 0);
      p.sinceExact = 0;
    }
  }

  private pot(sensor: string): SensorPot {
    let p = this.sensors.get(sensor);
    if (!p) {
      p = this.empty();
      this.sensors.set(sensor, p);
    }
    return p;
  }

  private empty(): SensorPot {
    return {
      batch: [],
      calibrated: false,
      t: 0,
      z: 0,
      n: 0,
      nt: 0,
      excesses: new Float64Array(MAX_EXCESSES),
      censored: new Uint8Array(MAX_EXCESSES),
      excessCount: 0,
      excessNext: 0,
      drift: new Float64Array(this.cfg.depth),
      driftCount: 0,
      driftNext: 0,
      driftSum: 0,
      sinceExact: 0,
    };
  }
}

export interface PotPolicyConfig extends PotConfig {
  /** Windows after which an open anomaly is the sensor's new normal (its model starts over); 0 = never. */
  learnAfter: number;
}

/**
 * `detection.decision: pot`: the POT decision score of the window score. An open anomaly's
 * windows stay out of the fit; after `learnAfter` of them (if set) the sensor's model starts
 * over. The threshold in force, in error units, is (z_q + drift) × the calibrated threshold.
 */
export class PotPolicy implements DecisionPolicy {
  readonly name = 'pot' as const;
  private readonly pot: ScorePot;

  constructor(private readonly cfg: PotPolicyConfig) {
    this.pot = new ScorePot(cfg);
  }

  decide(ws: WindowScore, anomaly: Readonly<AnomalyState>): Decision {
    const { sensor } = ws.window;
    const { learnAfter } = this.cfg;
    // An anomaly open for learnAfter windows is the sensor's new normal: its model starts over.
    if (anomaly.open && learnAfter > 0 && anomaly.openFor === learnAfter) this.pot.forget(sensor);
    // z_q and the drift this window is judged by: the update may refit them after judging it.
    const before = this.pot.state(sensor);
    const score = this.pot.update(sensor, ws.score, !anomaly.open || (learnAfter > 0 && anomaly.openFor >= learnAfter));
    if (score === null || before === undefined) return windowDecision(ws);
    return { decisionScore: score, threshold: (before.z + before.drift) * ws.threshold };
  }

  snapshot(sensor: string): unknown {
    return this.pot.snapshot(sensor);
  }

  restore(sensor: string, state: unknown): boolean {
    return this.pot.restore(sensor, state);
  }

  drop(sensor: string): void {
    this.pot.forget(sensor);
  }
}
