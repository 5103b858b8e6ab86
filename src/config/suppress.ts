import { z } from 'zod';

/** Days a recurring span can start on: every day, or one weekday. */
export const SPAN_DAYS = ['day', 'sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'] as const;

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `90m`, `3h`, `1.5d`, `500ms` → milliseconds (config's duration strings). */
export function durationMs(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) return Number.NaN;
  return Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]);
}

const isoTime = z
  .string()
  .refine((s) => Number.isFinite(Date.parse(s)), { message: 'must be an ISO-8601 time, e.g. 2026-12-06T02:00:00Z' });

const validZone = (tz: string): boolean => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

/** Sensors a span or condition applies to; unset: every sensor. */
const sensors = z.array(z.string().min(1)).min(1).optional();

const oneOffSpan = z
  .object({
    start: isoTime,
    end: isoTime,
    sensors,
    reason: z.string().optional(),
  })
  .strict()
  .refine((s) => Date.parse(s.start) < Date.parse(s.end), { message: 'end must be after start', path: ['end'] });

const recurringSpan = z
  .object({
    /** `day`, or a weekday (`sunday` … `saturday`). */
    every: z.enum(SPAN_DAYS),
    /** Start time of day, `HH:MM` (24 h) in `timezone`. */
    at: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM, e.g. 02:00'),
    /** How long each span lasts: `90m`, `3h`, `1d`. */
    for: z.string().refine((d) => durationMs(d) > 0, { message: 'must be a duration such as 90m, 3h or 1d' }),
    /** IANA time zone of `at` (e.g. Europe/Berlin); UTC when unset. */
    timezone: z.string().refine(validZone, { message: 'must be an IANA time zone, e.g. Europe/Berlin' }).default('UTC'),
    sensors,
    reason: z.string().optional(),
  })
  .strict()
  .refine((s) => durationMs(s.for) <= (s.every === 'day' ? 86_400_000 : 7 * 86_400_000), {
    message: 'a span may last at most its period (1d for every day, 7d for a weekday)',
    path: ['for'],
  });

export type OneOffSpanConfig = z.infer<typeof oneOffSpan>;
export type RecurringSpanConfig = z.infer<typeof recurringSpan>;
export type CalendarSpanConfig = OneOffSpanConfig | RecurringSpanConfig;

const condition = z
  .object({
    channel: z.string().min(1),
    /** The machine is off while the channel reads below this … */
    below: z.number().optional(),
    /** … or above this. */
    above: z.number().optional(),
    sensors,
  })
  .strict()
  .refine((c) => (c.below === undefined) !== (c.above === undefined), {
    message: 'a condition gives exactly one of below or above',
  });

export type OffConditionConfig = z.infer<typeof condition>;

/**
 * Windows that are expected to look unusual and are neither alarmed on nor learnt from:
 * maintenance spans from a calendar (one-off or recurring), spans posted at run time (admin API,
 * labels topic), and a machine that is off by its own channels.
 */
export const suppressSchema = z
  .object({
    /** One-off spans `{start, end}` (ISO-8601) and recurring ones `{every, at, for, timezone?}`. */
    calendar: z.array(z.union([oneOffSpan, recurringSpan])).default([]),
    /** The machine is off while any of these holds for a reading of the window (`{channel, below | above}`). */
    conditions: z.array(condition).default([]),
    /** After the machine comes back on, its windows stay suppressed this long (event time, ms): start-up transients. */
    graceAfterOnMs: z.number().int().nonnegative().default(0),
  })
  .strict();

/** What an operator's mark on an anomaly event does. */
export const feedbackSchema = z
  .object({
    /**
     * After an event is marked a false alarm, its sensor opens no new anomaly for this long (event
     * time, ms) unless its score rises above that event's peak. 0 = no mute.
     */
    muteForMs: z.number().int().nonnegative().default(3_600_000),
  })
  .strict();

export type SuppressConfig = z.infer<typeof suppressSchema>;
export type FeedbackConfig = z.infer<typeof feedbackSchema>;
