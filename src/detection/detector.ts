import { createHash } from 'node:crypto';
import type { DetectionConfig } from '../config/schema.js';
import type {
  AnomalyEvent,
  ChannelExplanation,
  Severity,
  SuppressReason,
  WindowScore,
  WindowVerdict,
} from '../pipeline/contracts.js';
import { explainChannels, severityOf } from './explain.js';
import { Mutes } from './mute.js';
import { createPolicy } from './policies.js';
import { windowDecision, type DecisionPolicy } from './policy.js';
import { Suppressor } from './suppress.js';

interface SensorState {
  open: boolean;
  /** Consecutive windows above threshold (score > 1). */
  above: number;
  /** Consecutive windows below `closeBelow` while open. */
  below: number;
  /** Windows decided since the anomaly opened. */
  openFor: number;
  runStart: number;
  /** The highest decision score since the run above threshold began, and its window's channels. */
  peakScore: number;
  peakChannels: readonly ChannelExplanation[] | null;
  id: string;
}

/** One window's decision: the hysteresis' state after it, the events it caused, and what it compared. */
export interface WindowDecision {
  anomaly: boolean;
  events: AnomalyEvent[];
  /** What the hysteresis compared with 1: the decision policy's score (> 1 means above the threshold in force). */
  decisionScore: number;
  /** The policy's threshold in force, in error units; `null` for a policy without one (likelihood). */
  threshold: number | null;
  /** The window's verdict: its score, threshold, severity and explained top channels. */
  verdict: WindowVerdict;
  /** The open anomaly's severity (its peak's band) after this window; `null` when none is open. */
  severity: Severity | null;
  /** Set when the window was suppressed: it was not decided on (and the policy never saw it). */
  suppressed?: SuppressReason;
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
 * flapping around the threshold opens one event, not many. What "above threshold" means is the
 * decision policy's (`detection.decision`): it turns each window score into the score compared
 * with 1.
 */
export class AnomalyDetector {
  private readonly states = new Map<string, SensorState>();
  readonly policy: DecisionPolicy;
  /** Maintenance spans and operating states (`detection.suppress`); spans can be posted at run time. */
  readonly suppressor: Suppressor;
  /** Sensors muted after a false alarm (`detection.feedback.muteForMs`). */
  readonly mutes: Mutes;

  constructor(
    private readonly cfg: DetectionConfig,
    policy?: DecisionPolicy,
  ) {
    this.policy = policy ?? createPolicy(cfg);
    this.suppressor = new Suppressor(cfg.suppress);
    this.mutes = new Mutes(cfg.feedback.muteForMs);
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
  decide(ws: WindowScore): WindowDecision {
    const { sensor } = ws.window;
    let st = this.states.get(sensor);
    if (!st) {
      st = {
        open: false,
        above: 0,
        below: 0,
        openFor: 0,
        runStart: 0,
        peakScore: 0,
        peakChannels: null,
        id: '',
      };
      this.states.set(sensor, st);
    }
    const events: AnomalyEvent[] = [];
    const suppressed = this.suppressor.check(ws.window);
    if (suppressed) return this.suppress(st, ws, suppressed);
    const { decisionScore: score, threshold } = this.policy.decide(ws, { open: st.open, openFor: st.openFor });
    const verdict = this.verdict(ws, score, threshold);
    const isAbove = score > 1;
    if (isAbove || st.open) this.trackPeak(st, verdict);
    // Asked on every window, so a mute's clock starts with the first window after the mark.
    const muted = this.mutes.blocks(sensor, ws.window.end, st.peakScore);
    if (!st.open) {
      if (isAbove) {
        if (st.above === 0) st.runStart = ws.window.end;
        st.above++;
        if (st.above >= this.cfg.openAfter && !muted) {
          st.open = true;
          st.below = 0;
          st.openFor = 0;
          st.id = anomalyId(sensor, st.runStart, ws.modelVersion);
          events.push(this.event(st, ws, 'opened'));
        }
      } else {
        st.above = 0;
        st.peakScore = 0;
        st.peakChannels = null;
      }
    } else {
      st.openFor++;
      st.below = score < this.cfg.closeBelow ? st.below + 1 : 0;
      if (st.below >= this.cfg.closeAfter) {
        events.push(this.event(st, ws, 'closed'));
        this.policy.closed?.(sensor, st.openFor);
        st.open = false;
        st.above = 0;
        st.below = 0;
        st.peakScore = 0;
        st.peakChannels = null;
      }
    }
    const severity = st.open ? severityOf(st.peakScore, this.cfg.severity) : null;
    return { anomaly: st.open, events, decisionScore: score, threshold, verdict, severity };
  }

  /** The window as users see it: the decision's score and threshold, its band, its channels explained. */
  private verdict(ws: WindowScore, score: number, threshold: number | null): WindowVerdict {
    return {
      score,
      threshold,
      rawScore: ws.score,
      severity: severityOf(score, this.cfg.severity),
      topChannels: explainChannels(ws, this.cfg.topChannels),
    };
  }

  /**
   * A suppressed window: an open anomaly closes (reason `suppressed`), a run above threshold starts
   * over. The policy never saw it, so its verdict carries the raw score and calibrated threshold.
   */
  private suppress(st: SensorState, ws: WindowScore, reason: SuppressReason): WindowDecision {
    const events: AnomalyEvent[] = [];
    if (st.open) {
      events.push({ ...this.event(st, ws, 'closed'), reason: 'suppressed' });
      this.policy.closed?.(ws.window.sensor, st.openFor);
    }
    st.open = false;
    st.above = 0;
    st.below = 0;
    st.peakScore = 0;
    st.peakChannels = null;
    const d = windowDecision(ws);
    const verdict = this.verdict(ws, d.decisionScore, d.threshold);
    return { anomaly: false, events, ...d, verdict, severity: null, suppressed: reason };
  }

  private trackPeak(st: SensorState, v: WindowVerdict): void {
    if (st.peakChannels === null || v.score > st.peakScore) {
      st.peakScore = v.score;
      st.peakChannels = v.topChannels;
    }
  }

  private event(st: SensorState, ws: WindowScore, kind: 'opened' | 'closed'): AnomalyEvent {
    // Closing on a window below the threshold: the event's peak is still above it.
    const severity = severityOf(st.peakScore, this.cfg.severity) ?? 'minor';
    const ev: AnomalyEvent = {
      id: st.id,
      kind,
      sensor: ws.window.sensor,
      group: ws.window.group,
      start: st.runStart,
      peakScore: Number(st.peakScore.toFixed(4)),
      severity,
      topChannels: st.peakChannels ?? explainChannels(ws, this.cfg.topChannels),
      modelVersion: ws.modelVersion,
    };
    if (kind === 'closed') ev.end = ws.window.end;
    return ev;
  }
}
