import { createHash } from 'node:crypto';
import type { DetectionConfig } from '../config/schema.js';
import type { AnomalyEvent, WindowScore } from '../pipeline/contracts.js';
import { DynamicThresholds } from './dynamic.js';
import { likelihoodScore, ScoreLikelihood } from './likelihood.js';
import { ScorePot } from './pot.js';

interface SensorState {
  open: boolean;
  /** Consecutive windows above threshold (score > 1). */
  above: number;
  /** Consecutive windows below `closeBelow` while open. */
  below: number;
  /** Windows decided since the anomaly opened. */
  openFor: number;
  /**
   * `likelihood.orAbove` is off until the window score drops back under the floor: set when an
   * anomaly outlasted `holdOpen`, so a lasting new level far above the threshold (learnt by the
   * history) does not reopen one anomaly after another.
   */
  floorSpent: boolean;
  runStart: number;
  peakScore: number;
  peakShares: Float32Array | null;
  channels: readonly string[];
  id: string;
}

/** Stable event id: the same sensor, start and model give the same id on every replay. */
export function anomalyId(sensor: string, start: number, modelVersion: string): string {
  return 'a-' + createHash('sha256').update(`${sensor}|${start}|${modelVersion}`).digest('hex').slice(0, 16);
}

export function topChannels(
  channels: readonly string[],
  shares: Float32Array,
  n: number,
): Array<{ channel: string; share: number }> {
  return channels
    .map((channel, i) => ({ channel, share: Number(shares[i]!.toFixed(4)) }))
    .sort((a, b) => b.share - a.share || a.channel.localeCompare(b.channel))
    .slice(0, n);
}

/**
 * Hysteresis per sensor: an anomaly opens after `openAfter` consecutive windows above threshold
 * and closes after `closeAfter` consecutive windows below `closeBelow` × threshold, so a score
 * flapping around the threshold opens one event, not many.
 */
export class AnomalyDetector {
  private readonly states = new Map<string, SensorState>();
  private readonly likelihood: ScoreLikelihood | undefined;
  private readonly pot: ScorePot | undefined;
  private readonly dynamic: DynamicThresholds | undefined;

  constructor(private readonly cfg: DetectionConfig) {
    this.likelihood = cfg.likelihood.enabled ? new ScoreLikelihood(cfg.likelihood) : undefined;
    this.pot = cfg.pot.enabled ? new ScorePot(cfg.pot) : undefined;
    // The default decision layer, unless likelihood or pot is enabled.
    this.dynamic = cfg.dynamic.enabled && !cfg.likelihood.enabled && !cfg.pot.enabled ? new DynamicThresholds(cfg.dynamic) : undefined;
  }

  /**
   * What the hysteresis compares with 1: the window score, or with `detection.likelihood` the
   * likelihood score of the sensor's recent scores (the window score while its history warms up).
   * With `likelihood.holdOpen` the first windows of an open anomaly do not join the history;
   * with `likelihood.andThreshold` the window score caps the likelihood score; with
   * `likelihood.orAbove` the window score ÷ orAbove is its floor. With `detection.pot`: the
   * POT decision score of the window score, an open anomaly's windows kept out of the fit (for
   * its first `pot.learnAfter` windows, if set, when the sensor's model starts over). With
   * `detection.dynamic` it is the smoothed score ÷ the sensor's dynamic threshold (the first
   * `dynamic.holdOpen` windows of an open anomaly stay out of its history).
   */
  private decisionScore(ws: WindowScore, st: SensorState): number {
    if (this.dynamic) return this.dynamic.update(ws.window.sensor, ws.score, !(st.open && st.openFor < this.cfg.dynamic.holdOpen)) ?? ws.score;
    if (this.pot) {
      const { learnAfter } = this.cfg.pot;
      // An anomaly open for learnAfter windows is the sensor's new normal: its model starts over.
      if (st.open && learnAfter > 0 && st.openFor === learnAfter) this.pot.forget(ws.window.sensor);
      return this.pot.update(ws.window.sensor, ws.score, !st.open || (learnAfter > 0 && st.openFor >= learnAfter)) ?? ws.score;
    }
    if (!this.likelihood) return ws.score;
    const { holdOpen } = this.cfg.likelihood;
    // The hold runs out: what it kept out stays out (a long fault is not learnt from its start).
    if (st.open && st.openFor === holdOpen) this.likelihood.forget(ws.window.sensor);
    const absorb = !(st.open && st.openFor < holdOpen);
    const tail = this.likelihood.update(ws.window.sensor, ws.score, absorb);
    if (tail === null) return ws.score;
    const { epsilon, andThreshold, orAbove } = this.cfg.likelihood;
    const score = andThreshold ? Math.min(likelihoodScore(tail, epsilon), ws.score) : likelihoodScore(tail, epsilon);
    if (orAbove <= 0) return score;
    if (st.floorSpent && ws.score / orAbove < this.cfg.closeBelow) st.floorSpent = false;
    // The floor, like the hold, lasts for at most holdOpen windows of an open anomaly.
    const floor = !st.floorSpent && !(st.open && st.openFor >= holdOpen);
    return floor ? Math.max(score, ws.score / orAbove) : score;
  }

  isOpen(sensor: string): boolean {
    return this.states.get(sensor)?.open ?? false;
  }

  openCount(): number {
    let n = 0;
    for (const s of this.states.values()) if (s.open) n++;
    return n;
  }

  /** Decides one window (windows of a sensor must come in event-time order). */
  decide(ws: WindowScore): { anomaly: boolean; events: AnomalyEvent[] } {
    const { sensor } = ws.window;
    let st = this.states.get(sensor);
    if (!st) {
      st = { open: false, above: 0, below: 0, openFor: 0, floorSpent: false, runStart: 0, peakScore: 0, peakShares: null, channels: ws.window.channels, id: '' };
      this.states.set(sensor, st);
    }
    const events: AnomalyEvent[] = [];
    const score = this.decisionScore(ws, st);
    const isAbove = score > 1;
    if (isAbove || st.open) this.trackPeak(st, ws);
    if (!st.open) {
      if (isAbove) {
        if (st.above === 0) st.runStart = ws.window.end;
        st.above++;
        if (st.above >= this.cfg.openAfter) {
          st.open = true;
          st.below = 0;
          st.openFor = 0;
          st.id = anomalyId(sensor, st.runStart, ws.modelVersion);
          events.push(this.event(st, ws, 'opened'));
        }
      } else {
        st.above = 0;
        st.peakScore = 0;
        st.peakShares = null;
      }
    } else {
      st.openFor++;
      st.below = score < this.cfg.closeBelow ? st.below + 1 : 0;
      if (st.below >= this.cfg.closeAfter) {
        events.push(this.event(st, ws, 'closed'));
        this.closeHold(sensor, st);
        st.open = false;
        st.above = 0;
        st.below = 0;
        st.peakScore = 0;
        st.peakShares = null;
      }
    }
    return { anomaly: st.open, events };
  }

  /**
   * An anomaly closed while its windows were still held out of the history: with
   * `likelihood.learnShort` they join it now (a short burst is part of the sensor's ordinary
   * variability), else they are dropped.
   */
  private closeHold(sensor: string, st: SensorState): void {
    if (!this.likelihood) return;
    if (st.openFor > this.cfg.likelihood.holdOpen) st.floorSpent = true;
    if (this.cfg.likelihood.learnShort && st.openFor <= this.cfg.likelihood.holdOpen) this.likelihood.release(sensor);
    else this.likelihood.forget(sensor);
  }

  private trackPeak(st: SensorState, ws: WindowScore): void {
    if (st.peakShares === null || ws.score > st.peakScore) {
      st.peakScore = ws.score;
      st.peakShares = ws.channelShares;
      st.channels = ws.window.channels;
    }
  }

  private event(st: SensorState, ws: WindowScore, kind: 'opened' | 'closed'): AnomalyEvent {
    const ev: AnomalyEvent = {
      id: st.id,
      kind,
      sensor: ws.window.sensor,
      group: ws.window.group,
      start: st.runStart,
      peakScore: Number(st.peakScore.toFixed(4)),
      topChannels: topChannels(st.channels, st.peakShares ?? ws.channelShares, this.cfg.topChannels),
      modelVersion: ws.modelVersion,
    };
    if (kind === 'closed') ev.end = ws.window.end;
    return ev;
  }
}
