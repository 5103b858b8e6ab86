import type { ReadingConfig } from '../../config/schema.js';
import type { Decoded, RecordDecoder, SourceRecord } from '../../pipeline/contracts.js';
import { preParsed } from './json.js';
import { isLineError, parseLines } from './lineprotocol.js';
import { metricReader } from './metric.js';
import { part, decodeEach, shareAck, textOf } from './shared.js';
import { createValidator, sensorOf, type DecoderOptions } from './validate.js';

/**
 * `influx`: InfluxDB line protocol (Telegraf's default Kafka output), one or more lines per
 * message, each line one reading; the timestamp in `reading.timeUnit` (default ns, Telegraf's
 * precision), the record timestamp when a line has none.
 */
export function createInfluxDecoder(cfg: ReadingConfig, options: DecoderOptions = {}): RecordDecoder {
  const v = createValidator(cfg, cfg.timeUnit ?? 'ns', options);
  const read = metricReader(cfg, v);

  const decode = (rec: SourceRecord): Decoded | readonly Decoded[] => {
    const pre = preParsed(v, cfg, rec);
    if (pre !== undefined) return pre;
    const text = textOf(rec.raw);
    if (text === undefined) return v.reject(rec, 'bad_record', 'not valid UTF-8', sensorOf(undefined, rec.key));
    const lines = parseLines(text);
    if (lines.length === 0) return v.reject(rec, 'bad_record', 'no line-protocol lines', sensorOf(undefined, rec.key));
    const whole = lines.length === 1;
    const ack = shareAck(rec.ack, lines.length);
    return lines.map((p) => {
      const r = whole ? rec : part(rec, p.line, ack);
      if (isLineError(p)) return v.reject(r, 'bad_record', `line protocol: ${p.error}`, sensorOf(undefined, rec.key));
      return read(r, { name: p.measurement, tags: p.tags, fields: p.fields, time: p.timestamp });
    });
  };

  return {
    decode,
    decodeMany: decodeEach(decode),
    flush: () => [],
  };
}
