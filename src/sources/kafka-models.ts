import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from '../observability/logger.js';

export interface CompactedFeed {
  /** Settles once the records that were in the topic at start have been handed over. */
  readonly caughtUp: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Follows a compacted topic (the models topic) from its beginning under a throw-away group id:
 * every instance needs every record, and nothing is committed. Until it has read up to the end
 * offsets the topic had at start it keeps only the latest record per key — what compaction
 * will leave — and hands those over in topic order; after that, each record as it comes.
 * `onRecord` runs one record at a time; a tombstone (no value) is passed over.
 */
export async function followCompacted(opts: {
  kafka: Kafka;
  topic: string;
  log: Logger;
  /** Largest record expected (a model); fetches allow this much per partition. */
  maxBytes: number;
  onRecord(raw: Uint8Array, key: string | undefined): Promise<void>;
}): Promise<CompactedFeed> {
  const { topic, log } = opts;
  const admin = opts.kafka.admin();
  await admin.connect();
  let ends: Map<number, number>;
  try {
    ends = new Map(
      (await endOffsets(admin, topic))
        .filter((p) => Number(p.high) > Number(p.low))
        .map((p) => [p.partition, Number(p.high)]),
    );
  } finally {
    await admin.disconnect();
  }

  const hand = async (raw: Uint8Array, key: string | undefined): Promise<void> => {
    try {
      await opts.onRecord(raw, key);
    } catch (err) {
      // A record that cannot be handled is not retried: the next one for its key supersedes it.
      log.error({ err, topic, key }, `${topic}: a record could not be handled: ${(err as Error).message}`);
    }
  };
  const latest = new Map<string | undefined, Uint8Array>();
  let resolveCaughtUp!: () => void;
  const caughtUp = new Promise<void>((r) => (resolveCaughtUp = r));
  let following = ends.size === 0;
  if (following) resolveCaughtUp();

  const consumer = opts.kafka.consumer({
    groupId: `aemon-follow-${randomUUID()}`,
    allowAutoTopicCreation: false,
    maxBytesPerPartition: opts.maxBytes,
    maxBytes: opts.maxBytes,
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      const key = message.key?.toString('utf8');
      const value = message.value;
      if (following) {
        if (value) await hand(value, key);
        return;
      }
      latest.delete(key);
      if (value) latest.set(key, value);
      if (Number(message.offset) + 1 >= (ends.get(partition) ?? 0)) ends.delete(partition);
      if (ends.size > 0) return;
      following = true;
      log.info({ topic, records: latest.size }, `${topic}: read up to the end, ${latest.size} current record(s)`);
      for (const [k, raw] of latest) await hand(raw, k);
      latest.clear();
      resolveCaughtUp();
    },
  });
  return {
    caughtUp,
    async stop() {
      await consumer.disconnect();
    },
  };
}

/**
 * The topic's offsets. Right after the topic was created, a broker can still answer "not the
 * leader" or "unknown topic" for it (kafkajs gives up on the first such answer here): those are
 * retriable and settle within moments, so they are retried for a while.
 */
async function endOffsets(
  admin: Admin,
  topic: string,
): Promise<Array<{ partition: number; high: string; low: string }>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (err) {
      if (attempt >= 8 || (err as { retriable?: boolean }).retriable !== true) throw err;
      await new Promise((r) => setTimeout(r, 250 * attempt));
    }
  }
}
