import type { OffConditionConfig, SuppressConfig } from '../config/suppress.js';
import type { SensorWindow, SuppressReason } from '../pipeline/contracts.js';
import { Calendar, overlaps, type Span } from './calendar.js';

/** A maintenance span posted at run time (admin API, labels topic). */
export interface PostedSpan {
  /** The sensors it is for, or `all`. */
  sensors: readonly string[] | 'all';
  start: number;
  end: number;
  reason?: string | undefined;
}

/** Posted spans kept at most; the ones that ended first go when more arrive. */
const MAX_POSTED = 10_000;

interface Compiled {
  condition: OffConditionConfig;
  sensors: ReadonlySet<string> | undefined;
}

/**
 * Decides per window whether it is suppressed, and why: a calendar span, a posted maintenance span,
 * the machine off by a condition on its channels (any reading of the window meets it), or the grace
 * period after it came back on (`graceAfterOnMs` of event time after the last window that saw it
 * off). Windows of a sensor must come in event-time order, as the detector takes them.
 */
export class Suppressor {
  private readonly calendar: Calendar;
  private readonly conditions: Compiled[];
  private readonly posted: Span[] = [];
  /** Per sensor: end of the last window that saw the machine off. */
  private readonly lastOff = new Map<string, number>();
  /** Per channel list (interned by the decoder): each condition's column, or -1. */
  private readonly columns = new Map<readonly string[], number[]>();

  constructor(private readonly cfg: SuppressConfig) {
    this.calendar = new Calendar(cfg.calendar);
    this.conditions = cfg.conditions.map((condition) => ({
      condition,
      sensors: condition.sensors ? new Set(condition.sensors) : undefined,
    }));
  }

  /** Adds a maintenance span (from the admin API or the labels topic). */
  post(span: PostedSpan): void {
    if (this.posted.length >= MAX_POSTED) {
      let first = 0;
      for (let i = 1; i < this.posted.length; i++) if (this.posted[i]!.end < this.posted[first]!.end) first = i;
      this.posted.splice(first, 1);
    }
    this.posted.push({
      start: span.start,
      end: span.end,
      sensors: span.sensors === 'all' ? undefined : new Set(span.sensors),
    });
  }

  /** Spans posted so far (still kept). */
  get postedCount(): number {
    return this.posted.length;
  }

  /** Why `w` is suppressed, or `undefined` when it is decided as usual. */
  check(w: SensorWindow): SuppressReason | undefined {
    // The off state is followed on every window, so a grace period starts right even when a
    // calendar span covered the moment the machine came back on.
    const off = this.conditions.length > 0 && this.machineOff(w);
    if (off) this.lastOff.set(w.sensor, w.end);
    if (!this.calendar.empty && this.calendar.covers(w.sensor, w.start, w.end)) return 'calendar';
    for (const s of this.posted)
      if ((!s.sensors || s.sensors.has(w.sensor)) && overlaps(s, w.start, w.end)) return 'maintenance';
    if (off) return 'condition';
    const last = this.lastOff.get(w.sensor);
    if (last !== undefined) {
      if (w.end - last <= this.cfg.graceAfterOnMs) return 'grace';
      this.lastOff.delete(w.sensor);
    }
    return undefined;
  }

  /** End of the last window that saw the sensor's machine off, while its grace period can still run. */
  offState(sensor: string): number | undefined {
    return this.lastOff.get(sensor);
  }

  /** Puts back what `offState` gave (`undefined`: none). */
  setOffState(sensor: string, end: number | undefined): void {
    if (end === undefined) this.lastOff.delete(sensor);
    else this.lastOff.set(sensor, end);
  }

  private machineOff(w: SensorWindow): boolean {
    let cols = this.columns.get(w.channels);
    if (!cols) {
      cols = this.conditions.map((c) => w.channels.indexOf(c.condition.channel));
      if (this.columns.size > 10_000) this.columns.clear();
      this.columns.set(w.channels, cols);
    }
    const width = w.channels.length;
    const rows = width === 0 ? 0 : w.data.length / width;
    for (let k = 0; k < this.conditions.length; k++) {
      const col = cols[k]!;
      const { condition, sensors } = this.conditions[k]!;
      if (col < 0 || (sensors && !sensors.has(w.sensor))) continue;
      for (let r = 0; r < rows; r++) {
        const v = w.data[r * width + col]!;
        if (condition.below !== undefined ? v < condition.below : v > condition.above!) return true;
      }
    }
    return false;
  }
}
