import type { ReadingConfig } from '../../config/schema.js';
import type { Decoded, RecordDecoder, SourceRecord } from '../../pipeline/contracts.js';
import { JsonReadingScanner } from './json-scan.js';
import { compileTemplate, fieldAt, part, decodeEach, jsonOrRaw, shareAck, textOf } from './shared.js';
import { createValidator, isPlainObject, sensorOf, type DecoderOptions, type Validator } from './validate.js';

/** Only the channels of `allow` that `values` has; anything else as it is, for the checks to reject. */
export function allowed(values: unknown, allow: ReadonlySet<string> | undefined): unknown {
  if (allow === undefined || !isPlainObject(values)) return values;
  const out: Record<string, unknown> = {};
  for (const name of allow) if (Object.hasOwn(values, name)) out[name] = values[name];
  return out;
}

/** Checks of records a source already parsed (CSV rows, the simulator) or marked invalid. */
export function preParsed(v: Validator, cfg: ReadingConfig, rec: SourceRecord): Decoded | undefined {
  if (rec.invalid !== undefined)
    return v.reject(rec, rec.invalid.reason, rec.invalid.detail, sensorOf(rec.fields?.sensor, rec.key));
  if (rec.fields === undefined) return undefined;
  const f = rec.fields;
  return v.check(rec, {
    sensor: sensorOf(f.sensor, rec.key),
    noSensor: `no ${cfg.sensorField} field and no key`,
    ts: f.ts,
    timeName: cfg.timeField,
    values: f.values,
    valuesName: 'values',
  });
}

/** A decoded object → a reading by the `json` options (paths, template, allow-list), or a rejection. */
export interface JsonMapper {
  readonly validator: Validator;
  reading(rec: SourceRecord, doc: unknown): Decoded;
}

/** The `json` mapping of one object, for `json` and for the formats that decode to objects (Avro, …). */
export function createJsonMapper(cfg: ReadingConfig, options: DecoderOptions = {}): JsonMapper {
  const v = createValidator(cfg, cfg.timeUnit ?? 'ms', options);
  const template = cfg.sensorTemplate === undefined ? undefined : compileTemplate(cfg.sensorTemplate);
  const allow = cfg.channels.length > 0 ? new Set(cfg.channels) : undefined;
  const noSensor = template === undefined ? `no ${cfg.sensorField} field and no key` : '';

  const reading = (rec: SourceRecord, doc: unknown): Decoded => {
    if (!isPlainObject(doc)) {
      const got = doc === null ? 'null' : Array.isArray(doc) ? 'an array' : `a ${typeof doc}`;
      return v.reject(rec, 'bad_record', `expected a JSON object, got ${got}`, sensorOf(undefined, rec.key));
    }
    let sensor: string | undefined;
    let why = noSensor;
    if (template === undefined) sensor = sensorOf(fieldAt(doc, cfg.sensorField), rec.key);
    else {
      const id = template.render((path) => fieldAt(doc, path));
      if (typeof id === 'string') sensor = id;
      else why = `no ${id.missing} field for the sensor template ${cfg.sensorTemplate}`;
    }
    return v.check(rec, {
      sensor,
      noSensor: why,
      ts: fieldAt(doc, cfg.timeField),
      timeName: cfg.timeField,
      values: allowed(fieldAt(doc, cfg.valuesField), allow),
      valuesName: cfg.valuesField,
    });
  };
  return { validator: v, reading };
}

/**
 * `json`: one object per reading, `{sensor, ts, values: {channel: number}}` by default; field
 * names may be dotted paths, the sensor id a template of several fields, the channels an
 * allow-list, and (with `reading.arrays`) a message a JSON array of such objects.
 */
export function createJsonDecoder(
  cfg: ReadingConfig,
  options: DecoderOptions = {},
): RecordDecoder & { one(rec: SourceRecord): Decoded } {
  const { validator: v, reading } = createJsonMapper(cfg, options);
  // The byte scanner reads the plain layout only: no sensor template, no channel allow-list.
  const scanner =
    options.fastPath === false || cfg.sensorTemplate !== undefined || cfg.channels.length > 0
      ? undefined
      : JsonReadingScanner.for(cfg.sensorField, cfg.timeField, cfg.valuesField);

  const parsed = (rec: SourceRecord): unknown => {
    const text = textOf(rec.raw);
    if (text === undefined) return v.reject(rec, 'not_json', 'not valid UTF-8', sensorOf(undefined, rec.key));
    try {
      return { doc: JSON.parse(text) as unknown };
    } catch (err) {
      return v.reject(rec, 'not_json', (err as Error).message, sensorOf(undefined, rec.key));
    }
  };

  const one = (rec: SourceRecord): Decoded => {
    if (
      scanner !== undefined &&
      rec.fields === undefined &&
      rec.invalid === undefined &&
      typeof rec.raw !== 'string' &&
      scanner.scan(rec.raw)
    ) {
      const fast = v.checkScanned(rec, scanner);
      if (fast !== undefined) return fast;
    }
    const pre = preParsed(v, cfg, rec);
    if (pre !== undefined) return pre;
    const p = parsed(rec);
    if ('kind' in (p as object)) return p as Decoded;
    return reading(rec, (p as { doc: unknown }).doc);
  };

  const decode = (rec: SourceRecord): Decoded | readonly Decoded[] => {
    if (!cfg.arrays || rec.fields !== undefined || rec.invalid !== undefined) return one(rec);
    const p = parsed(rec);
    if ('kind' in (p as object)) return p as Decoded;
    const doc = (p as { doc: unknown }).doc;
    if (!Array.isArray(doc)) return reading(rec, doc);
    if (doc.length === 0)
      return v.reject(rec, 'bad_record', 'an empty array: no readings', sensorOf(undefined, rec.key));
    const ack = shareAck(rec.ack, doc.length);
    return doc.map((el: unknown) => reading(part(rec, jsonOrRaw(el, rec.raw), ack), el));
  };

  return {
    one,
    decode,
    decodeMany: decodeEach(decode),
    flush: () => [],
  };
}
