import type { ReadingConfig } from '../../config/schema.js';
import type { Decoded, RecordDecoder, Rejection, SourceRecord } from '../../pipeline/contracts.js';
import { createInfluxDecoder } from './influx.js';
import { createJsonDecoder } from './json.js';
import { createNarrowDecoder } from './narrow.js';
import { createRegistryDecoder, type RegistryOptions } from './registered.js';
import { byteSize, decodeEach } from './shared.js';
import { createTelegrafJsonDecoder } from './telegraf.js';
import type { DecoderOptions } from './validate.js';

function formatDecoder(cfg: ReadingConfig, options: DecoderOptions & RegistryOptions): RecordDecoder {
  switch (cfg.format) {
    case 'json':
      return createJsonDecoder(cfg, options);
    case 'telegraf-json':
      return createTelegrafJsonDecoder(cfg, options);
    case 'influx':
      return createInfluxDecoder(cfg, options);
    case 'narrow':
      return createNarrowDecoder(cfg, options);
    case 'avro':
    case 'protobuf':
    case 'json-schema':
      return createRegistryDecoder(cfg.format, cfg, options);
  }
}

function tooLarge(rec: SourceRecord, size: number, limit: number): Rejection {
  const out: Rejection = {
    kind: 'rejected',
    reason: 'too_large',
    detail: `${size} bytes, more than reading.maxBytes (${limit}); not parsed`,
    raw: rec.raw,
    origin: rec.origin,
    arrivedAt: rec.arrivedAt,
    seq: rec.seq,
    ack: rec.ack,
  };
  if (rec.key !== undefined) {
    out.key = rec.key;
    if (rec.key.trim() !== '') out.sensor = rec.key;
  }
  if (rec.replayOnly) out.replayOnly = true;
  return out;
}

/**
 * The decoder `reading.format` names, behind the size limit every format shares: a record over
 * `reading.maxBytes` is rejected (`too_large`) before any parsing, so one huge message costs
 * neither a parse nor the memory of its parsed form.
 */
export function createRecordDecoder(cfg: ReadingConfig, options: DecoderOptions & RegistryOptions = {}): RecordDecoder {
  const inner = formatDecoder(cfg, options);
  const limit = cfg.maxBytes;
  const decode = (rec: SourceRecord): Decoded | readonly Decoded[] => {
    if (rec.fields === undefined && rec.invalid === undefined) {
      const size = byteSize(rec.raw, limit);
      if (size > limit) return tooLarge(rec, size, limit);
    }
    return inner.decode(rec);
  };
  const out: RecordDecoder = {
    decode,
    decodeMany: decodeEach(decode),
    flush: () => inner.flush(),
  };
  if (inner.prepare !== undefined) {
    const prepare = inner.prepare;
    // A record over the limit is rejected unparsed: its schema is not fetched for it.
    out.prepare = (rec) =>
      rec.fields === undefined && rec.invalid === undefined && byteSize(rec.raw, limit) > limit
        ? undefined
        : prepare(rec);
  }
  return out;
}
