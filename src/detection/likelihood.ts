/**
 * Anomaly likelihood over a sensor's own score history (after Numenta's `AnomalyLikelihood`,
 * Ahmad et al. 2017): the mean of the last `short` window scores is compared with the
 * distribution (mean, standard deviation) of such short means over the last `window` windows.
 * A Gaussian tail probability says how unusual the recent scores are for this sensor *now*, so a
 * sensor that settled into a new level of error stops alarming once that level is its history.
 * Causal: each window is judged against the history before it, then joins it.
 */
import type { WindowScore } from '../pipeline/contracts.js';
import { type AnomalyState, type Decision, type DecisionPolicy, windowDecision } from './policy.js';
import { conforms } from './state-codec.js';

export interface LikelihoodConfig {
  /** Short means in the history the current one is compared with. */
  window: number;
  /** Window scores averaged into one short mean. */
  short: number;
  /** Alarm when the tail probability is at most this (likelihood ≥ 1 − ε). */
  epsilon: number;
  /** Short means needed before the likelihood decides (before that: score > 1). */
  warmup: number;
  /** Floor on the history's standard deviation, in score units (error ÷ threshold). */
  minStd: number;
}

/**
 * P(Z > z) for a standard normal Z, via erfc (Numerical Recipes' Chebyshev fit, relative error
 * below 1.2e-7 everywhere).
 */
export function normalTail(z: number): number {
  const x = z / Math.SQRT2;
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const poly =
    -x * x -
    1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t *
                  (-0.18628806 +
                    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const erfc = t * Math.exp(poly);
  return 0.5 * (x >= 0 ? erfc : 2 - erfc);
}

/**
 * The decision score of a tail probability: ln(tail) / ln(ε) — 0 for an ordinary window, 1 where
 * the tail probability is ε, above 1 beyond it — so it plugs into the same "> 1" hysteresis as
 * error ÷ threshold.
 */
export function likelihoodScore(tail: number, epsilon: number): number {
  if (tail >= 1) return 0;
  return Math.log(Math.max(tail, Number.MIN_VALUE)) / Math.log(epsilon);
}

interface History {
  /** The last `short` scores (ring). */
  recent: number[];
  nextRecent: number;
  recentSum: number;
  /** The last `window` short means (ring). */
  means: Float64Array;
  count: number;
  next: number;
  sum: number;
  sumSq: number;
  /** Updates since the sums were last recomputed exactly (bounds floating-point drift). */
  sinceExact: number;
  /** Short means judged with `absorb` false, in order, until {@link ScoreLikelihood.release} or {@link ScoreLikelihood.forget}. */
  held: number[];
}

/** Per-sensor score histories and the likelihood of each new window score. */
export class ScoreLikelihood {
  private readonly histories = new Map<string, History>();

  constructor(private readonly cfg: LikelihoodConfig) {}

  /**
   * Feeds a sensor's next window score (windows in event-time order). Returns the tail
   * probability of its short mean under the history before it, or `null` while the history
   * has fewer than `warmup` short means. With `absorb` false the short mean is judged but
   * does not join the history (the recent scores still advance); it is held until `release`
   * adds the held means to the history or `forget` drops them.
   */
  update(sensor: string, score: number, absorb = true): number | null {
    const h = this.history(sensor);
    const { short, warmup, minStd } = this.cfg;
    if (h.recent.length < short) h.recent.push(score);
    else {
      h.recentSum -= h.recent[h.nextRecent]!;
      h.recent[h.nextRecent] = score;
      h.nextRecent = (h.nextRecent + 1) % short;
    }
    h.recentSum += score;
    const shortMean = h.recentSum / h.recent.length;

    let tail: number | null = null;
    if (h.count >= warmup) {
      const mean = h.sum / h.count;
      const variance = Math.max(0, h.sumSq / h.count - mean * mean);
      const std = Math.max(Math.sqrt(variance), minStd);
      tail = normalTail((shortMean - mean) / std);
    }

    if (absorb) this.absorb(h, shortMean);
    else h.held.push(shortMean);
    return tail;
  }

  /** Adds a sensor's held short means to its history, in the order they came. */
  release(sensor: string): void {
    const h = this.histories.get(sensor);
    if (!h) return;
    for (const m of h.held) this.absorb(h, m);
    h.held = [];
  }

  /** Drops a sensor's held short means. */
  forget(sensor: string): void {
    const h = this.histories.get(sensor);
    if (h) h.held = [];
  }

  /** The sensor's history, copied. */
  snapshot(sensor: string): History | undefined {
    const h = this.histories.get(sensor);
    return h && { ...h, recent: [...h.recent], means: h.means.slice(), held: [...h.held] };
  }

  /** Takes a history `snapshot` gave; false for one of another shape or other `window` / `short`. */
  restore(sensor: string, state: unknown): boolean {
    if (!conforms(this.empty(), state)) return false;
    const h = state as History;
    const { window, short } = this.cfg;
    const fits =
      h.means.length === window &&
      h.recent.length <= short &&
      Number.isInteger(h.count) &&
      h.count >= 0 &&
      h.count <= window &&
      Number.isInteger(h.next) &&
      h.next >= 0 &&
      h.next < Math.max(1, window) &&
      Number.isInteger(h.nextRecent) &&
      h.nextRecent >= 0 &&
      h.nextRecent < Math.max(1, short);
    if (!fits) return false;
    this.histories.set(sensor, h);
    return true;
  }

  drop(sensor: string): void {
    this.histories.delete(sensor);
  }

  private absorb(h: History, shortMean: number): void {
    const { window } = this.cfg;
    if (h.count < window) {
      h.means[h.count++] = shortMean;
      h.sum += shortMean;
      h.sumSq += shortMean * shortMean;
    } else {
      const old = h.means[h.next]!;
      h.means[h.next] = shortMean;
      h.next = (h.next + 1) % window;
      h.sum += shortMean - old;
      h.sumSq += shortMean * shortMean - old * old;
    }
    if (++h.sinceExact >= window) this.recompute(h);
  }

  private recompute(h: History): void {
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < h.count; i++) {
      sum += h.means[i]!;
      sumSq += h.means[i]! * h.means[i]!;
    }
    h.sum = sum;
    h.sumSq = sumSq;
    h.sinceExact = 0;
  }

  private history(sensor: string): History {
    let h = this.histories.get(sensor);
    if (!h) {
      h = this.empty();
      this.histories.set(sensor, h);
    }
    return h;
  }

  private empty(): History {
    return {
      recent: [],
      nextRecent: 0,
      recentSum: 0,
      means: new Float64Array(this.cfg.window),
      count: 0,
      next: 0,
      sum: 0,
      sumSq: 0,
      sinceExact: 0,
      held: [],
    };
  }
}

export interface LikelihoodPolicyConfig extends LikelihoodConfig {
  /** Windows of an open anomaly kept out of the history, at most (0 = none). */
  holdOpen: number;
  /** An anomaly closing within its hold is learnt after all. */
  learnShort: boolean;
  /** The window score caps the likelihood score. */
  andThreshold: boolean;
  /** The window score ÷ orAbove floors the likelihood score (0 = off). */
  orAbove: number;
}

/**
 * `detection.decision: likelihood`: the likelihood score of the sensor's recent window scores
 * (the window score while its history warms up). With `holdOpen` the first windows of an open
 * anomaly do not join the history; with `andThreshold` the window score caps the likelihood
 * score; with `orAbove` the window score ÷ orAbove is its floor. It has no threshold in error
 * units: it decides on how unusual the scores are, not on their level.
 */
export class LikelihoodPolicy implements DecisionPolicy {
  readonly name = 'likelihood' as const;
  private readonly history: ScoreLikelihood;
  /**
   * Sensors whose `orAbove` floor is off until the window score drops back under it: an anomaly
   * outlasted `holdOpen`, so a lasting new level far above the threshold (learnt by the history)
   * does not reopen one anomaly after another.
   */
  private readonly floorSpent = new Set<string>();

  constructor(
    private readonly cfg: LikelihoodPolicyConfig,
    /** The hysteresis' `closeBelow`: where a spent floor comes back. */
    private readonly closeBelow: number,
  ) {
    this.history = new ScoreLikelihood(cfg);
  }

  decide(ws: WindowScore, anomaly: Readonly<AnomalyState>): Decision {
    const { sensor } = ws.window;
    const { holdOpen, epsilon, andThreshold, orAbove } = this.cfg;
    // The hold runs out: what it kept out stays out (a long fault is not learnt from its start).
    if (anomaly.open && anomaly.openFor === holdOpen) this.history.forget(sensor);
    const absorb = !(anomaly.open && anomaly.openFor < holdOpen);
    const tail = this.history.update(sensor, ws.score, absorb);
    if (tail === null) return windowDecision(ws);
    const score = andThreshold ? Math.min(likelihoodScore(tail, epsilon), ws.score) : likelihoodScore(tail, epsilon);
    if (orAbove <= 0) return { decisionScore: score, threshold: null };
    if (this.floorSpent.has(sensor) && ws.score / orAbove < this.closeBelow) this.floorSpent.delete(sensor);
    // The floor, like the hold, lasts for at most holdOpen windows of an open anomaly.
    const floor = !this.floorSpent.has(sensor) && !(anomaly.open && anomaly.openFor >= holdOpen);
    return { decisionScore: floor ? Math.max(score, ws.score / orAbove) : score, threshold: null };
  }

  /**
   * An anomaly closed while its windows were still held out of the history: with `learnShort`
   * they join it now (a short burst is part of the sensor's ordinary variability), else they are
   * dropped.
   */
  closed(sensor: string, openFor: number): void {
    if (openFor > this.cfg.holdOpen) this.floorSpent.add(sensor);
    if (this.cfg.learnShort && openFor <= this.cfg.holdOpen) this.history.release(sensor);
    else this.history.forget(sensor);
  }

  snapshot(sensor: string): unknown {
    const history = this.history.snapshot(sensor);
    return history && { history, floorSpent: this.floorSpent.has(sensor) };
  }

  restore(sensor: string, state: unknown): boolean {
    const s = state as { history?: unknown; floorSpent?: unknown } | null;
    if (typeof s !== 'object' || s === null || typeof s.floorSpent !== 'boolean') return false;
    if (!this.history.restore(sensor, s.history)) return false;
    if (s.floorSpent) this.floorSpent.add(sensor);
    else this.floorSpent.delete(sensor);
    return true;
  }

  drop(sensor: string): void {
    this.history.drop(sensor);
    this.floorSpent.delete(sensor);
  }
}
