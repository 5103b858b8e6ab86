import type { FeedbackVerdict } from '../observability/metrics.js';
import type { AnomalyEvent, PipelineOutput, Sink } from '../pipeline/contracts.js';
import type { Mutes } from './mute.js';

/** The training label a verdict becomes (the shape of the labels topic's records). */
export interface FeedbackLabel {
  sensor: string;
  from: number;
  to: number;
  label: 'normal' | 'anomaly';
}

/** What marking an event did. */
export interface FeedbackResult {
  event: AnomalyEvent;
  verdict: FeedbackVerdict;
  label: FeedbackLabel;
  /** Whether the sensor is now muted (a false alarm, with `detection.feedback.muteForMs` > 0). */
  muted: boolean;
}

export interface FeedbackOptions {
  mutes: Mutes;
  /** Hands the label to the retraining (the label store every other label goes to). */
  label(label: FeedbackLabel): void;
  /** Counts the mark (`aemon_feedback_total{verdict}`). */
  counted?(verdict: FeedbackVerdict): void;
  /** Events remembered for marking, the most recent (default 10,000). */
  keep?: number;
}

/**
 * Operators' verdicts on anomaly events. As a sink it remembers the recent events by id (and each
 * sensor's newest window, the end of a still-open event); `mark` turns a verdict into a training
 * label over the event's span — normal for a false alarm, anomalous for a confirmed one — and a
 * false alarm mutes its sensor's re-opening below that event's peak.
 */
export class FeedbackDesk implements Sink {
  readonly name = 'feedback';
  private readonly events = new Map<string, AnomalyEvent>();
  private readonly newest = new Map<string, number>();
  private readonly verdicts = new Map<string, FeedbackVerdict>();
  private readonly keep: number;

  constructor(private readonly opts: FeedbackOptions) {
    this.keep = opts.keep ?? 10_000;
  }

  async write(outputs: readonly PipelineOutput[]): Promise<void> {
    for (const o of outputs) {
      if (o.kind === 'scored' && o.window) this.newest.set(o.window.window.sensor, o.window.window.end);
      else if (o.kind === 'event') {
        // Re-inserted, so the map's order is by latest news and the oldest go first.
        this.events.delete(o.event.id);
        this.events.set(o.event.id, o.event);
        if (this.events.size > this.keep) {
          const oldest = this.events.keys().next().value!;
          this.events.delete(oldest);
          this.verdicts.delete(oldest);
        }
      }
    }
  }

  async close(): Promise<void> {}

  /** The latest news of event `id` (its closing, once closed), if it is still remembered. */
  event(id: string): AnomalyEvent | undefined {
    return this.events.get(id);
  }

  /** The verdict given on event `id`, if any. */
  verdict(id: string): FeedbackVerdict | undefined {
    return this.verdicts.get(id);
  }

  /** Marks event `id`; `undefined` when no such event is remembered. */
  mark(id: string, verdict: FeedbackVerdict): FeedbackResult | undefined {
    const event = this.events.get(id);
    if (!event) return undefined;
    const to = event.end ?? Math.max(event.start, this.newest.get(event.sensor) ?? event.start);
    const label: FeedbackLabel = {
      sensor: event.sensor,
      from: event.start,
      to,
      label: verdict === 'false_alarm' ? 'normal' : 'anomaly',
    };
    this.opts.label(label);
    const muted = verdict === 'false_alarm';
    if (muted) this.opts.mutes.add(event.sensor, event.peakScore);
    this.verdicts.set(id, verdict);
    this.opts.counted?.(verdict);
    return { event, verdict, label, muted: muted && this.opts.mutes.enabled };
  }
}
