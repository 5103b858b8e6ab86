import { createRequire } from 'node:module';
import type { KafkaCodec } from './codec.js';

interface Lz4Napi {
  compressFrame(data: Buffer): Promise<Buffer>;
  decompressFrame(data: Buffer): Promise<Buffer>;
}

/**
 * An lz4 codec for kafkajs on `lz4-napi` (LZ4 frames, as Kafka writes them). It ships prebuilt
 * Node-API binaries as npm packages, so it needs no compiler at install and one build loads on
 * every Node line (a node-gyp addon is tied to the Node version it was built for). A truncated or
 * foreign frame rejects the promise; nothing is thrown outside it. Loading throws when the
 * binding for this platform cannot load.
 */
export function lz4Codec(): KafkaCodec {
  const lz4 = createRequire(import.meta.url)('lz4-napi') as Lz4Napi;
  return {
    compress: async (encoder) => lz4.compressFrame(encoder.buffer),
    decompress: async (buffer) => lz4.decompressFrame(buffer),
  };
}
