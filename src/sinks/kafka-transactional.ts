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

/** The transactional producer, made and connected on first use and replaced when its transaction's state is unknown. */
class TransactionalProducer {
  private producer: Producer | undefined;
  private connected: Promise<void> | undefined;

  constructor(private readonly opts: TransactionalSinkOptions) {}

  async connect(): Promise<Producer> {
    this.producer ??= this.opts.kafka.producer({
      transactionalId: this.opts.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { initialRetryTime: 300, retries: 3, maxRetryTime: 3_000 },
    });
    const p = this.producer;
    this.connected ??= p.connect().catch((err: unknown) => {
      this.connected = undefined;
      throw err;
    });
    await this.connected;
    return p;
  }

  /** A producer whose transaction ended in an unknown state is replaced: a new one (same id) settles it. */
  async replace(): Promise<void> {
    const old = this.producer;
    this.producer = undefined;
    this.connected = undefined;
    await old?.disconnect().catch(() => undefined);
  }

  async disconnect(): Promise<void> {
    if (this.connected) await this.producer?.disconnect();
  }
}

/** Whether a record's offset lies before its partition's offset in `cut` (a record not from Kafka always does). */
function covered(h: Reading | Rejection, cut: ReadonlyMap<string, number>): boolean {
  const { topic, partition, offset } = h.origin;
  if (topic === undefined || partition === undefined || offset === undefined) return true;
  const c = cut.get(key(topic, partition));
  return c !== undefined && c > Number(offset);
}

/** The offsets of a commit as `sendOffsets` takes them, per topic. */
function offsetsRequest(group: string, offsets: readonly PartitionCommit[]): Parameters<Transaction['sendOffsets']>[0] {
  const topics = new Map<string, Array<{ partition: number; offset: string; metadata: string | null }>>();
  for (const o of offsets) {
    let list = topics.get(o.topic);
    if (!list) topics.set(o.topic, (list = []));
    list.push({ partition: o.partition, offset: o.offset, metadata: o.metadata });
  }
  return {
    consumerGroupId: group,
    topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })),
  } as Parameters<Transaction['sendOffsets']>[0];
}

/** Whether the group's committed offsets are the ones `offsets` carried. */
async function offsetsLanded(admin: Admin, group: string, offsets: readonly PartitionCommit[]): Promise<boolean> {
  await admin.connect();
  for (const topic of new Set(offsets.map((o) => o.topic))) {
    const [res] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    for (const o of offsets.filter((x) => x.topic === topic)) {
      const got = res?.partitions.find((p) => p.partition === o.partition)?.offset;
      if (got !== o.offset) return false;
    }
  }
  return true;
}

/** How a transaction's messages are sent: in size-bounded rounds, compressed as configured. */
interface Sending {
  cfg: KafkaConfig;
  opts: TransactionalSinkOptions;
  budget: (topic: string) => number;
  compression: ReturnType<typeof compressionType>;
}

function sendingFor(cfg: KafkaConfig, opts: TransactionalSinkOptions): Sending {
  return {
    cfg,
    opts,
    budget: (topic) => batchBudget(opts.limits?.get(topic) ?? KAFKA_DEFAULT_MAX_BYTES),
    compression: compressionType(cfg.compression),
  };
}

/** Sends the ready messages and the offsets in the open transaction `txn`. */
async function sendAll(
  txn: Transaction,
  ready: readonly Out[],
  group: string,
  offsets: readonly PartitionCommit[],
  { cfg, opts, budget, compression }: Sending,
): Promise<void> {
  for (const round of produceRounds(ready, cfg, budget, opts))
    await txn.sendBatch({
      topicMessages: round.map((chunk) => ({ topic: chunk[0]!.topic, messages: chunk.map((o) => o.message) })),
      acks: -1,
      compression,
    });
  if (offsets.length === 0) return;
  // kafkajs retries neither AddOffsetsToTxn nor a coordinator still loading (tulios/kafkajs#430):
  // a failure here aborts this transaction and the next commit tries again.
  await txn.sendOffsets(offsetsRequest(group, offsets));
}

/** The error that stops this instance when another producer took over its transactional id; undefined otherwise. */
function fencedStop(err: unknown, transactionalId: string): AemonError | undefined {
  const fenced = fencedError(err);
  if (!fenced) return undefined;
  return new AemonError(
    'AEMON_KAFKA',
    `another producer with transactional id ${transactionalId} has started (${fenced}); this instance stops writing (kafka.transactionalId must differ between instances)`,
    { stage: 'sink', retryable: false, cause: err },
  );
}

/**
 * What a commit of `offsets` sends: the staged messages whose records all lie before the offsets
 * committed so far or now (`cut`), then the checkpoint's messages.
 */
function readyFor(
  staged: readonly Out[],
  committed: ReadonlyMap<string, number>,
  offsets: readonly PartitionCommit[],
  state: CheckpointRecords | undefined,
): { cut: Map<string, number>; ready: Out[] } {
  const cut = new Map(committed);
  for (const o of offsets) cut.set(key(o.topic, o.partition), Number(o.offset));
  const ready = staged.filter((o) => o.holds.every((h) => covered(h, cut)));
  for (const message of state?.messages ?? []) ready.push({ topic: state!.topic, message, holds: [] });
  return { cut, ready };
}

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
  const sending = sendingFor(cfg, opts);
  const backoff = opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
  let staged: Out[] = [];
  /** Offsets committed per partition by this process. */
  const committed = new Map<string, number>();
  const producers = new TransactionalProducer(opts);
  let admin: Admin | undefined;
  let failures = 0;
  let retryAt = 0;

  /** After a commit whose answer was lost: whether the group's offsets are the ones it carried. */
  const landed = async (group: string, offsets: readonly PartitionCommit[]): Promise<boolean> => {
    if (offsets.length === 0) return false;
    admin ??= opts.kafka.admin();
    return offsetsLanded(admin, group, offsets);
  };

  const fail = (err: unknown, stage: string): AemonError => {
    const fenced = fencedStop(err, opts.transactionalId);
    if (fenced) return fenced;
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
    stillOwned?: () => boolean,
  ): Promise<void> => {
    const { cut, ready } = readyFor(staged, committed, offsets, state);
    if (ready.length === 0 && offsets.length === 0) return;
    if (Date.now() < retryAt)
      throw new AemonError('AEMON_SINK_WRITE', 'waiting to retry', { stage: 'sink', retryable: true });
    let txn: Transaction | undefined;
    try {
      txn = await (await producers.connect()).transaction();
      await sendAll(txn, ready, group, offsets, sending);
    } catch (err) {
      // Abort what was sent; a producer that cannot abort (or begin) is replaced: its successor,
      // with the same id, aborts whatever it left open.
      if (txn?.isActive()) await txn.abort().catch(() => producers.replace());
      else await producers.replace();
      throw fail(err, 'send');
    }
    if (stillOwned && !stillOwned()) {
      // Frozen while sending: another member may own these partitions by now, and nothing fences
      // this transaction but aborting it. Its outputs stay staged for a commit under a live lease.
      await txn.abort().catch(() => producers.replace());
      log?.info(
        { offsets: offsets.length },
        "the partitions of this transaction are no longer known to be this instance's: aborted, not committed",
      );
      throw new AemonError('AEMON_SINK_WRITE', 'ownership lapsed during the transaction', {
        stage: 'sink',
        retryable: true,
      });
    }
    try {
      await txn.commit();
    } catch (err) {
      await producers.replace();
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
      await producers.disconnect();
      await admin?.disconnect().catch(() => undefined);
    },
  };
}
