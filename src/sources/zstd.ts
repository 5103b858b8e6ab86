import { createRequire } from 'node:module';
import type { KafkaCodec } from './codec.js';

interface ZstdBinding {
  compress(data: Buffer, level?: number): Promise<Buffer>;
  decompress(data: Buffer): Promise<Buffer>;
}

/** Level 3 is zstd's own default and what librdkafka and the Java client use unless told. */
const LEVEL = 3;

/**
 * A zstd codec for kafkajs on `@mongodb-js/zstd` (1.x: per-platform prebuilt packages from npm,
 * no download at install). No maintained kafkajs wrapper exists (`@kafkajs/zstd` needs `cppzst`,
 * which builds against a downloaded libzstd). Loading throws when the binding cannot load.
 */
export function zstdCodec(): KafkaCodec {
  const zstd = createRequire(import.meta.url)('@mongodb-js/zstd') as ZstdBinding;
  return {
    compress: (encoder) => zstd.compress(encoder.buffer, LEVEL),
    decompress: (buffer) => zstd.decompress(buffer),
  };
}
