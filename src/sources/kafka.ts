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
import type { Ownerships } from '../pipeline/ownership.js';
import { DeadLetterScans, partitionKey } from './kafka-dlq-scan.js';
import { committedElsewhere, watchMembership } from './kafka-ownership.js';
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
  /**
   * Each assignment of a partition, and the membership's lease (its lease should be the session
   * timeout): offsets are committed only under a live one; a partition revoked, or assigned again
   * after a rejoin under a new member id while another member committed it meanwhile, ends its
   * assignment (the pipeline voids what was read under it) and is set up afresh.
   */
  ownership?: Ownerships;
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
  /** This instance's member id in the group, as of its last join. */
  private memberId: string | undefined;
  /** Partitions kept across a rejoin under a new member id, while it is checked whether someone else committed them. */
  private readonly checks = new Map<string, Promise<void>>();
  private membership: { joined(): number } | undefined;
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
    const { ownership } = this.opts;
    for (const p of this.partitions.values()) {
      // Only under a live assignment: a stalled member's lease may have run out, and another
      // member may own the partition by now.
      if (ownership && !ownership.committable(p.topic, p.partition)) continue;
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
    for (const { p, o } of offsets) p.sending(o);
    try {
      // The state the offsets stand for is written first: a new owner must never find offsets
      // committed past the state it would start from.
      const state = checkpoints?.prepare(commits);
      if (this.opts.transactional) {
        const stillOwned = ownership
          ? () => commits.every((c) => ownership.committable(c.topic, c.partition))
          : undefined;
        await this.opts.transactional.commit(this.cfg.groupId, commits, state, stillOwned);
      } else {
        if (state) await checkpoints!.write(state);
        const sentAt = Date.now();
        await this.consumer.commitOffsets(commits);
        // The group checks the commit's generation and member id: the membership held when it was sent.
        if (commits.length > 0) ownership?.confirmed(sentAt);
      }
      state?.written();
      for (const { p, o } of offsets) p.committed(o);
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

  private async connectedAdmin(): Promise<Admin | undefined> {
    if (!this.admin) return undefined;
    this.adminConnected ??= this.admin.connect();
    await this.adminConnected;
    return this.admin;
  }

  /** Reads a newly owned partition's committed offset and metadata: where to rebuild from, what was dead-lettered. */
  private async setUp(topic: string, partition: number): Promise<PartitionSetup> {
    const { scans } = this;
    const admin = await this.connectedAdmin();
    if (!admin) return {};
    const [res] = await admin.fetchOffsets({ groupId: this.cfg.groupId, topics: [topic] });
    const part = res?.partitions.find((x) => x.partition === partition);
    const committed = Number(part?.offset ?? -1);
    if (this.opts.checkpoints && part && committed >= 0)
      await this.opts.checkpoints.restore(topic, partition, committed);
    if (!part || committed < 0 || !part.metadata) return { committed };
    const meta = commitMetadata(part.metadata);
    if (meta === undefined) return { committed }; // metadata written by another tool
    const found: PartitionSetup = { committed };
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
      // Begun before the tracker can hand out a record: every record of it is read under this assignment.
      this.opts.ownership?.begin(topic, partition, this.seq);
      p = new PartitionTracker(topic, partition, this.log, () => this.setUp(topic, partition));
      this.partitions.set(k, p);
    }
    return p;
  }

  /** The partition's assignment ended: what was read under it is void, and the next owner (maybe this one) starts from its committed offset. */
  private drop(k: string, p: PartitionTracker): void {
    this.partitions.delete(k);
    this.checks.delete(k);
    this.opts.ownership?.end(p.topic, p.partition);
    this.opts.transactional?.forget(p.topic, p.partition);
    this.opts.checkpoints?.revoked(p.topic, p.partition);
    this.opts.onRevoked?.(p.topic, p.partition);
  }

  /** A partition kept across a rejoin under a new member id: goes on, or is set up again if someone else committed it meanwhile. */
  private async recheck(k: string, p: PartitionTracker): Promise<void> {
    const { ownership } = this.opts;
    const { moved, committed } = await committedElsewhere(
      await this.connectedAdmin().catch(() => undefined),
      this.cfg.groupId,
      p.topic,
      p.partition,
      p.own,
    );
    if (this.partitions.get(k) !== p) return;
    this.checks.delete(k);
    if (!moved) {
      ownership?.kept(p.topic, p.partition);
      return;
    }
    this.log.info(
      { topic: p.topic, partition: p.partition, committed, own: [...p.own] },
      `${p.name} was committed by another member while this one was out of the group: what was read of it before is void, it is set up again`,
    );
    this.drop(k, p);
    this.tracker(p.topic, p.partition);
  }

  private readonly eachBatch = async (payload: EachBatchPayload): Promise<void> => {
    const { batch, heartbeat, isRunning, isStale } = payload;
    const live = (): boolean => !this.stopped && isRunning() && !isStale();
    const k = partitionKey(batch.topic, batch.partition);
    let p = this.tracker(batch.topic, batch.partition);
    // Setting up can read the dead-letter topic (a consumer of its own joins a group), and a
    // rejoin's check reads the committed offsets: keep heartbeating meanwhile, or a short session
    // would expire. A check can replace the tracker.
    for (let wait = this.checks.get(k) ?? (p.ready ? undefined : p.setup); wait;) {
      const ready = await Promise.race([
        wait.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), this.heartbeatMs)),
      ]);
      if (!ready) {
        await heartbeat();
        if (!live()) return;
        continue;
      }
      p = this.tracker(batch.topic, batch.partition);
      wait = this.checks.get(k) ?? (p.ready ? undefined : p.setup);
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
      // Only a full runner costs a wait: the steady path awaits nothing per record.
      const full = this.opts.flow?.ready();
      if (full !== undefined && !(await this.waitForRoom(payload, live, full))) return;
      this.emit(p, m);
      payload.resolveOffset(m.offset);
    }
    const lag = Number(batch.offsetLag());
    if (Number.isFinite(lag)) this.opts.onLag?.(batch.topic, batch.partition, lag);
    await heartbeat();
    void this.commit();
  };

  /** Waits while more records are in flight than the runner allows, heartbeating; false when the batch is to end. */
  private async waitForRoom(payload: EachBatchPayload, live: () => boolean, first: Promise<void>): Promise<boolean> {
    for (let wait: Promise<void> | undefined = first; wait; wait = this.opts.flow?.ready()) {
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

  private onGroupJoin(memberAssignment: Record<string, number[]>, memberId: string): void {
    this.scans?.reset();
    this.opts.checkpoints?.rejoined();
    const { ownership } = this.opts;
    if (this.membership) ownership?.confirmed(this.membership.joined());
    // Another member id: the group dropped this instance and it joined again; the partitions it
    // is given back may have been read and committed by another member meanwhile.
    const rejoined = this.memberId !== undefined && memberId !== this.memberId;
    this.memberId = memberId;
    const assigned = Object.entries(memberAssignment).map(([topic, partitions]) => ({ topic, partitions }));
    const keep = new Set(assigned.flatMap((a) => a.partitions.map((pt) => partitionKey(a.topic, pt))));
    for (const [k, p] of this.partitions) {
      if (!keep.has(k)) this.drop(k, p);
      else if (rejoined && !this.checks.has(k)) {
        ownership?.check(p.topic, p.partition);
        this.checks.set(k, this.recheck(k, p));
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
    if (this.opts.ownership) this.membership = watchMembership(consumer, this.opts.ownership);
    consumer.on(consumer.events.GROUP_JOIN, (e) =>
      this.onGroupJoin(e.payload.memberAssignment as Record<string, number[]>, e.payload.memberId),
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
