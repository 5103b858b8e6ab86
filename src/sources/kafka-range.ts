import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { Observable } from 'rxjs';
import { AemonError } from '../errors.js';
import type { FlowControl, SourceRecord } from '../pipeline/contracts.js';

export interface KafkaRangeOptions {
  kafka: Kafka;
  topic: string;
  /** Event-time range by Kafka record timestamps (epoch ms): [from, to). */
  fromMs: number;
  toMs: number;
  flow?: FlowControl;
}

export interface RangeRead {
  /** Resolves when every partition's range was read (at once when the range is empty). */
  done: Promise<void>;
  /** Stops reading; `done` then never resolves. */
  stop(): void;
}

/**
 * Reads a time range of a topic once: start offsets by timestamp (`fetchTopicOffsetsByTimestamp`),
 * end offsets likewise for `toMs` (the high watermark for a time past the last record). It reads
 * under a throw-away group id and never commits, so it leaves no trace in the cluster's consumer
 * groups' offsets. `onMessage` is awaited, so it can hold the read back (heartbeats go on).
 */
export function readRange(
  opts: Pick<KafkaRangeOptions, 'kafka' | 'topic' | 'fromMs' | 'toMs'>,
  onMessage: (partition: number, m: KafkaMessage, heartbeat: () => Promise<void>) => void | Promise<void>,
): RangeRead {
  const admin = opts.kafka.admin();
  const consumer = opts.kafka.consumer({ groupId: `aemon-replay-${randomUUID()}`, allowAutoTopicCreation: false });
  let stopped = false;
  const done = (async () => {
    await admin.connect();
    let starts, ends;
    try {
      starts = await admin.fetchTopicOffsetsByTimestamp(opts.topic, opts.fromMs);
      ends = await admin.fetchTopicOffsetsByTimestamp(opts.topic, opts.toMs);
    } finally {
      await admin.disconnect();
    }
    const remaining = new Map<number, { next: number; end: number }>();
    for (const s of starts) {
      const end = Number(ends.find((e) => e.partition === s.partition)?.offset ?? s.offset);
      if (Number(s.offset) < end) remaining.set(s.partition, { next: Number(s.offset), end });
    }
    if (remaining.size === 0) return;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    await consumer.connect();
    await consumer.subscribe({ topics: [opts.topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const r = remaining.get(batch.partition);
        if (!r) return;
        for (const m of batch.messages) {
          if (stopped || !isRunning() || isStale()) return;
          const offset = Number(m.offset);
          if (offset < r.next) continue;
          if (offset >= r.end) break;
          await onMessage(batch.partition, m, heartbeat);
          r.next = offset + 1;
          resolveOffset(m.offset);
        }
        // A transactional topic ends in a commit marker, which is never handed out: a batch whose
        // last offset (markers included) reaches the end finishes the partition too.
        if (r.next >= r.end || Number(batch.highWatermark) <= r.next || Number(batch.lastOffset()) >= r.end - 1)
          remaining.delete(batch.partition);
        if (remaining.size === 0) finish();
      },
    });
    for (const [partition, r] of remaining) consumer.seek({ topic: opts.topic, partition, offset: String(r.next) });
    await finished;
    await consumer.disconnect();
  })();
  return {
    done,
    stop() {
      stopped = true;
      void consumer.disconnect().catch(() => undefined);
    },
  };
}

/** A time range of a topic as readings, read once and then completed (see `readRange`). */
export function kafkaRangeSource(opts: KafkaRangeOptions): Observable<SourceRecord> {
  return new Observable<SourceRecord>((subscriber) => {
    let seq = 0;
    const read = readRange(opts, async (partition, m, heartbeat) => {
      const wait = opts.flow?.ready();
      if (wait) {
        await wait;
        await heartbeat();
      }
      subscriber.next({
        raw: m.value ?? new Uint8Array(0),
        ...(m.key ? { key: m.key.toString('utf8') } : {}),
        timestamp: Number(m.timestamp),
        origin: { source: 'kafka', topic: opts.topic, partition, offset: m.offset },
        arrivedAt: Date.now(),
        seq: seq++,
        ack: () => undefined,
      });
    });
    read.done.then(
      () => subscriber.complete(),
      (err: unknown) =>
        subscriber.error(
          new AemonError('AEMON_KAFKA', `cannot read ${opts.topic}: ${(err as Error).message}`, {
            stage: 'source',
            cause: err,
          }),
        ),
    );
    return () => read.stop();
  });
}
