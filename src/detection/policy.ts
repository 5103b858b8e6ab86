import type { DecisionName } from '../config/schema.js';
import type { WindowScore } from '../pipeline/contracts.js';

/** What the hysteresis tells a policy about a sensor's anomaly when it asks for a decision. */
export interface AnomalyState {
  open: boolean;
  /** Windows decided since the anomaly opened (meaningful while it is open). */
  openFor: number;
}

/** A policy's verdict on one window. */
export interface Decision {
  /** What the hysteresis compares with 1 (> 1 means above the threshold in force). */
  decisionScore: number;
  /**
   * The threshold in force, in reconstruction-error units, for a policy that has one (the
   * window's error above it is what makes `decisionScore` pass 1); `null` for one that decides
   * on something else than the error's level (a likelihood).
   */
  threshold: number | null;
}

/**
 * A decision layer: turns a sensor's window scores (error ÷ its calibrated threshold), in
 * event-time order, into the score the hysteresis compares with 1. It keeps whatever history
 * per sensor it needs; the hysteresis (opening, closing, events) is the detector's.
 */
export interface DecisionPolicy {
  readonly name: DecisionName;
  decide(ws: WindowScore, anomaly: Readonly<AnomalyState>): Decision;
  /** The sensor's anomaly closed after `openFor` windows (called before its state is reset). */
  closed?(sensor: string, openFor: number): void;
  /**
   * The sensor's history as plain data (numbers, arrays, typed arrays; no references into the
   * policy), so a new owner of its partition goes on where this one stood; `undefined` for none.
   */
  snapshot?(sensor: string): unknown;
  /** Puts back what `snapshot` gave (the policy keeps it); false, changing nothing, for another shape. */
  restore?(sensor: string, state: unknown): boolean;
  /** Forgets the sensor: its next window starts its history from scratch. */
  drop?(sensor: string): void;
}

/** The window score itself: what every policy falls back to while its history warms up. */
export function windowDecision(ws: WindowScore): Decision {
  return { decisionScore: ws.score, threshold: ws.threshold };
}
