import { createRequire } from 'node:module';
import type { Transform } from 'node:stream';
import type { KafkaCodec } from './codecs.js';

interface Lz4Binding {
  createDecoderStream(): Transform;
  encode(data: Buffer): Buffer;
}

/**
 * An lz4 codec for kafkajs on `lz4` (LZ4 frames, as Kafka writes them; built by node-gyp at
 * install). Not `kafkajs-lz4`: it calls `lz4.decode`, whose decoder stream emits 'error' with no
 * listener on a truncated or foreign frame — an uncaught exception that would end the process.
 * Here the stream's errors reject the promise. Loading throws when the binding cannot load.
 */
export function lz4Codec(): KafkaCodec {
  const lz4 = createRequire(import.meta.url)('lz4') as Lz4Binding;
  return {
    compress: async (encoder) => lz4.encode(encoder.buffer),
    decompress: (buffer) =>
      new Promise<Buffer>((resolve, reject) => {
        const decoder = lz4.createDecoderStream();
        const chunks: Buffer[] = [];
        // `on`, not `once`: the decoder can emit more than one error for one input.
        decoder.on('error', reject);
        decoder.on('data', (chunk: Buffer) => chunks.push(chunk));
        decoder.on('end', () => resolve(Buffer.concat(chunks)));
        decoder.end(buffer);
      }),
  };
}
