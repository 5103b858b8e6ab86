import { durationMs, type CalendarSpanConfig, type RecurringSpanConfig } from '../config/suppress.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
const WEEK = 7 * DAY;
/** 1970-01-01 (epoch 0) was a Thursday: weekday index 4 with Sunday = 0. */
const EPOCH_WEEKDAY = 4;
const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

/** A span of event time [start, end) some sensors (or all) are suppressed in. */
export interface Span {
  start: number;
  end: number;
  /** `undefined`: every sensor. */
  sensors?: ReadonlySet<string> | undefined;
}

/** Whether [from, to] (a window's event-time span, inclusive) overlaps the half-open span [start, end). */
export function overlaps(span: { start: number; end: number }, from: number, to: number): boolean {
  return span.start <= to && span.end > from;
}

const mod = (a: number, n: number): number => ((a % n) + n) % n;

/**
 * A time zone's offset from UTC at an instant (ms; local = utc + offset), through Intl. Cached by
 * the hour, as offsets only change on the hour or half hour in practice and a lookup per window
 * would otherwise format a date each time.
 */
function zoneOffset(timeZone: string): (t: number) => number {
  if (timeZone === 'UTC') return () => 0;
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  const cache = new Map<number, number>();
  return (t) => {
    const hour = Math.floor(t / 3_600_000);
    const hit = cache.get(hour);
    if (hit !== undefined) return hit;
    const at = hour * 3_600_000;
    const p = Object.fromEntries(fmt.formatToParts(at).map((x) => [x.type, Number(x.value)]));
    const local = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
    const offset = local - at;
    if (cache.size > 1000) cache.clear();
    cache.set(hour, offset);
    return offset;
  };
}

/**
 * A recurring span (`every: sunday, at: "02:00", for: 3h`): the start of the latest span at or
 * before `t`, in UTC ms. Local wall-clock time is reckoned in the span's time zone, so "02:00"
 * stays 02:00 across daylight-saving changes.
 */
export function recurringStartBefore(
  span: RecurringSpanConfig,
  t: number,
  offsetAt = zoneOffset(span.timezone),
): number {
  const [h, m] = span.at.split(':').map(Number) as [number, number];
  const period = span.every === 'day' ? DAY : WEEK;
  const dayShift = span.every === 'day' ? 0 : mod(WEEKDAYS.indexOf(span.every) - EPOCH_WEEKDAY, 7) * DAY;
  const phase = dayShift + (h * 60 + m) * MINUTE;
  const localT = t + offsetAt(t);
  const localStart = localT - mod(localT - phase, period);
  // Back to UTC with the offset at the start itself (it differs from t's across a DST change).
  let start = localStart - offsetAt(localStart - offsetAt(t));
  if (start > t) start -= period;
  return start;
}

/** A compiled calendar: which sensors a window of event time [from, to] is suppressed for. */
export class Calendar {
  private readonly oneOff: Span[] = [];
  private readonly recurring: Array<{
    span: RecurringSpanConfig;
    lengthMs: number;
    sensors: ReadonlySet<string> | undefined;
    offsetAt: (t: number) => number;
  }> = [];

  constructor(spans: readonly CalendarSpanConfig[]) {
    for (const s of spans) {
      const sensors = s.sensors ? new Set(s.sensors) : undefined;
      if ('every' in s)
        this.recurring.push({ span: s, lengthMs: durationMs(s.for), sensors, offsetAt: zoneOffset(s.timezone) });
      else this.oneOff.push({ start: Date.parse(s.start), end: Date.parse(s.end), sensors });
    }
  }

  get empty(): boolean {
    return this.oneOff.length === 0 && this.recurring.length === 0;
  }

  /** Whether `sensor`'s window [from, to] overlaps a span of the calendar. */
  covers(sensor: string, from: number, to: number): boolean {
    for (const s of this.oneOff) if ((!s.sensors || s.sensors.has(sensor)) && overlaps(s, from, to)) return true;
    for (const r of this.recurring) {
      if (r.sensors && !r.sensors.has(sensor)) continue;
      // Spans never overlap each other (one lasts at most its period), so the latest one that
      // starts by `to` is the only one that can reach back into the window.
      const start = recurringStartBefore(r.span, to, r.offsetAt);
      if (start + r.lengthMs > from) return true;
    }
    return false;
  }
}
