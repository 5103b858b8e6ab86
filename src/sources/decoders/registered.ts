import type { ReadingConfig } from '../../config/schema.js';
import type { Decoded, RecordDecoder, SourceRecord } from '../../pipeline/contracts.js';
import { createJsonMapper, preParsed } from './json.js';
import { createRegistryClient, RegistryError, type SchemaRegistryClient } from './registry.js';
import { compileSchema, type Parser, type SchemaFormat } from './schemas.js';
import { decodeEach } from './shared.js';
import { sensorOf, truncate, type DecoderOptions } from './validate.js';
import { unframe } from './wire.js';

export interface RegistryOptions {
  /** The registry to ask (default: a client of `reading.schemaRegistry`). */
  registry?: SchemaRegistryClient;
  /** Told of each failed lookup that will be retried (the registry is down or refused the credentials). */
  onRegistryRetry?: (err: Error, attempt: number, delayMs: number) => void;
  /**
   * Gives up after this many failed lookups of one id, its records then rejected
   * (`schema_unavailable`): for `aemon inspect`, which must answer. Unset: retries for as long as it takes.
   */
  maxAttempts?: number;
  /** Waits between retries (default: a timer; records wait on it, so it keeps the process up). */
  sleep?: (ms: number) => Promise<void>;
}

type Entry = { parser: Parser } | { failed: string } | { pending: Promise<void> };

const FIRST_BACKOFF_MS = 250;

const timer = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

const bytesOf = (raw: string | Uint8Array): Uint8Array => (typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw);

/**
 * `avro`, `protobuf`, `json-schema`: records in the Confluent wire format, each schema fetched
 * from the registry once (by id) and kept. The decoded object is read as `json` reads a message
 * (`reading.sensorField`, `timeField`, `valuesField`, paths, template, channels).
 *
 * A registry that cannot be reached never dead-letters records: `prepare` retries with backoff
 * and the runner holds the record (and every one after it, so the partition waits and its offsets
 * are not committed) until the schema is in. Only the registry's answer that it has no such id,
 * or a schema aemon cannot use, dead-letters the records of that id (`schema_unavailable`).
 */
export function createRegistryDecoder(
  format: SchemaFormat,
  cfg: ReadingConfig,
  options: DecoderOptions & RegistryOptions = {},
): RecordDecoder {
  const { validator: v, reading } = createJsonMapper(cfg, options);
  const registry = options.registry ?? createRegistryClient(cfg.schemaRegistry);
  const sleep = options.sleep ?? timer;
  const maxBackoff = cfg.schemaRegistry.maxBackoffMs;
  const cache = new Map<number, Entry>();

  const load = async (id: number): Promise<void> => {
    let delay = FIRST_BACKOFF_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        const schema = await registry.schema(id);
        try {
          cache.set(id, { parser: compileSchema(format, schema) });
        } catch (err) {
          cache.set(id, { failed: `schema id ${id} cannot be used: ${truncate((err as Error).message)}` });
        }
        return;
      } catch (err) {
        if (err instanceof RegistryError && err.permanent) {
          cache.set(id, { failed: err.message });
          return;
        }
        if (options.maxAttempts !== undefined && attempt >= options.maxAttempts) {
          cache.set(id, { failed: `${(err as Error).message} (gave up after ${attempt} tries)` });
          return;
        }
        options.onRegistryRetry?.(err as Error, attempt, delay);
        await sleep(delay);
        delay = Math.min(delay * 2, maxBackoff);
      }
    }
  };

  const prepare = (rec: SourceRecord): Promise<void> | undefined => {
    if (rec.fields !== undefined || rec.invalid !== undefined) return undefined;
    const framed = unframe(bytesOf(rec.raw));
    if ('error' in framed) return undefined;
    const entry = cache.get(framed.schemaId);
    if (entry === undefined) {
      const pending = load(framed.schemaId);
      // `load` settles the entry itself before it resolves; until then later records wait on it too.
      cache.set(framed.schemaId, { pending });
      return pending;
    }
    return 'pending' in entry ? entry.pending : undefined;
  };

  const decode = (rec: SourceRecord): Decoded => {
    const pre = preParsed(v, cfg, rec);
    if (pre !== undefined) return pre;
    const bytes = bytesOf(rec.raw);
    const sensor = sensorOf(undefined, rec.key);
    const framed = unframe(bytes);
    if ('error' in framed)
      return v.reject(rec, 'bad_wire_format', `not the schema-registry wire format: ${framed.error}`, sensor);
    const entry = cache.get(framed.schemaId);
    if (entry === undefined || 'pending' in entry)
      return v.reject(
        rec,
        'schema_unavailable',
        `schema id ${framed.schemaId} was not fetched before decoding`,
        sensor,
      );
    if ('failed' in entry) return v.reject(rec, 'schema_unavailable', entry.failed, sensor);
    const out = entry.parser(bytes, framed.offset);
    if ('badFrame' in out) return v.reject(rec, 'bad_wire_format', out.badFrame, sensor);
    if ('mismatch' in out)
      return v.reject(rec, 'schema_mismatch', `schema id ${framed.schemaId}: ${out.mismatch}`, sensor);
    return reading(rec, out.doc);
  };

  return { decode, decodeMany: decodeEach(decode), flush: () => [], prepare };
}
