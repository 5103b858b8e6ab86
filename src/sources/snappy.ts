import { createRequire } from 'node:module';
import type { KafkaCodec } from './codec.js';

interface SnappyNapi {
  compress(data: Buffer): Promise<Buffer>;
  uncompress(data: Buffer): Promise<Buffer>;
}

/** The xerial framing Java clients used to write snappy batches in: a magic header, then length-prefixed blocks. */
const XERIAL_HEADER = Buffer.from([130, 83, 78, 65, 80, 80, 89, 0]);
const XERIAL_BLOCKS_AT = 16;

/**
 * A snappy codec for kafkajs on `snappy` (Rust's snap crate, prebuilt Node-API binaries shipped
 * as npm packages: no compiler at install, one build for every Node line). Not `kafkajs-snappy`:
 * its `snappyjs` decoder loops forever on some malformed blocks (a literal length that overflows
 * to a negative number moves its read position backwards), so one damaged batch would freeze the
 * process. Here a malformed block rejects the promise. Reads both raw blocks and the xerial
 * framing; writes raw blocks, as kafkajs and librdkafka do.
 */
export function snappyCodec(): KafkaCodec {
  const snappy = createRequire(import.meta.url)('snappy') as SnappyNapi;
  return {
    compress: async (encoder) => snappy.compress(encoder.buffer),
    decompress: async (buffer) => {
      if (buffer.length < XERIAL_HEADER.length || !buffer.subarray(0, XERIAL_HEADER.length).equals(XERIAL_HEADER)) {
        return snappy.uncompress(buffer);
      }
      const blocks: Buffer[] = [];
      for (let at = XERIAL_BLOCKS_AT; at + 4 <= buffer.length;) {
        const size = buffer.readUInt32BE(at);
        at += 4;
        if (at + size > buffer.length)
          throw new Error(`xerial block of ${size} bytes at ${at - 4} runs past the end (${buffer.length} bytes)`);
        blocks.push(await snappy.uncompress(buffer.subarray(at, at + size)));
        at += size;
      }
      return Buffer.concat(blocks);
    },
  };
}
