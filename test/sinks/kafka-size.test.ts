import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Message } from 'kafkajs';
import { batchBudget, chunkMessages, fitDlqMessage, recordBytes } from '../../src/sinks/kafka-size.js';
import { dlqMessage } from '../../src/sinks/kafka-messages.js';
import { retryableWriteError } from '../../src/sinks/kafka.js';
import { fallbackLine } from '../../src/sinks/kafka-fallback.js';
import { rejection } from './fixtures.js';

// kafkajs' own record batch encoder: what the broker compares with max.message.bytes.
const require = createRequire(import.meta.url);
type Encoded = { size(): number };
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (r: {
  offsetDelta: number;
  key: unknown;
  value: unknown;
  headers: unknown;
}) => Encoded;
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as {
  RecordBatch: (b: { records: Encoded[]; lastOffsetDelta: number }) => Promise<Encoded>;
};
const asBuffer = (v: Message['value'] | Message['key']): Buffer | null =>
  v === null || v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(v);

async function batchSize(messages: readonly Message[]): Promise<number> {
  const records = messages.map((m, i) =>
    Record({ offsetDelta: i, key: asBuffer(m.key), value: asBuffer(m.value), headers: m.headers ?? {} }),
  );
  return (await RecordBatch({ records, lastOffsetDelta: messages.length - 1 })).size();
}

const msg = (value: number, headers: Record<string, string> = {}, key = 'pump-7'): Message => ({
  key,
  value: 'v'.repeat(value),
  headers,
});

test('recordBytes bounds what kafkajs encodes for a record', async () => {
  for (const m of [
    msg(0),
    msg(10),
    msg(300, { a: 'b' }),
    msg(70_000, { 'aemon.reason': 'not_json', 'aemon.detail': 'x'.repeat(900) }, 'k'.repeat(200)),
  ]) {
    const alone = (await batchSize([m])) - (await batchSize([]));
    assert.ok(recordBytes(m) >= alone, `estimate ${recordBytes(m)} < encoded ${alone}`);
    assert.ok(recordBytes(m) <= alone + 48, `estimate ${recordBytes(m)} far above encoded ${alone}`);
  }
});

test('chunks of a topic fit its max.message.bytes once encoded as one record batch, in order, none lost', async () => {
  const limit = 20_000;
  const messages = Array.from({ length: 60 }, (_, i) => msg((i * 7919) % 9_000, { i: String(i) }));
  const chunks = chunkMessages(messages, batchBudget(limit));
  assert.ok(chunks.length > 1);
  assert.deepEqual(chunks.flat(), messages, 'every message once, in order');
  for (const c of chunks)
    assert.ok((await batchSize(c)) <= limit, `a chunk of ${c.length} encodes to ${await batchSize(c)} bytes`);
  // A message larger than the budget alone is a chunk of its own.
  const big = msg(30_000);
  assert.deepEqual(
    chunkMessages([msg(10), big, msg(10)], batchBudget(limit)).map((c) => c.length),
    [1, 1, 1],
  );
});

test('a DLQ record too large for the topic is truncated to fit; headers (size, SHA-256, origin) stay whole', async () => {
  const limit = 20_000;
  const raw = 'x'.repeat(25_000);
  const m = dlqMessage(rejection(raw, 'not_json'));
  assert.equal(m.headers?.['aemon.original.size'], '25000');
  assert.equal(m.headers?.['aemon.original.sha256'], createHash('sha256').update(raw).digest('hex'));
  const { message, truncated } = fitDlqMessage(m, batchBudget(limit));
  assert.equal(truncated, true);
  assert.equal(message.headers?.['aemon.truncated'], 'true');
  for (const h of ['aemon.reason', 'aemon.source.topic', 'aemon.source.offset', 'aemon.original.sha256'])
    assert.equal(message.headers?.[h], m.headers?.[h], h);
  const value = asBuffer(message.value)!;
  assert.ok(raw.startsWith(value.toString()) && value.length > limit - 2_000, `kept ${value.length} bytes`);
  assert.ok((await batchSize([message])) <= limit);
  // One that fits is left alone.
  const small = dlqMessage(rejection('{"a":', 'not_json'));
  assert.equal(fitDlqMessage(small, batchBudget(limit)).message, small);
  // Binary originals are hashed as bytes.
  const bytes = new Uint8Array([0, 0xff, 0xfe]);
  assert.equal(
    dlqMessage(rejection(bytes, 'not_json')).headers?.['aemon.original.sha256'],
    createHash('sha256').update(bytes).digest('hex'),
  );
});

test('write errors: the broker refusing a record is not retryable, a lost connection is, through kafkajs wrappers', () => {
  const protocol = (type: string, retriable: boolean) =>
    Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type, retriable });
  assert.equal(retryableWriteError(protocol('MESSAGE_TOO_LARGE', false)), false);
  assert.equal(
    retryableWriteError(
      Object.assign(new Error('gave up'), {
        name: 'KafkaJSNumberOfRetriesExceeded',
        retriable: false,
        cause: protocol('TOPIC_AUTHORIZATION_FAILED', false),
      }),
    ),
    false,
  );
  assert.equal(
    retryableWriteError({
      name: 'KafkaJSAggregateError',
      errors: [protocol('LEADER_NOT_AVAILABLE', true), protocol('RECORD_LIST_TOO_LARGE', false)],
    }),
    false,
  );
  assert.equal(
    retryableWriteError(
      Object.assign(new Error('gave up'), {
        name: 'KafkaJSNumberOfRetriesExceeded',
        retriable: false,
        cause: Object.assign(new Error('Connection error: ECONNREFUSED'), {
          name: 'KafkaJSConnectionError',
          retriable: true,
        }),
      }),
    ),
    true,
  );
  assert.equal(retryableWriteError(protocol('UNKNOWN_TOPIC_OR_PARTITION', true)), true);
  assert.equal(retryableWriteError(new Error('socket hang up')), true);
});

test('a fallback line keeps topic, key, headers and the value (base64 when not UTF-8)', () => {
  const text = JSON.parse(
    fallbackLine('aemon.dlq', dlqMessage(rejection('{"a":', 'not_json')), 'MESSAGE_TOO_LARGE'),
  ) as Record<string, unknown>;
  assert.equal(text.topic, 'aemon.dlq');
  assert.equal(text.value, '{"a":');
  assert.equal(text.error, 'MESSAGE_TOO_LARGE');
  assert.equal((text.headers as Record<string, string>)['aemon.reason'], 'not_json');
  const bin = JSON.parse(
    fallbackLine('aemon.dlq', dlqMessage(rejection(new Uint8Array([0xff, 0xfe]), 'not_json')), 'x'),
  ) as Record<string, unknown>;
  assert.equal(bin.valueBase64, true);
  assert.equal(Buffer.from(bin.value as string, 'base64').toString('hex'), 'fffe');
});
