import type { Admin, IHeaders, Message } from 'kafkajs';
import type { Logger } from '../observability/logger.js';

// kafkajs' ConfigResourceTypes (a CommonJS export that ESM named imports do not see).
const TOPIC_RESOURCE = 2;
const BROKER_RESOURCE = 4;

/** Kafka's default `message.max.bytes` (1 MiB + the record batch overhead). */
export const KAFKA_DEFAULT_MAX_BYTES = 1_048_588;

/**
 * A record batch's fixed header (61 bytes) and room for the produce request's framing: what a
 * batch may hold is the topic's limit less this.
 */
const BATCH_OVERHEAD = 128;

const bytes = (v: Message['value'] | string | null | undefined): number =>
  v === null || v === undefined ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length;

function headerBytes(headers: IHeaders | undefined): number {
  let n = 0;
  for (const [k, v] of Object.entries(headers ?? {})) {
    const values = Array.isArray(v) ? v : [v];
    // Each header: varint key length, key, varint value length, value.
    for (const one of values) n += 10 + Buffer.byteLength(k) + bytes(one as Buffer | string | undefined);
  }
  return n;
}

/**
 * An upper bound of a message's size inside an uncompressed record batch: the varint fields of
 * a record (length, attributes, timestamp and offset deltas, key and value lengths, header
 * count) take at most 5–10 bytes each.
 */
export function recordBytes(m: Message): number {
  return 40 + bytes(m.key) + bytes(m.value) + headerBytes(m.headers);
}

/** The most bytes of records one produce request may carry to a topic whose limit is `maxBytes`. */
export function batchBudget(maxBytes: number): number {
  return Math.max(1_024, maxBytes - BATCH_OVERHEAD);
}

/**
 * Splits a topic's messages into consecutive chunks whose records fit `budget` together, so no
 * record batch the producer builds from one chunk can pass the topic's limit (whatever partitions
 * the messages go to). A message larger than the budget alone is a chunk of its own.
 */
export function chunkMessages(messages: readonly Message[], budget: number): Message[][] {
  const chunks: Message[][] = [];
  let chunk: Message[] = [];
  let size = 0;
  for (const m of messages) {
    const n = recordBytes(m);
    if (chunk.length > 0 && size + n > budget) {
      chunks.push(chunk);
      chunk = [];
      size = 0;
    }
    chunk.push(m);
    size += n;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/**
 * A DLQ message cut to fit `budget`: the headers stay whole (they name the original by size and
 * SHA-256), the value keeps as many leading bytes as fit, and `aemon.truncated: true` says so.
 * Returns the message itself when it fits.
 */
export function fitDlqMessage(m: Message, budget: number): { message: Message; truncated: boolean } {
  if (recordBytes(m) <= budget) return { message: m, truncated: false };
  const headers: IHeaders = { ...m.headers, 'aemon.truncated': 'true' };
  let key = m.key ?? null;
  // A key so long that the headers alone do not fit is dropped too (the headers still name the origin).
  if (recordBytes({ key, value: null, headers }) > budget) key = null;
  const room = Math.max(0, budget - recordBytes({ key, value: null, headers }));
  const value =
    m.value === null || m.value === undefined
      ? null
      : (typeof m.value === 'string' ? Buffer.from(m.value) : m.value).subarray(0, room);
  return { message: { ...m, key, value, headers }, truncated: true };
}

/**
 * Each topic's `max.message.bytes` from the broker (the broker's `message.max.bytes` when a topic
 * cannot be described, e.g. for want of DescribeConfigs rights; Kafka's default when neither can).
 */
export async function readTopicLimits(
  admin: Admin,
  topics: readonly string[],
  log: Logger,
): Promise<Map<string, number>> {
  const limits = new Map<string, number>();
  const wanted = [...new Set(topics.filter((t) => t !== ''))];
  let fallback: number | undefined;
  const brokerLimit = async (): Promise<number> => {
    if (fallback !== undefined) return fallback;
    fallback = KAFKA_DEFAULT_MAX_BYTES;
    try {
      const { brokers } = await admin.describeCluster();
      const res = await admin.describeConfigs({
        resources: brokers.map((b) => ({
          type: BROKER_RESOURCE,
          name: String(b.nodeId),
          configNames: ['message.max.bytes'],
        })),
        includeSynonyms: false,
      });
      const values = res.resources.flatMap((r) =>
        r.configEntries.filter((e) => e.configName === 'message.max.bytes').map((e) => Number(e.configValue)),
      );
      const finite = values.filter((v) => Number.isFinite(v) && v > 0);
      if (finite.length > 0) fallback = Math.min(...finite);
    } catch (err) {
      log.warn(
        { err },
        `cannot read the brokers' message.max.bytes; assuming Kafka's default ${KAFKA_DEFAULT_MAX_BYTES}: ${(err as Error).message}`,
      );
    }
    return fallback;
  };
  for (const topic of wanted) {
    let limit: number | undefined;
    try {
      const res = await admin.describeConfigs({
        resources: [{ type: TOPIC_RESOURCE, name: topic, configNames: ['max.message.bytes'] }],
        includeSynonyms: false,
      });
      const entry = res.resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes');
      const v = Number(entry?.configValue);
      if (Number.isFinite(v) && v > 0) limit = v;
    } catch (err) {
      log.warn(
        { err, topic },
        `cannot read max.message.bytes of ${topic}; using the brokers' message.max.bytes: ${(err as Error).message}`,
      );
    }
    limits.set(topic, limit ?? (await brokerLimit()));
  }
  return limits;
}
