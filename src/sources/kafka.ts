import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { Observable } from 'rxjs';
import type { KafkaConfig } from '../config/schema.js';
import { AemonError } from '../errors.js';
import type { Health } from '../observability/health.js';
import type { Logger } from '../observability/logger.js';
import type {
  DecisionCheckpoints,
  FlowControl,
  PartitionCommit,
  SourceRecord,
  TransactionalCommit,
} from '../pipeline/contracts.js';
import { DeadLetterScans, partitionKey } from './kafka-dlq-scan.js';
import type { PartitionSetup } from './kafka-partition.js';
import { commitMetadata, PartitionTracker, rebuildPoint } from './kafka-partition.js';

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
  /**
   * Rebuilding window state after a restart or rebalance: each commit records (as commit
   * metadata) the oldest offset still needed for the last `readings` readings of every key (=
   * sensor) heard from within `maxGapMs`; a new owner of the partition seeks back there and marks
   * the records before the committed offset `replayOnly` (their outputs were written already).
   */
  rebuild?: { readings: number; maxGapMs: number };
  /**
   * The dead-letter topic this instance's sink writes. A record dead-lettered by an earlier owner
   * of its partition, but not yet committed when that owner died, is read again by the next one;
   * each commit records (as commit metadata) when the oldest record still in flight was read, and
   * a new owner looks in this topic from then on for records dead-lettered from its partitions
   * past the committed offset: those are read again `replayOnly`, so they are not dead-lettered
   * twice.
   */
  deadLetters?: { topic: string };
  /** Told of every fetch and record (stall detection); a partition it stops is paused here. */
  health?: Health;
  /**
   * Commits offsets through a sink's transaction (exactly-once) instead of the consumer: the
   * outputs written for the records before them become visible with them.
   */
  transactional?: TransactionalCommit;
  /**
   * Decision state kept with the offsets: written before each commit (in its transaction with
   * `transactional`), read back for a newly owned partition before its records are handed out.
   */
  checkpoints?: DecisionCheckpoints;
}

export interface KafkaSource {
  /** Readings as they come; completes never, unsubscribing stops fetching (in-flight acks still commit). */
  records$: Observable<SourceRecord>;
  /** Commits what is acked, leaves the group and disconnects. */
  close(): Promise<void>;
  /** Commits every partition's acked prefix now. */
  commit(): Promise<void>;
}

/**
 * A consumer-group source on kafkajs `eachBatch`. Offsets are committed by aemon, never by
 * kafkajs: a record's offset is committed only after the record was acked (every output derived
 * from it written), and only as part of a contiguous acked prefix of its partition. While more
 * records are in flight than the runner allows, the batch loop waits and keeps heartbeating.
 */
export function kafkaSource(opts: KafkaSourceOptions): KafkaSource {
  const source = new GroupSource(opts);
  return { records$: source.records$, commit: () => source.commit(), close: () => source.close() };
}

class GroupSource {
  readonly records$: Observable<SourceRecord>;
  private readonly cfg: KafkaConfig;
  private readonly log: Logger;
  private readonly consumer: Consumer;
  private readonly partitions = new Map<string, PartitionTracker>();
  private readonly admin: Admin | undefined;
  private readonly scans: DeadLetterScans | undefined;
  private adminConnected: Promise<void> | undefined;
  private seq = 0;
  private stopped = false;
  private connected = false;
  private commitTimer: NodeJS.Timeout | undefined;
  private committing: Promise<void> = Promise.resolve();
  private readonly heartbeatMs: number;
  private subscriberNext: ((r: SourceRecord) => void) | undefined;
  private fail: ((err: AemonError) => void) | undefined;

  constructor(private readonly opts: KafkaSourceOptions) {
    const { cfg } = opts;
    this.cfg = cfg;
    this.log = opts.log;
    this.heartbeatMs = Math.max(500, Math.floor(cfg.sessionTimeoutMs / 10));
    this.consumer = opts.kafka.consumer({
      groupId: cfg.groupId,
      sessionTimeout: cfg.sessionTimeoutMs,
      // A member killed without leaving holds a rebalance up to its rebalance timeout (kafkajs:
      // 60 s); tie it to the session timeout so a restarted instance takes over in ~2 sessions.
      rebalanceTimeout: 2 * cfg.sessionTimeoutMs,
      heartbeatInterval: this.heartbeatMs,
      allowAutoTopicCreation: false,
    });
    this.admin = opts.rebuild || opts.deadLetters || opts.checkpoints ? opts.kafka.admin() : undefined;
    this.scans = opts.deadLetters ? new DeadLetterScans(opts.kafka, opts.deadLetters.topic, this.log) : undefined;
    this.records$ = new Observable<SourceRecord>((subscriber) => {
      this.subscriberNext = (r) => subscriber.next(r);
      this.fail = (err) => subscriber.error(err);
      this.listen(this.fail);
      this.start().catch((err: unknown) => {
        subscriber.error(
          err instanceof AemonError
            ? err
            : new AemonError('AEMON_KAFKA', `cannot consume from ${cfg.brokers.join(',')}: ${(err as Error).message}`, {
                stage: 'source',
                cause: err,
              }),
        );
      });
      return () => this.stop();
    });
  }

  commit(): Promise<void> {
    this.committing = this.committing.then(() => this.commitNow());
    return this.committing;
  }

  private async commitNow(): Promise<void> {
    const { rebuild, deadLetters } = this.opts;
    const offsets = [];
    for (const p of this.partitions.values()) {
      const o = p.offsets.toCommit();
      if (o === undefined) continue;
      const meta: { rebuildFrom?: number; dlqSince?: number | undefined } = {};
      if (rebuild) meta.rebuildFrom = rebuildPoint(p, o, rebuild.readings, rebuild.maxGapMs);
      if (deadLetters) meta.dlqSince = p.offsets.inFlightSince;
      const metadata = rebuild || deadLetters ? JSON.stringify(meta) : null;
      offsets.push({ topic: p.topic, partition: p.partition, offset: String(o), metadata, p, o });
    }
    if (!this.connected || (offsets.length === 0 && !this.opts.transactional)) return;
    const commits: PartitionCommit[] = offsets.map(({ topic, partition, offset, metadata }) => ({
      topic,
      partition,
      offset,
      metadata,
    }));
    const { checkpoints } = this.opts;
    try {
      // The state the offsets stand for is written first: a new owner must never find offsets
      // committed past the state it would start from.
      const state = checkpoints?.prepare(commits);
      if (this.opts.transactional) await this.opts.transactional.commit(this.cfg.groupId, commits, state);
      else {
        if (state) await checkpoints!.write(state);
        await this.consumer.commitOffsets(commits);
      }
      state?.written();
      for (const { p, o } of offsets) p.offsets.committed(o);
      if (offsets.length > 0) this.opts.onCommit?.();
    } catch (err) {
      if (err instanceof AemonError && !err.retryable) {
        this.fail?.(err);
        return;
      }
      // A commit can fail during a rebalance; the next one (or the new owner) covers it. A failed
      // transaction said why itself.
      if (this.opts.transactional) this.log.debug({ err }, `transactional commit failed: ${(err as Error).message}`);
      else this.log.warn({ err }, `offset commit failed: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    if (this.commitTimer) clearInterval(this.commitTimer);
    await this.commit();
    if (this.connected) {
      this.connected = false;
      await this.consumer.disconnect();
    }
    if (this.adminConnected) {
      this.adminConnected = undefined;
      await this.admin?.disconnect();
    }
  }

  /** Reads a newly owned partition's committed offset and metadata: where to rebuild from, what was dead-lettered. */
  private async setUp(topic: string, partition: number): Promise<PartitionSetup> {
    const { admin, scans } = this;
    if (!admin) return {};
    this.adminConnected ??= admin.connect();
    await this.adminConnected;
    const [res] = await admin.fetchOffsets({ groupId: this.cfg.groupId, topics: [topic] });
    const part = res?.partitions.find((x) => x.partition === partition);
    const committed = Number(part?.offset ?? -1);
    if (this.opts.checkpoints && part && committed >= 0)
      await this.opts.checkpoints.restore(topic, partition, committed);
    if (!part || committed < 0 || !part.metadata) return {};
    const meta = commitMetadata(part.metadata);
    if (meta === undefined) return {}; // metadata written by another tool
    const found: PartitionSetup = {};
    if (scans && typeof meta.dlqSince === 'number' && Number.isFinite(meta.dlqSince)) {
      // One scan for every partition of the topic, from the earliest of their times.
      let since = meta.dlqSince;
      for (const other of res!.partitions) {
        const t = commitMetadata(other.metadata)?.dlqSince;
        if (typeof t === 'number' && Number.isFinite(t) && t < since) since = t;
      }
      found.deadLettered = await scans.deadLetteredPast(topic, partition, committed, since);
    }
    const from = Number(meta.rebuildFrom);
    if (this.opts.rebuild && Number.isInteger(from) && from >= 0 && from < committed)
      found.rebuild = { committed, from };
    return found;
  }

  private tracker(topic: string, partition: number): PartitionTracker {
    const k = partitionKey(topic, partition);
    let p = this.partitions.get(k);
    if (!p) {
      p = new PartitionTracker(topic, partition, this.log, () => this.setUp(topic, partition));
      this.partitions.set(k, p);
    }
    return p;
  }

  private readonly eachBatch = async (payload: EachBatchPayload): Promise<void> => {
    const { batch, heartbeat, isRunning, isStale } = payload;
    const live = (): boolean => !this.stopped && isRunning() && !isStale();
    const p = this.tracker(batch.topic, batch.partition);
    // Setting up can read the dead-letter topic (a consumer of its own joins a group): keep
    // heartbeating meanwhile, or a short session would expire.
    while (!p.ready) {
      const ready = await Promise.race([
        p.setup.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), this.heartbeatMs)),
      ]);
      if (!ready) {
        await heartbeat();
        if (!live()) return;
      }
    }
    const first = batch.messages[0];
    const start = p.startBatch(first === undefined ? undefined : Number(first.offset));
    if (start.kind === 'seek') {
      this.consumer.seek({ topic: p.topic, partition: p.partition, offset: String(start.offset) });
      return;
    }
    for (const m of batch.messages) {
      if (!live()) break;
      // Stopped: nothing past an unwritten record can be committed, so nothing more is read.
      if (this.opts.health?.isStopped(batch.topic, batch.partition)) break;
      if (p.isReread(Number(m.offset))) {
        payload.resolveOffset(m.offset);
        continue;
      }
      if (!(await this.waitForRoom(payload, live))) return;
      this.emit(p, m);
      payload.resolveOffset(m.offset);
    }
    const lag = Number(batch.offsetLag());
    if (Number.isFinite(lag)) this.opts.onLag?.(batch.topic, batch.partition, lag);
    await heartbeat();
    void this.commit();
  };

  /** Waits while more records are in flight than the runner allows, heartbeating; false when the batch is to end. */
  private async waitForRoom(payload: EachBatchPayload, live: () => boolean): Promise<boolean> {
    for (let wait = this.opts.flow?.ready(); wait; wait = this.opts.flow?.ready()) {
      await Promise.race([wait, new Promise((r) => setTimeout(r, this.heartbeatMs))]);
      await payload.heartbeat();
      if (!live()) return false;
    }
    return true;
  }

  private emit(p: PartitionTracker, m: KafkaMessage): void {
    const offset = Number(m.offset);
    const arrivedAt = Date.now();
    const ts = Number(m.timestamp);
    const keyText = m.key ? m.key.toString('utf8') : undefined;
    const seen = p.emit(offset, ts, keyText, arrivedAt, this.opts.rebuild?.readings ?? 0);
    const offsets = p.offsets;
    const record: SourceRecord = {
      raw: m.value ?? new Uint8Array(0),
      key: keyText,
      timestamp: ts,
      origin: { source: 'kafka', topic: p.topic, partition: p.partition, offset: m.offset },
      arrivedAt,
      seq: this.seq++,
      ack: () => offsets.ack(offset),
      replayOnly: seen.replayOnly,
    };
    if (seen.deadLettered) record.deadLettered = true;
    this.subscriberNext?.(record);
    this.opts.health?.progressed();
  }

  private onGroupJoin(memberAssignment: Record<string, number[]>): void {
    this.scans?.reset();
    this.opts.checkpoints?.rejoined();
    const assigned = Object.entries(memberAssignment).map(([topic, partitions]) => ({ topic, partitions }));
    const keep = new Set(assigned.flatMap((a) => a.partitions.map((pt) => partitionKey(a.topic, pt))));
    for (const [k, p] of this.partitions) {
      if (!keep.has(k)) {
        this.partitions.delete(k);
        this.opts.transactional?.forget(p.topic, p.partition);
        this.opts.checkpoints?.revoked(p.topic, p.partition);
        this.opts.onRevoked?.(p.topic, p.partition);
      }
    }
    for (const a of assigned) for (const pt of a.partitions) this.tracker(a.topic, pt);
    this.log.info(
      { assigned },
      `joined group ${this.cfg.groupId}: ${assigned.map((a) => `${a.topic}[${a.partitions.join(',')}]`).join(' ')}`,
    );
    this.opts.health?.assigned(assigned.reduce((n, a) => n + a.partitions.length, 0));
    this.opts.onRebalance?.(assigned);
  }

  private listen(fail: (err: AemonError) => void): void {
    const { consumer } = this;
    consumer.on(consumer.events.GROUP_JOIN, (e) =>
      this.onGroupJoin(e.payload.memberAssignment as Record<string, number[]>),
    );
    // A fetch that returned (even empty) is progress: an idle topic is not a stalled consumer.
    consumer.on(consumer.events.FETCH, () => this.opts.health?.progressed());
    this.opts.health?.onPartitionStopped(({ topic, partition }) => {
      if (this.connected) consumer.pause([{ topic, partitions: [partition] }]);
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (e.payload.restart) {
        this.log.warn(
          { err: e.payload.error },
          `kafka consumer crashed, kafkajs restarts it: ${e.payload.error.message}`,
        );
        return;
      }
      fail(
        new AemonError('AEMON_KAFKA', `kafka consumer stopped: ${e.payload.error.message}`, {
          stage: 'source',
          cause: e.payload.error,
        }),
      );
    });
  }

  private async start(): Promise<void> {
    await this.consumer.connect();
    this.connected = true;
    await this.consumer.subscribe({ topics: this.opts.topics, fromBeginning: this.cfg.fromBeginning });
    this.commitTimer = setInterval(() => void this.commit(), this.cfg.commitIntervalMs);
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: this.eachBatch,
    });
  }

  /** Stops emitting and fetching, but stays in the group: in-flight records still get acked and committed by close(). */
  private stop(): void {
    this.stopped = true;
    this.subscriberNext = undefined;
    const topics = [...new Set([...this.partitions.values()].map((p) => p.topic))];
    if (this.connected && topics.length > 0) this.consumer.pause(topics.map((topic) => ({ topic })));
  }
}
