import type { ReadingConfig } from '../../config/schema.js';
import type { Decoded, Rejection, SourceRecord } from '../../pipeline/contracts.js';
import { ackEach, rejectEach, textOf } from './shared.js';
import { groupKey, truncate, type Validator } from './validate.js';

/** One channel's value of one sensor at one event time, as a `narrow` message carries it. */
export interface ChannelValue {
  sensor: string;
  channel: string;
  value: number;
  /** Event time (ms). */
  ts: number;
}

/** A reading being joined: one sensor's channels near one event time, and the records they came in. */
interface Pending {
  sensor: string;
  /** Event time (ms): the earliest of its records. */
  ts: number;
  values: Record<string, number>;
  records: SourceRecord[];
  done: boolean;
}

/** One input stream's pendings in the order they were opened (expiry looks at the oldest first) and its newest event time. */
interface Stream {
  queue: Pending[];
  head: number;
  watermark: number;
}

/** The join of `narrow` messages into readings: what is pending, per sensor and per input stream. */
export interface NarrowJoin {
  /** Adds one message's value: the readings it completes and the pendings it times out, or its rejection. */
  add(rec: SourceRecord, m: ChannelValue): Decoded[] | Rejection;
  /** Rejects every pending reading as `incomplete` (the end of the input). */
  flush(): Decoded[];
}

/** The stream a record came in: its Kafka partition, else its file, else its source. */
function streamKey(rec: SourceRecord): string {
  const o = rec.origin;
  return o.topic !== undefined ? `${o.topic}/${o.partition ?? ''}` : (o.file ?? o.source);
}

/** The one record a joined reading stands for: its messages' text, and an ack that acks each of them. */
function joinedRecord(p: Pending): SourceRecord {
  const first = p.records[0]!;
  const last = p.records[p.records.length - 1]!;
  const rec: SourceRecord = {
    raw: p.records.map((r) => textOf(r.raw) ?? '').join('\n'),
    origin: first.origin,
    arrivedAt: first.arrivedAt,
    seq: last.seq,
    ack: ackEach(p.records.map((r) => r.ack)),
  };
  if (first.key !== undefined) rec.key = first.key;
  if (p.records.every((r) => r.replayOnly)) rec.replayOnly = true;
  if (p.records.some((r) => r.label === 1)) rec.label = 1;
  else if (first.label !== undefined) rec.label = first.label;
  return rec;
}

/** A pending reading still missing channels when its wait is over: each of its messages rejected `incomplete`. */
function rejectIncomplete(v: Validator, p: Pending, expected: readonly string[], waitMs: number): Rejection[] {
  const missing = expected.filter((c) => !Object.hasOwn(p.values, c));
  const at = new Date(p.ts).toISOString();
  const r = v.reject(
    joinedRecord(p),
    'incomplete',
    `no ${missing.join(', ')} of ${groupKey(expected)} for ${at} within narrow.waitMs (${waitMs} ms of event time)`,
    p.sensor,
  );
  return rejectEach(p.records, r);
}

/** A reading with every channel, through the checks every format shares; a rejection rejects each of its messages. */
function checkComplete(v: Validator, p: Pending, timeField: string): Decoded[] {
  const out = v.check(joinedRecord(p), {
    sensor: p.sensor,
    noSensor: '',
    ts: p.ts,
    timeName: timeField,
    values: p.values,
    valuesName: 'channels',
  });
  return 'kind' in out ? rejectEach(p.records, out) : [out];
}

/**
 * Joins per sensor by event time: values within `narrow.toleranceMs` of a pending reading that
 * lacks their channel join it; a reading is checked and emitted once it has all of `expected`; one
 * still incomplete once its stream's newest event time is `narrow.waitMs` past it is rejected.
 */
export function createNarrowJoin(cfg: ReadingConfig, v: Validator, expected: readonly string[]): NarrowJoin {
  const n = cfg.narrow;
  const bySensor = new Map<string, Pending[]>();
  // Event time moves on per stream (Kafka partition, file): one partition read far ahead of the
  // others while catching up must not time out the joins of the rest.
  const streams = new Map<string, Stream>();
  const streamOf = (rec: SourceRecord): Stream => {
    const key = streamKey(rec);
    let st = streams.get(key);
    if (st === undefined) streams.set(key, (st = { queue: [], head: 0, watermark: -Infinity }));
    return st;
  };

  const remove = (p: Pending): void => {
    p.done = true;
    const list = bySensor.get(p.sensor);
    if (list === undefined) return;
    const at = list.indexOf(p);
    if (at !== -1) list.splice(at, 1);
    if (list.length === 0) bySensor.delete(p.sensor);
  };

  const incomplete = (p: Pending): Rejection[] => {
    remove(p);
    return rejectIncomplete(v, p, expected, n.waitMs);
  };

  const complete = (p: Pending): Decoded[] => {
    remove(p);
    return checkComplete(v, p, cfg.timeField);
  };

  const expire = (st: Stream, out: Decoded[]): void => {
    while (st.head < st.queue.length) {
      const p = st.queue[st.head]!;
      if (!p.done) {
        if (p.ts + n.waitMs >= st.watermark) break;
        for (const r of incomplete(p)) out.push(r);
      }
      st.head++;
    }
    if (st.head > 1024 && st.head * 2 > st.queue.length) {
      st.queue = st.queue.slice(st.head);
      st.head = 0;
    }
  };

  const add = (rec: SourceRecord, { sensor, channel, value, ts }: ChannelValue): Decoded[] | Rejection => {
    const out: Decoded[] = [];
    let list = bySensor.get(sensor);
    if (list === undefined) bySensor.set(sensor, (list = []));
    let into: Pending | undefined;
    for (const p of list) {
      if (Math.abs(p.ts - ts) > n.toleranceMs) continue;
      if (!Object.hasOwn(p.values, channel)) {
        into = p;
        break;
      }
      if (p.ts === ts)
        return v.reject(
          rec,
          'duplicate',
          `${truncate(channel, 60)} of ${new Date(ts).toISOString()} was read already`,
          sensor,
        );
    }
    const st = streamOf(rec);
    if (into === undefined) {
      // No prototype: a channel named `__proto__` is a key like any other.
      into = { sensor, ts, values: Object.create(null) as Record<string, number>, records: [], done: false };
      list.push(into);
      st.queue.push(into);
    }
    into.values[channel] = value;
    into.records.push(rec);
    if (ts < into.ts) into.ts = ts;
    if (Object.keys(into.values).length === expected.length) for (const o of complete(into)) out.push(o);
    if (ts > st.watermark) st.watermark = ts;
    expire(st, out);
    return out;
  };

  const flush = (): Decoded[] => {
    const out: Decoded[] = [];
    for (const st of streams.values()) {
      for (let i = st.head; i < st.queue.length; i++)
        if (!st.queue[i]!.done) for (const r of incomplete(st.queue[i]!)) out.push(r);
    }
    streams.clear();
    return out;
  };

  return { add, flush };
}
