import { createRequire } from 'node:module';
import { CompressionTypes } from 'kafkajs';
import type * as KafkaJs from 'kafkajs';
import { KAFKA_CODECS, type KafkaCodecName } from '../config/schema.js';
import { AemonError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { lz4Codec } from './lz4.js';
import { snappyCodec } from './snappy.js';
import { zstdCodec } from './zstd.js';
import type { CodecInput, KafkaCodec } from './codec.js';

/** A record batch that could not be decompressed (or whose codec is missing). */
export interface DecompressFailure {
  codec: KafkaCodecName;
  /** Size of the compressed records. */
  bytes: number;
  message: string;
  /** When it failed (ms since the epoch). */
  at: number;
}

export interface KafkaCodecs {
  /** Per codec: true, or why it cannot be used here (its package failed to load). */
  readonly available: ReadonlyMap<KafkaCodecName, true | string>;
  /** Called on every batch that fails to decompress; returns the unsubscribe. */
  onFailure(listener: (f: DecompressFailure) => void): () => void;
  /** The latest failure of the last `withinMs`, if any: while there is one, consuming is held up. */
  recentFailure(withinMs?: number, now?: number): DecompressFailure | undefined;
  /** Throws a start-up error naming the codec when it cannot compress here. */
  requireForOutput(codec: KafkaCodecName | 'none', setting: string): void;
}

const TYPES: Record<KafkaCodecName, Exclude<CompressionTypes, CompressionTypes.None>> = {
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

const require = createRequire(import.meta.url);
// Node's ESM import of kafkajs (CommonJS) does not detect this export; require finds the same module.
const { CompressionCodecs } = require('kafkajs') as typeof KafkaJs;

/** kafkajs decodes only gzip; the others come from npm packages, loaded synchronously (all CommonJS). */
const LOADERS: Record<Exclude<KafkaCodecName, 'gzip'>, { pkg: string; load(): KafkaCodec }> = {
  snappy: { pkg: 'snappy', load: snappyCodec },
  lz4: { pkg: 'lz4-napi', load: lz4Codec },
  zstd: { pkg: '@mongodb-js/zstd', load: zstdCodec },
};

/**
 * kafkajs re-fetches a failed fetch with its back-off (at most `retry.maxRetryTime`, 10 s) and
 * restarts the consumer when retries run out, so a batch that keeps failing fails again well
 * within this.
 */
export const DECOMPRESS_STALL_MS = 60_000;

let installed: KafkaCodecs | undefined;

/**
 * Registers gzip, snappy, lz4 and zstd in kafkajs' codec registry (process-wide, so every
 * client — consumers and producers alike — uses them); idempotent. Every codec is wrapped so a
 * batch that cannot be decompressed, or a codec whose package failed to load, is an error of
 * aemon's naming the codec, counted, and never kafkajs' `KafkaJSNotImplemented` — which stops
 * the consumer for good. Failing the fetch instead makes kafkajs retry it (and restart the
 * consumer) without moving past the batch: nothing is skipped, nothing past it committed. kafkajs
 * decodes a fetch response whole, so every partition fetched from that broker waits with it.
 */
export function installKafkaCodecs(log?: Logger): KafkaCodecs {
  if (installed) return installed;
  const listeners = new Set<(f: DecompressFailure) => void>();
  const latest = new Map<KafkaCodecName, DecompressFailure>();
  const available = new Map<KafkaCodecName, true | string>();
  const builtinGzip = CompressionCodecs[CompressionTypes.GZIP] as () => KafkaCodec;

  const fail = (codec: KafkaCodecName, buffer: Buffer, cause: unknown): never => {
    const f: DecompressFailure = {
      codec,
      bytes: buffer.length,
      message: cause instanceof Error ? cause.message : String(cause),
      at: Date.now(),
    };
    latest.set(codec, f);
    log?.error(
      { codec, bytes: f.bytes },
      `cannot decompress a ${codec} record batch (${f.bytes} bytes): ${f.message}; consuming from its broker waits at this batch while kafkajs fetches it again`,
    );
    for (const l of listeners) l(f);
    // kafkajs restarts a crashed consumer only when the error's innermost cause says `retriable`
    // (or its retries ran out): so this error is that innermost cause, with the message it had.
    const err = new AemonError('AEMON_KAFKA', `cannot decompress a ${codec} record batch: ${f.message}`, {
      stage: 'source',
      retryable: true,
    });
    throw Object.assign(err, { retriable: true });
  };

  for (const codec of KAFKA_CODECS) {
    let impl: KafkaCodec | undefined;
    let missing: string | undefined;
    if (codec === 'gzip') impl = builtinGzip();
    else {
      const { pkg, load } = LOADERS[codec];
      try {
        impl = load();
      } catch (cause) {
        missing = `cannot load ${pkg}: ${(cause as Error).message.split('\n')[0]}`;
      }
    }
    available.set(codec, missing ?? true);
    if (missing !== undefined)
      log?.error(
        { codec },
        `kafka codec ${codec} is not available (${missing}): records compressed with ${codec} cannot be read; consuming waits at the first such batch`,
      );
    const guarded: KafkaCodec = {
      compress: async (encoder: CodecInput) => {
        if (!impl) throw new AemonError('AEMON_KAFKA', `cannot compress with ${codec}: ${missing}`, { stage: 'sink' });
        return impl.compress(encoder);
      },
      decompress: async (buffer: Buffer) => {
        if (!impl) return fail(codec, buffer, new Error(`the ${codec} codec is not available (${missing})`));
        try {
          return await impl.decompress(buffer);
        } catch (cause) {
          return fail(codec, buffer, cause);
        }
      },
    };
    CompressionCodecs[TYPES[codec]] = () => guarded;
  }

  installed = {
    available,
    onFailure(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    recentFailure(withinMs = DECOMPRESS_STALL_MS, now = Date.now()) {
      let last: DecompressFailure | undefined;
      for (const f of latest.values()) if (now - f.at <= withinMs && (!last || f.at > last.at)) last = f;
      return last;
    },
    requireForOutput(codec, setting) {
      if (codec === 'none') return;
      const why = available.get(codec);
      if (why !== true)
        throw new AemonError(
          'AEMON_CONFIG_INVALID',
          `${setting}=${codec}: the ${codec} codec is not available here (${why})`,
          { stage: 'config' },
        );
    },
  };
  return installed;
}
