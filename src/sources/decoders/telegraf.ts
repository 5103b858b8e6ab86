import type { ReadingConfig } from '../../config/schema.js';
import type { Decoded, RecordDecoder, SourceRecord } from '../../pipeline/contracts.js';
import { preParsed } from './json.js';
import { metricReader, type Metric } from './metric.js';
import { part, decodeEach, jsonOrRaw, shareAck, textOf } from './shared.js';
import { createValidator, isPlainObject, sensorOf, type DecoderOptions, type Validator } from './validate.js';

/** A Telegraf JSON metric as a {@link Metric}, or why it is not one. */
function metricOf(doc: unknown): Metric | string {
  if (!isPlainObject(doc))
    return `expected a Telegraf JSON metric object, got ${doc === null ? 'null' : Array.isArray(doc) ? 'an array' : `a ${typeof doc}`}`;
  const { name, tags, fields, timestamp } = doc;
  if (typeof name !== 'string' || name === '') return 'name is missing or not a string';
  if (tags !== undefined && !isPlainObject(tags)) return 'tags is not an object';
  if (!isPlainObject(fields)) return 'fields is missing or not an object';
  const tagList: Array<[string, string]> = [];
  for (const k of Object.keys(tags ?? {})) {
    const t = (tags as Record<string, unknown>)[k];
    if (typeof t === 'string') tagList.push([k, t]);
    else if (typeof t === 'number' || typeof t === 'boolean') tagList.push([k, String(t)]);
    else return `tags.${k} is not a string`;
  }
  return { name, tags: tagList, fields: Object.entries(fields), time: timestamp };
}

/**
 * `telegraf-json`: Telegraf's JSON serializer, `{"fields":{…},"name":…,"tags":{…},"timestamp":…}`
 * (seconds by default: `reading.timeUnit` says otherwise), or its batch form `{"metrics":[…]}`.
 */
export function createTelegrafJsonDecoder(cfg: ReadingConfig, options: DecoderOptions = {}): RecordDecoder {
  const v: Validator = createValidator(cfg, cfg.timeUnit ?? 's', options);
  const read = metricReader(cfg, v);

  const one = (rec: SourceRecord, doc: unknown): Decoded => {
    const m = metricOf(doc);
    if (typeof m === 'string') return v.reject(rec, 'bad_record', m, sensorOf(undefined, rec.key));
    return read(rec, m);
  };

  const decode = (rec: SourceRecord): Decoded | readonly Decoded[] => {
    const pre = preParsed(v, cfg, rec);
    if (pre !== undefined) return pre;
    const text = textOf(rec.raw);
    if (text === undefined) return v.reject(rec, 'not_json', 'not valid UTF-8', sensorOf(undefined, rec.key));
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      return v.reject(rec, 'not_json', (err as Error).message, sensorOf(undefined, rec.key));
    }
    if (!isPlainObject(doc) || !Array.isArray(doc.metrics)) return one(rec, doc);
    const metrics = doc.metrics as unknown[];
    if (metrics.length === 0)
      return v.reject(rec, 'bad_record', 'metrics is an empty array', sensorOf(undefined, rec.key));
    const ack = shareAck(rec.ack, metrics.length);
    return metrics.map((m) => one(part(rec, jsonOrRaw(m, rec.raw), ack), m));
  };

  return {
    decode,
    decodeMany: decodeEach(decode),
    flush: () => [],
  };
}
