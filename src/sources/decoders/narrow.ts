import type { ReadingConfig } from '../../config/schema.js';
import type { Decoded, RecordDecoder, Rejection, SourceRecord } from '../../pipeline/contracts.js';
import { preParsed } from './json.js';
import { createNarrowJoin, type ChannelValue } from './narrow-join.js';
import { compileTemplate, fieldAt, decodeEach, textOf } from './shared.js';
import {
  createValidator,
  describe,
  groupKey,
  isPlainObject,
  sensorOf,
  timeIn,
  truncate,
  type DecoderOptions,
  type Validator,
} from './validate.js';

/** Reads one `narrow` message: its sensor, channel, value and event time, or why it is rejected. */
type MessageReader = (rec: SourceRecord) => ChannelValue | Rejection;

function createMessageReader(cfg: ReadingConfig, v: Validator, expected: readonly string[]): MessageReader {
  const unit = cfg.timeUnit ?? 'ms';
  const n = cfg.narrow;
  const wanted = new Set(expected);
  const template = cfg.sensorTemplate === undefined ? undefined : compileTemplate(cfg.sensorTemplate);

  return (rec) => {
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
    return { sensor, channel, value, ts };
  };
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
  // Joined readings carry their time in ms already.
  const v = createValidator(cfg, 'ms', options);
  const expected = [...new Set(cfg.channels)].sort();
  const read = createMessageReader(cfg, v, expected);
  const join = createNarrowJoin(cfg, v, expected);

  const decode = (rec: SourceRecord): Decoded | readonly Decoded[] => {
    const pre = preParsed(v, cfg, rec);
    if (pre !== undefined) return pre;
    const m = read(rec);
    return 'kind' in m ? m : join.add(rec, m);
  };

  return { decode, decodeMany: decodeEach(decode), flush: () => join.flush() };
}
