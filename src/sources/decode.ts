import type { ReadingConfig } from '../config/schema.js';
import type { Reading, RejectReason, Rejection, SourceRecord } from '../pipeline/contracts.js';

export interface DecoderOptions {
  /** Clock for `future_timestamp` (default `Date.now`). */
  now?: () => number;
  /** The channel set a sensor's model fixes; `undefined` = no model yet (the first valid reading fixes it). */
  channelsFor?: (sensor: string) => readonly string[] | undefined;
}

export type Decoder = (rec: SourceRecord) => Reading | Rejection;

/** Model group key of a channel set: the sorted channel names joined by `,`. */
export function groupKey(channels: readonly string[]): string {
  return [...channels].sort().join(',');
}

export function isRejection(out: Reading | Rejection): out is Rejection {
  return (out as Rejection).kind === 'rejected';
}

const DETAIL_MAX = 200;
const utf8 = new TextDecoder('utf-8', { fatal: true });

// Date-like strings only: `Date.parse` alone accepts too much ("yesterday" in some engines, "1").
// The space form is NAB's and SKAB's `YYYY-MM-DD HH:MM:SS`; without a zone we read UTC.
const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const EPOCH_RE = /^-?\d+(?:\.\d+)?$/;
const MAX_EPOCH_MS = 8.64e15;

/** Event time of a `ts` value (ISO-8601 string, epoch ms number or numeric string), or undefined. */
export function parseTimestamp(value: unknown): number | undefined {
  if (typeof value === 'number') return epochMs(value);
  if (typeof value !== 'string') return undefined;
  const fast = canonicalIso(value);
  if (fast !== undefined) return fast;
  const s = value.trim();
  if (EPOCH_RE.test(s)) return epochMs(Number(s));
  const m = ISO_RE.exec(s);
  if (m === null) return undefined;
  const [, y, mo, d, h = '00', mi = '00', sec = '00', frac = '', zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  // Date.parse rolls 2014-02-30 over to March; reject impossible dates and times instead.
  const probe = new Date(Date.UTC(year, month - 1, day));
  if (probe.getUTCMonth() !== month - 1 || probe.getUTCDate() !== day) return undefined;
  if (Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) return undefined;
  const ms = (frac + '000').slice(0, 3);
  const z = zone === undefined || zone.toUpperCase() === 'Z' ? 'Z' : normaliseZone(zone);
  const t = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${sec}.${ms}${z}`);
  return Number.isNaN(t) ? undefined : t;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The `n` decimal digits of `s` at `at` as a number, or -1 if one is not a digit. */
function digitsAt(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/**
 * `YYYY-MM-DDTHH:MM:SS.sssZ` or `YYYY-MM-DDTHH:MM:SSZ` exactly (what `toISOString` and most
 * producers write), without a regex, a Date or a string built per reading: a full parse of an
 * ISO timestamp costs about as much as the JSON.parse of the whole reading. Undefined for
 * anything else, including impossible dates and years before 100 (Date.UTC reads 0–99 as
 * 1900–1999): the full parse decides those.
 */
function canonicalIso(s: string): number | undefined {
  const n = s.length;
  if (n !== 24 && n !== 20) return undefined;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return undefined;
  if (s.charCodeAt(n - 1) !== 90 || (n === 24 && s.charCodeAt(19) !== 46)) return undefined;
  const year = digitsAt(s, 0, 4);
  const month = digitsAt(s, 5, 2);
  const day = digitsAt(s, 8, 2);
  const h = digitsAt(s, 11, 2);
  const mi = digitsAt(s, 14, 2);
  const sec = digitsAt(s, 17, 2);
  const ms = n === 24 ? digitsAt(s, 20, 3) : 0;
  if (year < 100 || month < 1 || month > 12 || day < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || ms < 0) return undefined;
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > DAYS_IN_MONTH[month - 1]! + (leap ? 1 : 0)) return undefined;
  return Date.UTC(year, month - 1, day, h, mi, sec, ms);
}

function normaliseZone(zone: string): string {
  const digits = zone.slice(1).replace(':', '');
  return `${zone[0]}${digits.slice(0, 2)}:${(digits.slice(2) + '00').slice(0, 2)}`;
}

function epochMs(n: number): number | undefined {
  if (!Number.isFinite(n) || Math.abs(n) > MAX_EPOCH_MS) return undefined;
  // Event time has millisecond resolution.
  return Math.round(n);
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `${truncate(JSON.stringify(value), 60)}, not a finite number`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array, not a finite number';
  return `${typeof value === 'object' ? 'an object' : `a ${typeof value}`}, not a finite number`;
}

function truncate(s: string, max = DETAIL_MAX): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sensorOf(value: unknown, key: string | undefined): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return key !== undefined && key.trim() !== '' ? key : undefined;
}

/**
 * The values of `given` in `expected` (sorted) order when it has exactly those channels, each a
 * finite number; otherwise undefined (and the full check finds the reason).
 */
function expectedValues(given: Record<string, unknown>, expected: readonly string[]): Float64Array | undefined {
  let n = 0;
  for (const key in given) if (Object.hasOwn(given, key)) n++;
  if (n !== expected.length) return undefined;
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = given[expected[i]!];
    if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
    values[i] = v;
  }
  return values;
}

interface Fields {
  sensor: unknown;
  ts: unknown;
  values: unknown;
  valuesName: string;
}

/**
 * Builds the decode/validate step: a record becomes a {@link Reading} or a {@link Rejection}
 * (never an exception). The decoder remembers, per sensor without a model, the channel set of
 * its first valid reading.
 */
export function createDecoder(cfg: ReadingConfig, options: DecoderOptions = {}): Decoder {
  const now = options.now ?? Date.now;
  const channelsFor = options.channelsFor;
  const firstSeen = new Map<string, readonly string[]>();

  const reject = (rec: SourceRecord, reason: RejectReason, detail: string, sensor?: string): Rejection => {
    const out: Rejection = {
      kind: 'rejected',
      reason,
      detail: truncate(detail),
      raw: rec.raw,
      origin: rec.origin,
      arrivedAt: rec.arrivedAt,
      seq: rec.seq,
      ack: rec.ack,
    };
    if (rec.key !== undefined) out.key = rec.key;
    if (rec.replayOnly) out.replayOnly = true;
    if (sensor !== undefined) out.sensor = sensor;
    return out;
  };

  // One frozen, sorted array per distinct channel set, shared by every reading that has it.
  const interned = new Map<string, readonly string[]>();
  const intern = (sorted: readonly string[]): readonly string[] => {
    const key = sorted.join(',');
    let known = interned.get(key);
    if (known === undefined) {
      known = Object.freeze([...sorted]);
      interned.set(key, known);
    }
    return known;
  };
  // Channel sets from `channelsFor` (a model's), by identity: their interned sorted form.
  const sortedOf = new WeakMap<readonly string[], readonly string[]>();
  const sortedCopy = (given: readonly string[]): readonly string[] => {
    const sorted = intern([...given].sort());
    sortedOf.set(given, sorted);
    return sorted;
  };

  /** Full validation of `values` with the precise rejection; channels come out sorted and interned. */
  const checkValues = (
    rec: SourceRecord,
    given: Record<string, unknown>,
    valuesName: string,
    sensor: string,
    expected: readonly string[] | undefined,
  ): { channels: readonly string[]; values: Float64Array } | Rejection => {
    const names = Object.keys(given).sort();
    if (names.length === 0) return reject(rec, 'bad_record', `${valuesName} has no channels`, sensor);
    for (const name of names) {
      const v = given[name];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        return reject(rec, 'non_finite', `${valuesName}.${name} is ${describe(v)}`, sensor);
      }
    }
    if (expected !== undefined) {
      const missing = expected.filter((c) => !Object.hasOwn(given, c));
      const have = new Set(expected);
      const extra = names.filter((c) => !have.has(c));
      if (missing.length > 0) {
        const also = extra.length > 0 ? `; unknown ${extra.join(', ')}` : '';
        return reject(rec, 'missing_channel', `missing ${missing.join(', ')} of ${groupKey(expected)}${also}`, sensor);
      }
      if (extra.length > 0) {
        return reject(rec, 'unknown_channel', `unknown ${extra.join(', ')}, expected ${groupKey(expected)}`, sensor);
      }
    }
    const channels = expected ?? intern(names);
    const values = new Float64Array(channels.length);
    for (let i = 0; i < channels.length; i++) values[i] = given[channels[i]!] as number;
    return { channels, values };
  };

  const parse = (rec: SourceRecord): Fields | Rejection => {
    if (rec.fields !== undefined) {
      return { sensor: rec.fields.sensor, ts: rec.fields.ts, values: rec.fields.values, valuesName: 'values' };
    }
    let text: string;
    try {
      text = typeof rec.raw === 'string' ? rec.raw : utf8.decode(rec.raw);
    } catch {
      return reject(rec, 'not_json', 'not valid UTF-8', sensorOf(undefined, rec.key));
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    } catch (err) {
      return reject(rec, 'not_json', (err as Error).message, sensorOf(undefined, rec.key));
    }
    if (!isPlainObject(doc)) {
      const got = doc === null ? 'null' : Array.isArray(doc) ? 'an array' : `a ${typeof doc}`;
      return reject(rec, 'bad_record', `expected a JSON object, got ${got}`, sensorOf(undefined, rec.key));
    }
    return {
      sensor: doc[cfg.sensorField],
      ts: doc[cfg.timeField],
      values: doc[cfg.valuesField],
      valuesName: cfg.valuesField,
    };
  };

  return (rec) => {
    if (rec.invalid !== undefined) {
      return reject(rec, rec.invalid.reason, rec.invalid.detail, sensorOf(rec.fields?.sensor, rec.key));
    }
    const f = parse(rec);
    if ('kind' in f) return f;

    const sensor = sensorOf(f.sensor, rec.key);
    if (sensor === undefined) {
      return reject(rec, 'missing_sensor', `no ${cfg.sensorField} field and no key`);
    }

    let ts: number | undefined;
    if (f.ts === undefined || f.ts === null) {
      ts = rec.timestamp;
      if (ts === undefined) return reject(rec, 'bad_timestamp', `no ${cfg.timeField} field and no record timestamp`, sensor);
    } else {
      ts = parseTimestamp(f.ts);
      if (ts === undefined) {
        const shown = typeof f.ts === 'string' ? JSON.stringify(f.ts) : typeof f.ts === 'number' ? String(f.ts) : `a ${typeof f.ts}`;
        return reject(rec, 'bad_timestamp', `${cfg.timeField} is ${truncate(shown, 60)}, not an ISO-8601 date or epoch ms`, sensor);
      }
    }
    const clock = now();
    if (ts > clock + cfg.maxFutureMs) {
      const at = new Date(ts).toISOString();
      return reject(rec, 'future_timestamp', `${at} is ${ts - clock} ms ahead of the clock (max ${cfg.maxFutureMs})`, sensor);
    }

    if (!isPlainObject(f.values)) {
      const got = f.values === undefined ? 'missing' : f.values === null ? 'null' : Array.isArray(f.values) ? 'an array' : `a ${typeof f.values}`;
      return reject(rec, 'bad_record', `${f.valuesName} is ${got}, expected an object of channel → number`, sensor);
    }
    const given = channelsFor?.(sensor);
    const expected = given === undefined ? firstSeen.get(sensor) : (sortedOf.get(given) ?? sortedCopy(given));
    // The common case, without sorting or allocating: exactly the expected channels, all finite.
    let values = expected === undefined ? undefined : expectedValues(f.values, expected);
    let channels = expected;
    if (values === undefined || channels === undefined) {
      const checked = checkValues(rec, f.values, f.valuesName, sensor, expected);
      if ('kind' in checked) return checked;
      ({ values, channels } = checked);
    }
    if (expected === undefined) firstSeen.set(sensor, channels);

    const out: Reading = {
      sensor,
      ts,
      channels,
      values,
      origin: rec.origin,
      arrivedAt: rec.arrivedAt,
      seq: rec.seq,
      ack: rec.ack,
      raw: rec.raw,
      // Every reading has the same fields (some undefined): one object shape on the hot path.
      key: rec.key,
      replayOnly: rec.replayOnly,
      label: rec.label,
    };
    return out;
  };
}
