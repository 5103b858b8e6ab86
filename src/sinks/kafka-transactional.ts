import type { Admin, Kafka, Producer, Transaction } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { compressionType } from '../config/kafka.js';
import type { KafkaConfig } from '../config/schema.js';
import { AemonError } from '../errors.js';
import type {
  CheckpointRecords,
  PartitionCommit,
  PipelineOutput,
  Reading,
  Rejection,
  Sink,
  TransactionalCommit,
} from '../pipeline/contracts.js';
import type { KafkaSinkOptions, Out } from './kafka.js';
import { collect, produceRounds } from './kafka.js';
import { batchBudget, KAFKA_DEFAULT_MAX_BYTES } from './kafka-size.js';

export interface TransactionalSinkOptions extends Omit<KafkaSinkOptions, 'fallback'> {
  kafka: Kafka;
  transactionalId: string;
}

/**
 * Broker answers that mean another producer with this transactional id has started since (or
 * the id may not be used): this process must not write again. kafkajs wraps them; the cause
 * chain is looked at.
 */
const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED']);

function fencedError(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; typeof e === 'object' && e !== null && depth < 10; depth++) {
    const x = e as { type?: unknown; cause?: unknown; originalError?: unknown };
    if (typeof x.type === 'string' && FENCED.has(x.type)) return x.type;
    e = x.cause ?? x.originalError;
  }
  return undefined;
}

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;
const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * The exactly-once Kafka sink: `write` only stages the messages (so the runner acks at once and
 * the source's acked prefix moves on); each commit of the source then sends, in one transaction,
 * every staged message whose records all lie before the offsets committed with it, and those
 * offsets (`sendOffsets`). A message with a record at or past its partition's committed offset
 * stays staged: after a crash that record is read again and the message made again, so it must
 * not be visible yet. Nothing of a transaction that fails is visible; its messages stay staged
 * and go with the next one.
 */
export function transactionalKafkaSink(
  cfg: KafkaConfig,
  opts: TransactionalSinkOptions,
): Sink & TransactionalCommit & { release(): Promise<void> } {
  const { log, health, metrics } = opts;
  const budget = (topic: string): number => batchBudget(opts.limits?.get(topic) ?? KAFKA_DEFAULT_MAX_BYTES);
  const compression = compressionType(cfg.compression);
  const backoff = opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
  let staged: Out[] = [];
  /** Offsets committed per partition by this process. */
  const committed = new Map<string, number>();
  let producer: Producer | undefined;
  let connected: Promise<void> | undefined;
  let admin: Admin | undefined;
  let failures = 0;
  let retryAt = 0;

  const connect = async (): Promise<Producer> => {
    producer ??= opts.kafka.producer({
      transactionalId: opts.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { initialRetryTime: 300, retries: 3, maxRetryTime: 3_000 },
    });
    const p = producer;
    connected ??= p.connect().catch((err: unknown) => {
      connected = undefined;
      throw err;
    });
    await connected;
    return p;
  };

  /** A producer whose transaction ended in an unknown state is replaced: a new one (same id) settles it. */
  const replace = async (): Promise<void> => {
    const old = producer;
    producer = undefined;
    connected = undefined;
    await old?.disconnect().catch(() => undefined);
  };

  const covered = (h: Reading | Rejection, cut: ReadonlyMap<string, number>): boolean => {
    const { topic, partition, offset } = h.origin;
    if (topic === undefined || partition === undefined || offset === undefined) return true;
    const c = cut.get(key(topic, partition));
    return c !== undefined && c > Number(offset);
  };

  const sendAll = async (
    txn: Transaction,
    ready: readonly Out[],
    group: string,
    offsets: readonly PartitionCommit[],
  ) => {
    for (const round of produceRounds(ready, cfg, budget, opts))
      await txn.sendBatch({
        topicMessages: round.map((chunk) => ({ topic: chunk[0]!.topic, messages: chunk.map((o) => o.message) })),
        acks: -1,
        compression,
      });
    if (offsets.length === 0) return;
    const topics = new Map<string, Array<{ partition: number; offset: string; metadata: string | null }>>();
    for (const o of offsets) {
      let list = topics.get(o.topic);
      if (!list) topics.set(o.topic, (list = []));
      list.push({ partition: o.partition, offset: o.offset, metadata: o.metadata });
    }
    // kafkajs retries neither AddOffsetsToTxn nor a coordinator still loading (tulios/kafkajs#430):
    // a failure here aborts this transaction and the next commit tries again.
    await txn.sendOffsets({
      consumerGroupId: group,
      topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })),
    } as Parameters<Transaction['sendOffsets']>[0]);
  };

  /** After a commit whose answer was lost: whether the group's offsets are the ones it carried. */
  const landed = async (group: string, offsets: readonly PartitionCommit[]): Promise<boolean> => {
    if (offsets.length === 0) return false;
    admin ??= opts.kafka.admin();
    await admin.connect();
    for (const topic of new Set(offsets.map((o) => o.topic))) {
      const [res] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      for (const o of offsets.filter((x) => x.topic === topic)) {
        const got = res?.partitions.find((p) => p.partition === o.partition)?.offset;
        if (got !== o.offset) return false;
      }
    }
    return true;
  };

  const fail = (err: unknown, stage: string): AemonError => {
    const fenced = fencedError(err);
    if (fenced)
      return new AemonError(
        'AEMON_KAFKA',
        `another producer with transactional id ${opts.transactionalId} has started (${fenced}); this instance stops writing (kafka.transactionalId must differ between instances)`,
        { stage: 'sink', retryable: false, cause: err },
      );
    failures++;
    const wait = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(failures - 1, 20));
    retryAt = Date.now() + wait;
    const why = `kafka transaction failed at ${stage}: ${describe(err)}`;
    health?.sinkFailing('kafka', why);
    metrics?.sinkRetry('kafka');
    log?.warn({ err, attempt: failures, retryInMs: wait }, `${why}; nothing of it is visible, retrying in ${wait} ms`);
    return new AemonError('AEMON_SINK_WRITE', why, { stage: 'sink', retryable: true, cause: err });
  };

  const commitOnce = async (
    group: string,
    offsets: readonly PartitionCommit[],
    state?: CheckpointRecords,
  ): Promise<void> => {
    const cut = new Map(committed);
    for (const o of offsets) cut.set(key(o.topic, o.partition), Number(o.offset));
    const ready = staged.filter((o) => o.holds.every((h) => covered(h, cut)));
    for (const message of state?.messages ?? []) ready.push({ topic: state!.topic, message, holds: [] });
    if (ready.length === 0 && offsets.length === 0) return;
    if (Date.now() < retryAt)
      throw new AemonError('AEMON_SINK_WRITE', 'waiting to retry', { stage: 'sink', retryable: true });
    let txn: Transaction | undefined;
    try {
      txn = await (await connect()).transaction();
      await sendAll(txn, ready, group, offsets);
    } catch (err) {
      // Abort what was sent; a producer that cannot abort (or begin) is replaced: its successor,
      // with the same id, aborts whatever it left open.
      if (txn?.isActive()) await txn.abort().catch(replace);
      else await replace();
      throw fail(err, 'send');
    }
    try {
      await txn.commit();
    } catch (err) {
      await replace();
      // The commit may have landed with its answer lost: the group's offsets tell.
      if (!(await landed(group, offsets).catch(() => false))) throw fail(err, 'commit');
      log?.info({ offsets: offsets.length }, 'the transaction had committed (its answer was lost)');
    }
    const sent = new Set(ready);
    staged = staged.filter((o) => !sent.has(o));
    for (const [k, v] of cut) committed.set(k, v);
    if (failures > 0) {
      log?.info({ attempts: failures + 1 }, `kafka transaction committed after ${failures + 1} attempts`);
      failures = 0;
      health?.sinkRecovered('kafka');
    }
  };

  return {
    name: 'kafka',
    write(outputs: readonly PipelineOutput[]): Promise<undefined> {
      for (const o of collect(outputs, cfg)) staged.push(o);
      return Promise.resolve(undefined);
    },
    commit: commitOnce,
    forget(topic, partition) {
      const k = key(topic, partition);
      committed.delete(k);
      staged = staged.filter((o) => !o.holds.some((h) => h.origin.topic === topic && h.origin.partition === partition));
    },
    // The runner closes its sinks before the source's last commit, which still goes through
    // this producer: `release` (after the source closed) disconnects it.
    async close() {},
    async release() {
      if (staged.length > 0)
        log?.warn(
          { staged: staged.length },
          `${staged.length} output record(s) not committed are dropped; their readings are read again on restart`,
        );
      staged = [];
      if (connected) await producer?.disconnect();
      await admin?.disconnect().catch(() => undefined);
    },
  };
}
