import { envName } from '../config/names.js';
import { readingSchema, type ReadingConfig } from '../config/schema.js';
import { valuesRecord, type RecordDecoder, type SourceRecord } from '../pipeline/contracts.js';
import { createRecordDecoder } from '../sources/decoders/select.js';

/** What one record became under one reading config, through the pipeline's own decoder. */
export interface RecordView {
  seq: number;
  readings: Array<{ sensor: string; time: string; channels: Record<string, number> }>;
  rejections: Array<{ reason: string; detail: string }>;
}

/** Settings under `reading.` that a suggestion changes, as they would be written in the config file. */
export type ReadingOverrides = { [key: string]: string | number | boolean | string[] | ReadingOverrides };

export interface Suggestion {
  overrides: ReadingOverrides;
  /** Records (of all inspected) it reads. */
  reads: number;
  yaml: string[];
  env: string[];
  /** Why these fields were picked, when they were guessed rather than a format's defaults. */
  guessed?: string;
  /** The first reading it gives, to compare with the record. */
  example?: RecordView['readings'][number];
}

/**
 * Every record through the decoder `reading` configures, outputs grouped back by record. A record
 * a joining decoder (`narrow`) folded into another's reading has neither readings nor rejections.
 * The decoder's clock is the wall clock, as in the pipeline, so `future_timestamp` is as it would be.
 */
export function viewRecords(
  reading: ReadingConfig,
  records: readonly SourceRecord[],
  decoder: RecordDecoder = createRecordDecoder(reading),
): RecordView[] {
  const views = new Map<number, RecordView>(records.map((r) => [r.seq, { seq: r.seq, readings: [], rejections: [] }]));
  for (const d of [...decoder.decodeMany(records), ...decoder.flush()]) {
    const v = views.get(d.seq);
    if (!v) continue;
    if ('reason' in d) v.rejections.push({ reason: d.reason, detail: d.detail });
    else v.readings.push({ sensor: d.sensor, time: new Date(d.ts).toISOString(), channels: valuesRecord(d) });
  }
  return [...views.values()];
}

/** A record counts as read when it gave a reading, or was joined into one without a rejection. */
export function readCount(views: readonly RecordView[]): number {
  return views.filter((v) => v.readings.length > 0 || v.rejections.length === 0).length;
}

/** The reading config of `overrides`, keeping the current config's limits (they are not about layout). */
export function withOverrides(current: ReadingConfig, overrides: ReadingOverrides): ReadingConfig {
  return readingSchema.parse({ maxBytes: current.maxBytes, maxFutureMs: current.maxFutureMs, ...overrides });
}

const PLAIN = /^[A-Za-z0-9_./-]+$/;
const scalar = (v: string | number | boolean): string =>
  typeof v === 'string' && !PLAIN.test(v) ? JSON.stringify(v) : String(v);

/** The YAML lines (under `reading:`) and the `AEMON_READING_*` variables that set `overrides`. */
export function configLines(overrides: ReadingOverrides): { yaml: string[]; env: string[] } {
  const yaml = ['reading:'];
  const env: string[] = [];
  const walk = (o: ReadingOverrides, path: string[]): void => {
    for (const [k, v] of Object.entries(o)) {
      const indent = '  '.repeat(path.length);
      if (Array.isArray(v)) {
        yaml.push(`${indent}${k}: [${v.map(scalar).join(', ')}]`);
        env.push(`${envName([...path, k])}=${v.join(',')}`);
      } else if (typeof v === 'object') {
        yaml.push(`${indent}${k}:`);
        walk(v, [...path, k]);
      } else {
        yaml.push(`${indent}${k}: ${scalar(v)}`);
        env.push(`${envName([...path, k])}=${String(v)}`);
      }
    }
  };
  walk(overrides, ['reading']);
  return { yaml, env };
}

const ID_NAME = /^(sensor|sensor_?id|device|device_?id|id|asset|machine|host|name|source|node)$/i;
const TIME_NAME = /^(ts|time|timestamp|datetime|date|event_?time|t)$/i;
const ISO = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/;

/** The unit of a numeric present-day epoch by its magnitude, or undefined when it is not one. */
export function epochUnit(n: number): 's' | 'ms' | 'us' | 'ns' | undefined {
  const a = Math.abs(n);
  if (a >= 1e8 && a < 1e11) return 's';
  if (a >= 1e11 && a < 1e14) return 'ms';
  if (a >= 1e14 && a < 1e17) return 'us';
  if (a >= 1e17 && a < 1e20) return 'ns';
  return undefined;
}

function objects(records: readonly SourceRecord[]): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const r of records) {
    try {
      const doc = JSON.parse(typeof r.raw === 'string' ? r.raw : Buffer.from(r.raw).toString('utf8')) as unknown;
      if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) out.push(doc as Record<string, unknown>);
    } catch {
      // Not JSON: no field to guess from.
    }
  }
  return out;
}

/** The field most of `docs` have that `test` accepts, preferring names `preferred` matches. */
function pick(
  docs: ReadonlyArray<Record<string, unknown>>,
  test: (v: unknown) => boolean,
  preferred: RegExp,
  skip: ReadonlySet<string>,
): string | undefined {
  const counts = new Map<string, number>();
  for (const d of docs)
    for (const [k, v] of Object.entries(d)) if (!skip.has(k) && test(v)) counts.set(k, (counts.get(k) ?? 0) + 1);
  const most = [...counts].filter(([, n]) => n * 2 > docs.length);
  return (most.find(([k]) => preferred.test(k)) ?? most[0])?.[0];
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isTime = (v: unknown): boolean =>
  (isNumber(v) && epochUnit(v) !== undefined) || (typeof v === 'string' && ISO.test(v) && !Number.isNaN(Date.parse(v)));
const isId = (v: unknown): boolean => typeof v === 'string' && v.trim() !== '' && v.length <= 200 && !isTime(v);
const isChannels = (v: unknown): boolean =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  Object.keys(v).length > 0 &&
  Object.values(v).every(isNumber);

/**
 * A guess at the `json` (or one-channel-per-message `narrow`) fields of JSON objects: a string
 * field that looks like an id as the sensor, a numeric epoch (unit by magnitude) or ISO-8601
 * field as the time, an object of numbers as the channels, or else one string field naming the
 * channel and one number its value. Only a guess: it is shown as one, beside how many records it reads.
 */
export function guessJson(records: readonly SourceRecord[]): { overrides: ReadingOverrides; why: string } | undefined {
  const docs = objects(records);
  if (docs.length === 0) return undefined;
  const time = pick(docs, isTime, TIME_NAME, new Set());
  const sensor = pick(docs, isId, ID_NAME, new Set(time === undefined ? [] : [time]));
  const values = pick(docs, isChannels, /^(values|fields|channels|data|measurements)$/i, new Set());
  const o: ReadingOverrides = { format: 'json' };
  const why: string[] = [];
  if (sensor !== undefined) {
    o.sensorField = sensor;
    why.push(`${sensor} (a string) as the sensor`);
  }
  if (time !== undefined) {
    o.timeField = time;
    const sample = docs.find((d) => d[time] !== undefined)![time];
    const unit = isNumber(sample) ? epochUnit(sample)! : 'iso';
    o.timeUnit = unit;
    why.push(
      isNumber(sample)
        ? `${time} as the time in ${unit} (${sample} by its magnitude)`
        : `${time} as the time (ISO-8601)`,
    );
  }
  if (values !== undefined) {
    o.valuesField = values;
    why.push(`${values} (an object of numbers) as the channels`);
  } else {
    // One value per message: a string field naming the channel and a number beside it.
    const skip = new Set([sensor, time].filter((x): x is string => x !== undefined));
    const channel = pick(docs, isId, /^(channel|tag|metric|field|signal|point|variable|name)$/i, skip);
    const value = pick(docs, isNumber, /^(value|val|v|reading)$/i, new Set([...skip, ...(channel ? [channel] : [])]));
    if (channel === undefined || value === undefined)
      return {
        overrides: o,
        why: `${why.join(', ')}; no object of numeric channels found (json reads channels from one object, reading.valuesField)`,
      };
    const channels = [...new Set(docs.map((d) => d[channel]).filter((c): c is string => typeof c === 'string'))].sort();
    o.format = 'narrow';
    o.channels = channels;
    o.narrow = { channelField: channel, valueField: value };
    why.push(`one channel per message: ${channel} names it, ${value} holds it`);
  }
  return { overrides: o, why: why.join(', ') };
}

/**
 * When the current config reads fewer than half the records: every other format with its
 * defaults, and a guess at JSON fields, tried on the same records; the one reading most of them
 * (if any reads more than the current config) with its config lines.
 */
export function suggest(current: ReadingConfig, records: readonly SourceRecord[]): Suggestion | undefined {
  const now = readCount(viewRecords(current, records));
  if (records.length === 0 || now * 2 >= records.length) return undefined;
  const candidates: Array<{ overrides: ReadingOverrides; guessed?: string }> = [
    { overrides: { format: 'json' } },
    { overrides: { format: 'telegraf-json' } },
    { overrides: { format: 'influx' } },
  ];
  const guess = guessJson(records);
  if (guess) candidates.push({ overrides: guess.overrides, guessed: guess.why });
  let best: Suggestion | undefined;
  for (const c of candidates) {
    let cfg: ReadingConfig;
    try {
      cfg = withOverrides(current, c.overrides);
    } catch {
      continue;
    }
    const views = viewRecords(cfg, records);
    const reads = readCount(views);
    if (reads <= now || (best && reads <= best.reads)) continue;
    const example = views.find((v) => v.readings.length > 0)?.readings[0];
    best = {
      overrides: c.overrides,
      reads,
      ...configLines(c.overrides),
      ...(c.guessed ? { guessed: c.guessed } : {}),
      ...(example ? { example } : {}),
    };
  }
  return best;
}
