import type { ReadingConfig, TimeUnit } from '../../config/schema.js';
import type { Reading, RejectReason, Rejection, SourceRecord } from '../../pipeline/contracts.js';
import { groupKey, sortedGroupKey } from '../../shared/group.js';
import { parseTimestamp } from '../../shared/time.js';
import type { JsonReadingScanner } from './json-scan.js';

export interface DecoderOptions {
  /** Clock for `future_timestamp` (default `Date.now`). */
  now?: () => number;
  /** The channel set a sensor's model fixes; `undefined` = no model yet (the first valid reading fixes it). */
  channelsFor?: (sensor: string) => readonly string[] | undefined;
  /**
   * `json`: read records of the documented layout straight from their bytes (default true);
   * false sends every record through JSON.parse. Both give the same readings and rejections.
   */
  fastPath?: boolean;
}

export { groupKey };

const DETAIL_MAX = 200;

export function truncate(s: string, max = DETAIL_MAX): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

export function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `${truncate(JSON.stringify(value), 60)}, not a finite number`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array, not a finite number';
  return `${typeof value === 'object' ? 'an object' : `a ${typeof value}`}, not a finite number`;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The sensor a field value names, else the record key; undefined when neither is usable. */
export function sensorOf(value: unknown, key: string | undefined): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return key !== undefined && key.trim() !== '' ? key : undefined;
}

const MAX_EPOCH_MS = 8.64e15;
const PER_UNIT: Record<'s' | 'ms' | 'us' | 'ns', number> = { s: 1000, ms: 1, us: 1e-3, ns: 1e-6 };
const NUMERIC = /^\s*-?\d+(?:\.\d+)?\s*$/;

/** Epoch ms of a number in `unit`, `auto` guessing the unit from its magnitude. */
function scaled(n: number, unit: Exclude<TimeUnit, 'iso' | 'ms'>): number | undefined {
  if (!Number.isFinite(n)) return undefined;
  const a = Math.abs(n);
  // Present-day epochs: ~1.7e9 s, 1.7e12 ms, 1.7e15 µs, 1.7e18 ns.
  const u = unit !== 'auto' ? unit : a < 1e11 ? 's' : a < 1e14 ? 'ms' : a < 1e17 ? 'us' : 'ns';
  const ms = n * PER_UNIT[u];
  return Math.abs(ms) > MAX_EPOCH_MS ? undefined : Math.round(ms);
}

/** Event time (epoch ms) of a time value in `unit`, or undefined when it is not one. */
export function timeIn(value: unknown, unit: TimeUnit): number | undefined {
  if (unit === 'ms') return parseTimestamp(value);
  if (typeof value === 'number') return unit === 'iso' ? undefined : scaled(value, unit);
  if (typeof value !== 'string') return undefined;
  if (NUMERIC.test(value)) return unit === 'iso' ? undefined : scaled(Number(value), unit);
  return parseTimestamp(value);
}

function unitName(unit: TimeUnit): string {
  return unit === 'iso'
    ? 'an ISO-8601 date'
    : unit === 'auto'
      ? 'an ISO-8601 date or epoch number'
      : `an ISO-8601 date or epoch ${unit}`;
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
    // An inherited name (`constructor`) reads a function, never a finite number.
    const v = given[expected[i]!];
    if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
    values[i] = v;
  }
  return values;
}

/** What a decoder found in a record, before the checks every format shares. */
export interface Candidate {
  /** The sensor id, or undefined with `noSensor` saying why. */
  sensor: string | undefined;
  noSensor: string;
  /** The raw time value (undefined/null: the record timestamp) and the name it had. */
  ts: unknown;
  timeName: string;
  /** Channel → value, and the name of the object in messages (`values`, `fields`). */
  values: unknown;
  valuesName: string;
}

export interface Validator {
  reject(rec: SourceRecord, reason: RejectReason, detail: string, sensor?: string): Rejection;
  /** Every check of today's reading (time, future, channels) on what a decoder found. */
  check(rec: SourceRecord, c: Candidate): Reading | Rejection;
  /**
   * The reading of what the byte scanner read, when every check passes on a sensor whose
   * channels are known; undefined whenever {@link check} might say anything else (then the
   * record goes the general way, which finds the reason).
   */
  checkScanned(rec: SourceRecord, scan: JsonReadingScanner): Reading | undefined;
}

/** The rejection of `rec` for `reason`, carrying what the dead-letter record needs. */
function rejection(rec: SourceRecord, reason: RejectReason, detail: string, sensor?: string): Rejection {
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
  if (rec.replayOnly || rec.deadLettered) out.replayOnly = true;
  if (sensor !== undefined) out.sensor = sensor;
  return out;
}

function readingOf(
  rec: SourceRecord,
  sensor: string,
  ts: number,
  channels: readonly string[],
  values: Float64Array,
): Reading {
  return {
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
}

/** Channel sets as sorted, frozen arrays: one per distinct set, shared by every reading that has it. */
interface ChannelSets {
  /** The one array of the set `sorted` names. */
  intern(sorted: readonly string[]): readonly string[];
  /** The interned sorted form of a channel set from `channelsFor` (a model's), remembered by identity. */
  sortedOf(given: readonly string[]): readonly string[];
}

function createChannelSets(): ChannelSets {
  const interned = new Map<string, readonly string[]>();
  const intern = (sorted: readonly string[]): readonly string[] => {
    const key = sortedGroupKey(sorted);
    let known = interned.get(key);
    if (known === undefined) {
      known = Object.freeze([...sorted]);
      interned.set(key, known);
    }
    return known;
  };
  const sorted = new WeakMap<readonly string[], readonly string[]>();
  const sortedOf = (given: readonly string[]): readonly string[] => {
    let known = sorted.get(given);
    if (known === undefined) {
      known = intern([...given].sort());
      sorted.set(given, known);
    }
    return known;
  };
  return { intern, sortedOf };
}

/** Full validation of `values` with the precise rejection; channels come out sorted and interned. */
function checkValues(
  sets: ChannelSets,
  rec: SourceRecord,
  given: Record<string, unknown>,
  valuesName: string,
  sensor: string,
  expected: readonly string[] | undefined,
): { channels: readonly string[]; values: Float64Array } | Rejection {
  const names = Object.keys(given).sort();
  if (names.length === 0) return rejection(rec, 'bad_record', `${valuesName} has no channels`, sensor);
  for (const name of names) {
    const v = given[name];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      return rejection(rec, 'non_finite', `${valuesName}.${name} is ${describe(v)}`, sensor);
    }
  }
  if (expected !== undefined) {
    const missing = expected.filter((c) => !Object.hasOwn(given, c));
    const have = new Set(expected);
    const extra = names.filter((c) => !have.has(c));
    if (missing.length > 0) {
      const also = extra.length > 0 ? `; unknown ${extra.join(', ')}` : '';
      return rejection(rec, 'missing_channel', `missing ${missing.join(', ')} of ${groupKey(expected)}${also}`, sensor);
    }
    if (extra.length > 0) {
      return rejection(rec, 'unknown_channel', `unknown ${extra.join(', ')}, expected ${groupKey(expected)}`, sensor);
    }
  }
  const channels = expected ?? sets.intern(names);
  const values = new Float64Array(channels.length);
  for (let i = 0; i < channels.length; i++) values[i] = given[channels[i]!] as number;
  return { channels, values };
}

/** The event time (epoch ms) of what a decoder found, from its time value or else the record timestamp. */
function eventTime(rec: SourceRecord, c: Candidate, unit: TimeUnit, sensor: string): number | Rejection {
  if (c.ts === undefined || c.ts === null) {
    return rec.timestamp ?? rejection(rec, 'bad_timestamp', `no ${c.timeName} field and no record timestamp`, sensor);
  }
  const ts = timeIn(c.ts, unit);
  if (ts !== undefined) return ts;
  const shown =
    typeof c.ts === 'string' ? JSON.stringify(c.ts) : typeof c.ts === 'number' ? String(c.ts) : `a ${typeof c.ts}`;
  const as = unit === 'ms' ? 'an ISO-8601 date or epoch ms' : unitName(unit);
  return rejection(rec, 'bad_timestamp', `${c.timeName} is ${truncate(shown, 60)}, not ${as}`, sensor);
}

/** What kind of value `given` is, when it is not an object of channels. */
function notAnObject(given: unknown): string {
  return given === undefined
    ? 'missing'
    : given === null
      ? 'null'
      : Array.isArray(given)
        ? 'an array'
        : `a ${typeof given}`;
}

/**
 * The checks every format shares, with the state they need: per sensor without a model, the
 * channel set of its first valid reading; the interned channel arrays.
 */
export function createValidator(cfg: ReadingConfig, unit: TimeUnit, options: DecoderOptions = {}): Validator {
  const now = options.now ?? Date.now;
  const channelsFor = options.channelsFor;
  const firstSeen = new Map<string, readonly string[]>();
  const sets = createChannelSets();

  const check = (rec: SourceRecord, c: Candidate): Reading | Rejection => {
    const sensor = c.sensor;
    if (sensor === undefined) return rejection(rec, 'missing_sensor', c.noSensor);

    const ts = eventTime(rec, c, unit, sensor);
    if (typeof ts !== 'number') return ts;
    const clock = now();
    if (ts > clock + cfg.maxFutureMs) {
      const at = new Date(ts).toISOString();
      return rejection(
        rec,
        'future_timestamp',
        `${at} is ${ts - clock} ms ahead of the clock (max ${cfg.maxFutureMs})`,
        sensor,
      );
    }

    const given = c.values;
    if (!isPlainObject(given)) {
      const got = notAnObject(given);
      return rejection(rec, 'bad_record', `${c.valuesName} is ${got}, expected an object of channel → number`, sensor);
    }
    const model = channelsFor?.(sensor);
    const expected = model === undefined ? firstSeen.get(sensor) : sets.sortedOf(model);
    // The common case, without sorting or allocating: exactly the expected channels, all finite.
    let values = expected === undefined ? undefined : expectedValues(given, expected);
    let channels = expected;
    if (values === undefined || channels === undefined) {
      const checked = checkValues(sets, rec, given, c.valuesName, sensor, expected);
      if ('kind' in checked) return checked;
      ({ values, channels } = checked);
    }
    if (expected === undefined) firstSeen.set(sensor, channels);

    return readingOf(rec, sensor, ts, channels, values);
  };

  const checkScanned = (rec: SourceRecord, scan: JsonReadingScanner): Reading | undefined => {
    const { sensor, count, names } = scan;
    const ts = scan.tsIsIso ? scan.ts : timeIn(scan.ts, unit);
    if (ts === undefined || ts > now() + cfg.maxFutureMs) return undefined;
    const model = channelsFor?.(sensor);
    const expected = model === undefined ? firstSeen.get(sensor) : sets.sortedOf(model);
    if (expected === undefined || expected.length !== count) return undefined;
    const values = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const name = expected[i];
      let j = 0;
      while (j < count && names[j] !== name) j++;
      if (j === count) return undefined;
      values[i] = scan.values[j]!;
    }
    return readingOf(rec, sensor, ts, expected, values);
  };

  return { reject: rejection, check, checkScanned };
}
