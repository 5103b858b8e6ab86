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
import { type Mute, Mutes } from './mute.js';
import { createPolicy } from './policies.js';
import { windowDecision, type DecisionPolicy } from './policy.js';
import { Suppressor } from './suppress.js';
import { conforms } from './state-codec.js';

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
  /** The model version of the last window decided. */
  model: string;
}

const freshState = (): SensorState => ({
  open: false,
  above: 0,
  below: 0,
  openFor: 0,
  runStart: 0,
  peakScore: 0,
  peakChannels: null,
  id: '',
  model: '',
});

/**
 * What a window's decision took from outside the sensor's own history (a suppression, a mute
 * posted at run time) and the state those left: with them the decision is made again exactly,
 * whatever was posted since.
 */
export interface DecisionGates {
  suppressed: SuppressReason | undefined;
  /** The peak a mute in force lets a run open above; `undefined` when none was in force. */
  mutePeak: number | undefined;
  /** The suppressor's off state and the sensor's mute after the window. */
  lastOff: number | undefined;
  mute: Mute | undefined;
}

/** A sensor's whole decision state, as plain data (see {@link AnomalyDetector.snapshot}). */
export interface SensorSnapshot {
  v: 1;
  decision: string;
  /** Digest of `detection`'s settings: a state decided under others is not taken. */
  config: string;
  hysteresis: SensorState;
  policy?: unknown;
  lastOff?: number;
  mute?: Mute;
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
  /** Told of every window decided here (not of those decided again with their gates given). */
  onDecided: ((ws: WindowScore, gates: DecisionGates) => void) | undefined;
  /** Told when a restored state is dropped because its sensor's next window came from another model. */
  onModelChanged: ((sensor: string, restored: string, now: string) => void) | undefined;
  /** Restored sensors whose first window is still to come: the model version they were decided with. */
  private readonly restoredModel = new Map<string, string>();
  private readonly digest: string;

  constructor(
    private readonly cfg: DetectionConfig,
    policy?: DecisionPolicy,
  ) {
    this.policy = policy ?? createPolicy(cfg);
    this.suppressor = new Suppressor(cfg.suppress);
    this.mutes = new Mutes(cfg.feedback.muteForMs);
    this.digest = createHash('sha256').update(JSON.stringify(cfg)).digest('hex').slice(0, 16);
  }

  /** The sensor's decision state (copies), or `undefined` when it has decided nothing yet. */
  snapshot(sensor: string): SensorSnapshot | undefined {
    const st = this.states.get(sensor);
    if (!st) return undefined;
    const snap: SensorSnapshot = { v: 1, decision: this.policy.name, config: this.digest, hysteresis: { ...st } };
    const policy = this.policy.snapshot?.(sensor);
    if (policy !== undefined) snap.policy = policy;
    const lastOff = this.suppressor.offState(sensor);
    if (lastOff !== undefined) snap.lastOff = lastOff;
    const mute = this.mutes.state(sensor);
    if (mute !== undefined) snap.mute = mute;
    return snap;
  }

  /**
   * Puts a sensor's state back as `snapshot` gave it (here or in another process); a state of
   * another shape, decision or `detection` config changes nothing and says why.
   */
  restore(sensor: string, state: unknown): { ok: true } | { ok: false; why: string } {
    const snap = state as Partial<SensorSnapshot> | null;
    if (typeof snap !== 'object' || snap === null || snap.v !== 1) return { ok: false, why: 'unknown version' };
    if (snap.decision !== this.policy.name)
      return { ok: false, why: `decided by ${String(snap.decision)}, not ${this.policy.name}` };
    if (snap.config !== this.digest) return { ok: false, why: 'decided under other detection settings' };
    if (!conforms(freshState(), snap.hysteresis)) return { ok: false, why: 'ill-formed' };
    const mute = snap.mute;
    if (mute !== undefined && !conforms({ peak: 0, until: 0 }, mute)) return { ok: false, why: 'ill-formed mute' };
    if (snap.lastOff !== undefined && typeof snap.lastOff !== 'number') return { ok: false, why: 'ill-formed' };
    const copy = structuredClone(snap) as SensorSnapshot;
    if (copy.policy === undefined) this.policy.drop?.(sensor);
    else if (!this.policy.restore?.(sensor, copy.policy))
      return { ok: false, why: `ill-formed ${this.policy.name} state` };
    this.states.set(sensor, copy.hysteresis);
    this.suppressor.setOffState(sensor, copy.lastOff);
    this.mutes.setState(sensor, copy.mute);
    this.restoredModel.set(sensor, copy.hysteresis.model);
    return { ok: true };
  }

  /** Forgets the sensor's decision state: its next window is decided from scratch. */
  drop(sensor: string): void {
    this.states.delete(sensor);
    this.policy.drop?.(sensor);
    this.suppressor.setOffState(sensor, undefined);
    this.mutes.setState(sensor, undefined);
    this.restoredModel.delete(sensor);
  }

  isOpen(sensor: string): boolean {
    return this.states.get(sensor)?.open ?? false;
  }

  openCount(): number {
    let n = 0;
    for (const s of this.states.values()) if (s.open) n++;
    return n;
  }

  /**
   * Decides one window (windows of a sensor must come in event-time order). With `gates` (what
   * an earlier decision of this window took from outside, see {@link onDecided}) it is decided
   * again as it was then.
   */
  decide(ws: WindowScore, gates?: DecisionGates): WindowDecision {
    const { sensor } = ws.window;
    const expected = this.restoredModel.get(sensor);
    if (expected !== undefined) {
      this.restoredModel.delete(sensor);
      if (expected !== ws.modelVersion) {
        this.drop(sensor);
        this.onModelChanged?.(sensor, expected, ws.modelVersion);
      }
    }
    let st = this.states.get(sensor);
    if (!st) {
      st = freshState();
      this.states.set(sensor, st);
    }
    st.model = ws.modelVersion;
    const suppressed = gates ? gates.suppressed : this.suppressor.check(ws.window);
    let mutePeak: number | undefined;
    let d: WindowDecision;
    if (suppressed) d = this.suppress(st, ws, suppressed);
    else
      d = this.hysteresis(st, ws, () => {
        // Asked on every window, so a mute's clock starts with the first window after the mark.
        mutePeak = gates ? gates.mutePeak : this.mutes.active(sensor, ws.window.end)?.peak;
        return mutePeak !== undefined && !(st.peakScore > mutePeak);
      });
    if (gates) {
      this.suppressor.setOffState(sensor, gates.lastOff);
      this.mutes.setState(sensor, gates.mute);
    } else
      this.onDecided?.(ws, {
        suppressed,
        mutePeak,
        lastOff: this.suppressor.offState(sensor),
        mute: this.mutes.state(sensor),
      });
    return d;
  }

  private hysteresis(st: SensorState, ws: WindowScore, blocked: () => boolean): WindowDecision {
    const { sensor } = ws.window;
    const events: AnomalyEvent[] = [];
    const { decisionScore: score, threshold } = this.policy.decide(ws, { open: st.open, openFor: st.openFor });
    const verdict = this.verdict(ws, score, threshold);
    const isAbove = score > 1;
    if (isAbove || st.open) this.trackPeak(st, verdict);
    const muted = blocked();
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
