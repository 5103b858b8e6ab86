import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { Observable } from 'rxjs';
import type { KafkaConfig } from '../config/schema.js';
import { AemonError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { FlowControl, SourceRecord } from '../pipeline/contracts.js';
import { PartitionOffsets } from './offsets.js';

export interface KafkaSourceOptions {
  kafka: Kafka;
  cfg: KafkaConfig;
  topics: Array<string | RegExp>;
  log: Logger;
  flow?: FlowControl;
  onLag?(topic: string, partition: number, lag: number): void;
  onCommit?(): void;
  onRebalance?(assigned: Array<{ topic: string; partitions: number[] }>): void;
  onRevoked?(topic: string, partition: number): void;
}

export interface KafkaSource {
  /** Readings as they come; completes never, unsubscribing stops fetching (in-flight acks still commit). */
  records$: Observable<SourceRecord>;
  /** Commits what is acked, leaves the group and disconnects. */
  close(): Promise<void>;
  /** Commits every partition's acked prefix now. */
  commit(): Promise<void>;
}

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/**
 * A consumer-group source on kafkajs `eachBatch`. Offsets are committed by aemon, never by
 * kafkajs: a record's offset is committed only after the record was acked (every output derived
 * from it written), and only as part of a contiguous acked prefix of its partition. While more
 * records are in flight than the runner allows, the batch loop waits and keeps heartbeating.
 */
export function kafkaSource(opts: KafkaSourceOptions): KafkaSource {
  const { cfg, log } = opts;
  const consumer: Consumer = opts.kafka.consumer({
    groupId: cfg.groupId,
    sessionTimeout: cfg.sessionTimeoutMs,
    heartbeatInterval: Math.max(500, Math.floor(cfg.sessionTimeoutMs / 10)),
    allowAutoTopicCreation: false,
  });
  const partitions = new Map<string, { topic: string; partition: number; offsets: PartitionOffsets }>();
  let seq = 0;
  let stopped = false;
  let connected = false;
  let commitTimer: NodeJS.Timeout | undefined;
  let committing: Promise<void> = Promise.resolve();
  const heartbeatMs = Math.max(500, Math.floor(cfg.sessionTimeoutMs / 10));

  const commit = (): Promise<void> => {
    committing = committing.then(async () => {
      const offsets = [];
      for (const p of partitions.values()) {
        const o = p.offsets.toCommit();
        if (o !== undefined) offsets.push({ topic: p.topic, partition: p.partition, offset: String(o), p, o });
      }
      if (offsets.length === 0 || !connected) return;
      try {
        await consumer.commitOffsets(offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })));
        for (const { p, o } of offsets) p.offsets.committed(o);
        opts.onCommit?.();
      } catch (err) {
        // A commit can fail during a rebalance; the next one (or the new owner) covers it.
        log.warn({ err }, `offset commit failed: ${(err as Error).message}`);
      }
    });
    return committing;
  };

  const eachBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    const k = key(batch.topic, batch.partition);
    let p = partitions.get(k);
    if (!p) {
      p = { topic: batch.topic, partition: batch.partition, offsets: new PartitionOffsets() };
      partitions.set(k, p);
    }
    const offsets = p.offsets;
    for (const m of batch.messages) {
      if (stopped || !isRunning() || isStale()) break;
      for (let wait = opts.flow?.ready(); wait; wait = opts.flow?.ready()) {
        await Promise.race([wait, new Promise((r) => setTimeout(r, heartbeatMs))]);
        await heartbeat();
        if (stopped || !isRunning() || isStale()) return;
      }
      const offset = Number(m.offset);
      offsets.emitted(offset);
      const record: SourceRecord = {
        raw: m.value ?? new Uint8Array(0),
        ...(m.key ? { key: m.key.toString('utf8') } : {}),
        timestamp: Number(m.timestamp),
        origin: { source: 'kafka', topic: batch.topic, partition: batch.partition, offset: m.offset },
        arrivedAt: Date.now(),
        seq: seq++,
        ack: () => offsets.ack(offset),
      };
      subscriberNext?.(record);
      resolveOffset(m.offset);
    }
    const lag = Number(batch.offsetLag());
    if (Number.isFinite(lag)) opts.onLag?.(batch.topic, batch.partition, lag);
    await heartbeat();
    void commit();
  };

  let subscriberNext: ((r: SourceRecord) => void) | undefined;

  const records$ = new Observable<SourceRecord>((subscriber) => {
    subscriberNext = (r) => subscriber.next(r);
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assigned = Object.entries(e.payload.memberAssignment).map(([topic, ps]) => ({ topic, partitions: ps as number[] }));
      const keep = new Set(assigned.flatMap((a) => a.partitions.map((pt) => key(a.topic, pt))));
      for (const [k, p] of partitions) {
        if (!keep.has(k)) {
          partitions.delete(k);
          opts.onRevoked?.(p.topic, p.partition);
        }
      }
      log.info({ assigned }, `joined group ${cfg.groupId}: ${assigned.map((a) => `${a.topic}[${a.partitions.join(',')}]`).join(' ')}`);
      opts.onRebalance?.(assigned);
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (e.payload.restart) {
        log.warn({ err: e.payload.error }, `kafka consumer crashed, kafkajs restarts it: ${e.payload.error.message}`);
        return;
      }
      subscriber.error(
        new AemonError('AEMON_KAFKA', `kafka consumer stopped: ${e.payload.error.message}`, { stage: 'source', cause: e.payload.error }),
      );
    });
    (async () => {
      await consumer.connect();
      connected = true;
      await consumer.subscribe({ topics: opts.topics, fromBeginning: cfg.fromBeginning });
      commitTimer = setInterval(() => void commit(), cfg.commitIntervalMs);
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, eachBatch });
    })().catch((err: unknown) => {
      subscriber.error(
        err instanceof AemonError
          ? err
          : new AemonError('AEMON_KAFKA', `cannot consume from ${cfg.brokers.join(',')}: ${(err as Error).message}`, { stage: 'source', cause: err }),
      );
    });
    return () => {
      // Stop emitting and fetching, but stay in the group: in-flight records still get acked
      // and committed by close().
      stopped = true;
      subscriberNext = undefined;
      const topics = [...new Set([...partitions.values()].map((p) => p.topic))];
      if (connected && topics.length > 0) consumer.pause(topics.map((topic) => ({ topic })));
    };
  });

  return {
    records$,
    commit,
    async close() {
      if (commitTimer) clearInterval(commitTimer);
      await commit();
      if (connected) {
        connected = false;
        await consumer.disconnect();
      }
    },
  };
}
