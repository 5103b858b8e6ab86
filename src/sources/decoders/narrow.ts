import type { ReadingConfig } from '../../config/schema.js';
import type { Decoded, RecordDecoder, Rejection, SourceRecord } from '../../pipeline/contracts.js';
import { preParsed } from './json.js';
import { ackEach, compileTemplate, fieldAt, decodeEach, rejectEach, textOf } from './shared.js';
import {
  createValidator,
  describe,
  groupKey,
  isPlainObject,
  sensorOf,
  timeIn,
  truncate,
  type DecoderOptions,
} from './validate.js';

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

/**
 * `narrow`: one channel per message (`{"sensor":…,"ts":…,"channel":…,"value":…}`, as OPC UA and
 * MQTT bridges write), joined per sensor by event time into readings of `reading.channels`.
 * Messages of a sensor within `narrow.toleranceMs` of each other join; a reading is emitted once
 * it has every channel. One still missing a channel once the newest event time of the stream it
 * came in (its Kafka partition, its file) is `narrow.waitMs` past it (or at the end of the input) is rejected `incomplete`: each of its
 * messages is dead-lettered, nothing is scored half-empty. The joined reading's ack acks each
 * of its messages, so their offsets are committed only once it is written.
 */
export function createNarrowDecoder(cfg: ReadingConfig, options: DecoderOptions = {}): RecordDecoder {
  const unit = cfg.timeUnit ?? 'ms';
  // Joined readings carry their time in ms already.
  const v = createValidator(cfg, 'ms', options);
  const n = cfg.narrow;
  const expected = [...new Set(cfg.channels)].sort();
  const wanted = new Set(expected);
  const template = cfg.sensorTemplate === undefined ? undefined : compileTemplate(cfg.sensorTemplate);
  const bySensor = new Map<string, Pending[]>();
  // Event time moves on per stream (Kafka partition, file): one partition read far ahead of the
  // others while catching up must not time out the joins of the rest.
  const streams = new Map<string, Stream>();
  const streamOf = (rec: SourceRecord): Stream => {
    const o = rec.origin;
    const key = o.topic !== undefined ? `${o.topic}/${o.partition ?? ''}` : (o.file ?? o.source);
    let st = streams.get(key);
    if (st === undefined) streams.set(key, (st = { queue: [], head: 0, watermark: -Infinity }));
    return st;
  };

  const joinedRecord = (p: Pending): SourceRecord => {
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
    const missing = expected.filter((c) => !Object.hasOwn(p.values, c));
    const at = new Date(p.ts).toISOString();
    const r = v.reject(
      joinedRecord(p),
      'incomplete',
      `no ${missing.join(', ')} of ${groupKey(expected)} for ${at} within narrow.waitMs (${n.waitMs} ms of event time)`,
      p.sensor,
    );
    return rejectEach(p.records, r);
  };

  const complete = (p: Pending): Decoded[] => {
    remove(p);
    const out = v.check(joinedRecord(p), {
      sensor: p.sensor,
      noSensor: '',
      ts: p.ts,
      timeName: cfg.timeField,
      values: p.values,
      valuesName: 'channels',
    });
    return 'kind' in out ? rejectEach(p.records, out) : [out];
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

  const decode = (rec: SourceRecord): Decoded | readonly Decoded[] => {
    const pre = preParsed(v, cfg, rec);
    if (pre !== undefined) return pre;
    const keySensor = sensorOf(undefined, rec.key);
    const text = textOf(rec.raw);
    if (text === undefined) return v.reject(rec, 'not_json', 'not valid UTF-8', keySensor);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      return v.reject(rec, 'not_json', (err as Error).message, keySensor);
    }
    if (!isPlainObject(doc))
      return v.reject(
        rec,
        'bad_record',
        `expected a JSON object, got ${doc === null ? 'null' : Array.isArray(doc) ? 'an array' : `a ${typeof doc}`}`,
        keySensor,
      );

    let sensor: string | undefined;
    if (template === undefined) sensor = sensorOf(fieldAt(doc, cfg.sensorField), rec.key);
    else {
      const id = template.render((path) => fieldAt(doc, path));
      if (typeof id !== 'string')
        return v.reject(rec, 'missing_sensor', `no ${id.missing} field for the sensor template ${cfg.sensorTemplate}`);
      sensor = id;
    }
    if (sensor === undefined) return v.reject(rec, 'missing_sensor', `no ${cfg.sensorField} field and no key`);
    const ch = fieldAt(doc, n.channelField);
    const channel =
      typeof ch === 'string' && ch !== '' ? ch : typeof ch === 'number' && Number.isFinite(ch) ? String(ch) : undefined;
    if (channel === undefined)
      return v.reject(
        rec,
        'bad_record',
        `${n.channelField} is ${ch === undefined ? 'missing' : 'not a channel name'}`,
        sensor,
      );
    if (!wanted.has(channel))
      return v.reject(
        rec,
        'unknown_channel',
        `unknown ${truncate(channel, 60)}, expected ${groupKey(expected)}`,
        sensor,
      );
    const raw = fieldAt(doc, n.valueField);
    const value = typeof raw === 'boolean' ? (raw ? 1 : 0) : raw;
    if (typeof value !== 'number' || !Number.isFinite(value))
      return v.reject(rec, 'non_finite', `${n.valueField} of ${truncate(channel, 60)} is ${describe(value)}`, sensor);
    const t = fieldAt(doc, cfg.timeField);
    const ts = t === undefined || t === null ? rec.timestamp : timeIn(t, unit);
    if (ts === undefined) {
      const shown =
        t === undefined || t === null
          ? 'missing and there is no record timestamp'
          : `${truncate(typeof t === 'string' ? JSON.stringify(t) : String(t), 60)}, not a time in ${unit}`;
      return v.reject(rec, 'bad_timestamp', `${cfg.timeField} is ${shown}`, sensor);
    }

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

  return {
    decode,
    decodeMany: decodeEach(decode),
    flush() {
      const out: Decoded[] = [];
      for (const st of streams.values()) {
        for (let i = st.head; i < st.queue.length; i++)
          if (!st.queue[i]!.done) for (const r of incomplete(st.queue[i]!)) out.push(r);
      }
      streams.clear();
      return out;
    },
  };
}
