import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import fc from 'fast-check';
import { CompressionTypes } from 'kafkajs';
import { compressionType } from '../../src/config/kafka.js';
import { loadConfig } from '../../src/config/load.js';
import { KAFKA_CODECS } from '../../src/config/schema.js';
import { AemonError } from '../../src/errors.js';
import { aemon, ROOT } from '../cli/run.js';
import type { KafkaCodec } from '../../src/sources/codec.js';
import { installKafkaCodecs, type DecompressFailure } from '../../src/sources/codecs.js';

const require = createRequire(import.meta.url);
// kafkajs' own record batch encoder and decoder, which call the codec registry.
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as {
  RecordBatch: (args: {
    compression: number;
    records: unknown[];
    lastOffsetDelta: number;
  }) => Promise<{ buffer: Buffer }>;
};
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (args: {
  offsetDelta: number;
  key: Buffer;
  value: Buffer;
  headers?: object;
}) => unknown;
const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (
  decoder: unknown,
) => Promise<{ records: Array<{ key: Buffer; value: Buffer; offset: string }> }>;
const Decoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => unknown;
const { CompressionCodecs } = require('kafkajs') as {
  CompressionCodecs: Record<number, () => { decompress(b: Buffer): Promise<Buffer> }>;
};

const codecs = installKafkaCodecs();

test('every Kafka codec is available here and round-trips a record batch through kafkajs', async () => {
  for (const codec of KAFKA_CODECS) {
    assert.equal(codecs.available.get(codec), true, `${codec}: ${codecs.available.get(codec)}`);
    const values = Array.from({ length: 50 }, (_, i) =>
      JSON.stringify({ sensor: `s${i % 3}`, ts: 1_700_000_000_000 + i, values: { a: i / 7, b: -i } }),
    );
    const records = values.map((v, i) =>
      Record({ offsetDelta: i, key: Buffer.from(`s${i % 3}`), value: Buffer.from(v) }),
    );
    const encoded = await RecordBatch({
      compression: compressionType(codec),
      records,
      lastOffsetDelta: records.length - 1,
    });
    const plain = await RecordBatch({
      compression: CompressionTypes.None,
      records,
      lastOffsetDelta: records.length - 1,
    });
    assert.ok(
      encoded.buffer.length < plain.buffer.length / 2,
      `${codec} compresses (${encoded.buffer.length} vs ${plain.buffer.length} bytes)`,
    );
    const decoded = await decodeBatch(new Decoder(encoded.buffer));
    assert.deepEqual(
      decoded.records.map((r) => r.value.toString()),
      values,
      codec,
    );
    assert.deepEqual(
      decoded.records.map((r) => r.offset),
      values.map((_, i) => String(i)),
      codec,
    );
  }
});

test('installing again returns the same registry', () => {
  assert.equal(installKafkaCodecs(), codecs);
});

test('any bytes into a decompressor: decompressed bytes, or an aemon error naming the codec that is counted', async () => {
  const seen: DecompressFailure[] = [];
  const off = codecs.onFailure((f) => seen.push(f));
  try {
    for (const codec of KAFKA_CODECS) {
      const decompress = (b: Buffer) => CompressionCodecs[compressionType(codec)]!().decompress(b);
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
          const before = seen.length;
          try {
            const out = await decompress(Buffer.from(bytes));
            assert.ok(Buffer.isBuffer(out));
            assert.equal(seen.length, before, 'a success is not a failure');
          } catch (err) {
            assert.ok(err instanceof AemonError, `${codec}: ${String(err)}`);
            assert.equal(err.code, 'AEMON_KAFKA');
            // What kafkajs looks at to restart a crashed consumer rather than stop it.
            assert.deepEqual([(err as { retriable?: boolean }).retriable, err.cause], [true, undefined]);
            assert.match(err.message, new RegExp(`^cannot decompress a ${codec} record batch: `));
            assert.equal(seen.length, before + 1);
            assert.deepEqual([seen.at(-1)!.codec, seen.at(-1)!.bytes], [codec, bytes.length]);
          }
        }),
        { numRuns: 200 },
      );
      // Garbage that is certainly not a frame of this codec fails, and is the recent failure.
      const garbage = Buffer.from('this is not a compressed record batch, not at all'.repeat(3));
      await assert.rejects(
        decompress(garbage),
        (err: unknown) => err instanceof AemonError && err.message.includes(codec),
      );
      assert.equal(codecs.recentFailure()?.codec, codec);
    }
  } finally {
    off();
  }
  const last = codecs.recentFailure()!;
  assert.equal(codecs.recentFailure(60_000, last.at + 60_001), undefined, 'a failure is recent for a minute');
});

// Found by fuzzing: a 290-byte snappy block whose literal length overflows to a negative number,
// which sent snappyjs (kafkajs-snappy's decoder) into an endless loop that froze the process.
const SNAPPY_LOOP = Buffer.from(
  '76fcd21661c9e279232ea0f9ed53072d1a3f277f9159fccdbf1b42ecc716a306603a55b02b72afb34c90fafd24b441dc' +
    '236996a3b6603593070a2d802fd09fa3dd65f22d3a0454972d5c7762da77baf0e0cd1566a4dc6874cf2bc4d0eb017404' +
    '5a094ea04ab92fe8a126d0eb192b1dce90e6ae8987d82100bec3373f05252daeab17244d36ae2fe7d6833ffceb476126' +
    '3c7b987b98a2475c58b9a6de1a1bf3228e2acd3c3daf80b3fe49d654419cbe687e0fc3946b60ecf4f31f5107ec3c3c3d' +
    'f63564b29306dbe0e3d98ed57fa728c721586dd37558a85cfdba97d145c70a47e21114fe783f34cb68f9b1aa3e917c38' +
    'fc48e4231f7232f0fa3227a65e6523fa46f653773699c13b09fa253ddfd3008f12985c0af7500ea2c29db99db266567d' +
    '95b3',
  'hex',
);

test(
  'a snappy block that sent the old decoder into an endless loop is rejected, naming the codec',
  { timeout: 10_000 },
  async () => {
    const decompress = CompressionCodecs[CompressionTypes.Snappy]!().decompress;
    await assert.rejects(
      decompress(SNAPPY_LOOP),
      (err: unknown) => err instanceof AemonError && /^cannot decompress a snappy record batch: /.test(err.message),
    );
    // The xerial framing (what Java clients wrote) is read too: one block, then the end.
    const raw = Buffer.from('hello hello hello hello');
    const block = Buffer.from(
      await (CompressionCodecs[CompressionTypes.Snappy]!() as unknown as KafkaCodec).compress({ buffer: raw }),
    );
    const size = Buffer.alloc(4);
    size.writeUInt32BE(block.length);
    const xerial = Buffer.concat([Buffer.from([130, 83, 78, 65, 80, 80, 89, 0, 0, 0, 0, 1, 0, 0, 0, 1]), size, block]);
    assert.deepEqual(await decompress(xerial), raw);
    await assert.rejects(
      decompress(xerial.subarray(0, xerial.length - 1)),
      (err: unknown) => err instanceof AemonError && err.message.includes('snappy'),
    );
  },
);

test('a compressed batch cut short or with a byte changed: bytes (the original ones when intact), or an aemon error naming the codec', async () => {
  for (const codec of KAFKA_CODECS) {
    const codecOf = () => CompressionCodecs[compressionType(codec)]!() as unknown as KafkaCodec;
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 2000 }),
        fc.nat(),
        fc.option(fc.nat(255)),
        async (text, at, flip) => {
          const original = Buffer.from(text.repeat(3));
          const compressed = Buffer.from(await codecOf().compress({ buffer: original }));
          const i = at % compressed.length;
          const damaged = flip === null ? compressed.subarray(0, i) : Buffer.from(compressed).fill(flip, i, i + 1);
          try {
            const out = await codecOf().decompress(damaged);
            // A change a codec without a checksum cannot see gives other bytes, never an exception.
            assert.ok(Buffer.isBuffer(out));
            if (damaged.equals(compressed))
              assert.ok(out.equals(original), `${codec}: the intact batch decompresses to the original`);
          } catch (err) {
            assert.ok(
              err instanceof AemonError && err.message.startsWith(`cannot decompress a ${codec} record batch: `),
              `${codec}: ${String(err)}`,
            );
          }
        },
      ),
      { numRuns: 150 },
    );
  }
});

test('kafka.compression: none by default, every codec by name or AEMON_KAFKA_COMPRESSION, nothing else', () => {
  assert.equal(loadConfig({ env: {} }).kafka.compression, 'none');
  for (const codec of KAFKA_CODECS)
    assert.equal(loadConfig({ env: { AEMON_KAFKA_COMPRESSION: codec } }).kafka.compression, codec);
  assert.throws(() => loadConfig({ env: { AEMON_KAFKA_COMPRESSION: 'brotli' } }), /kafka\.compression/);
  assert.equal(compressionType('none'), CompressionTypes.None);
  assert.equal(compressionType('zstd'), CompressionTypes.ZSTD);
  assert.doesNotThrow(() => codecs.requireForOutput('lz4', 'kafka.compression'));
});

test('kafka.compression naming a codec that cannot load is one clear start-up error', async () => {
  const r = await aemon(['simulate', '--kafka-topic', 'never.written', '--duration', '1s'], {
    env: {
      NODE_OPTIONS: `--import ${join(ROOT, 'test/kafka/fixtures/without-lz4.mjs')}`,
      AEMON_KAFKA_COMPRESSION: 'lz4',
      // Nothing listens here: the error comes before any connection.
      AEMON_KAFKA_BROKERS: '127.0.0.1:1',
    },
  });
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /^aemon: AEMON_CONFIG_INVALID: kafka\.compression=lz4: the lz4 codec is not available here \(cannot load lz4-napi: Cannot find module 'lz4-napi'/m,
  );
});
