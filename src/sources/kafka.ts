import type { Consumer, EachBatchPayload, IHeaders, Kafka } from 'kafkajs';
import { Observable } from 'rxjs';
import type { KafkaConfig } from '../config/schema.js';
import { AemonError } from '../errors.js';
import type { Health } from '../observability/health.js';
import type { Logger } from '../observability/logger.js';
import type { FlowControl, SourceRecord } from '../pipeline/contracts.js';
import { readRange } from './kafka-range.js';
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
}

interface PartitionState {
  topic: string;
  partition: number;
  offsets: PartitionOffsets;
  /** Last offsets and record time per key, for the rebuild point. */
  keys: Map<string, { offsets: number[]; lastTs: number }>;
  maxTs: number;
  /** Set up when assigned: reads the committed offset and its rebuild point, seeks back. */
  setup: Promise<void>;
  ready?: boolean;
  /** Records before this offset are replay-only. */
  replayBefore?: number | undefined;
  /** The rebuild point to seek to, from inside the first batch (seeking during the join races kafkajs' own offset reset). */
  seekTo?: number | undefined;
  /** The rebuild point sought, while awaiting the seek. */
  rebuildFrom?: number | undefined;
  /** After a seek: batches that do not start before `replayBefore` were fetched before it. */
  awaitingSeek?: boolean;
  /** Batches skipped while awaiting the seek. */
  skipped: number;
  /**
   * One past the highest offset emitted. kafkajs fetches records again that were emitted already
   * when it restarts a crashed consumer (from the committed offset) or resets an out-of-range
   * fetch (to the earliest offset, e.g. right after a broker restart); those copies are skipped:
   * the first copy is in flight or done, and its ack covers the offset.
   */
  next?: number | undefined;
  /** Records skipped as already emitted, for the next log line. */
  reread: number;
  /** Offsets at or past the committed one that an earlier owner dead-lettered already. */
  deadLettered?: Set<number>;
}

/**
 * Commit metadata: where a new owner of the partition starts rebuilding windows, i.e. the oldest
 * of the last `readings` offsets *before the committed one* of every key heard from within
 * `maxGapMs`. Records after the committed offset (still in the reorder buffer or in flight) are
 * read again anyway, so they do not count. Prunes what no future commit can need.
 */
export function rebuildPoint(
  state: Pick<PartitionState, 'keys' | 'maxTs'>,
  committed: number,
  readings: number,
  maxGapMs: number,
): number {
  let from = committed;
  for (const [key, k] of state.keys) {
    if (k.lastTs < state.maxTs - maxGapMs) {
      state.keys.delete(key);
      continue;
    }
    let below = 0;
    while (below < k.offsets.length && k.offsets[below]! < committed) below++;
    if (below > readings) k.offsets.splice(0, below - readings);
    if (below > 0 && k.offsets[0]! < from) from = k.offsets[0]!;
  }
  return from;
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

/** How long a new owner looks for records dead-lettered already before it goes on without. */
const DLQ_SCAN_TIMEOUT_MS = 30_000;

/** aemon's commit metadata (`rebuildFrom`, `dlqSince`), or undefined when another tool wrote it. */
function commitMetadata(text: string | null | undefined): { rebuildFrom?: unknown; dlqSince?: unknown } | undefined {
  if (!text) return undefined;
  try {
    const meta: unknown = JSON.parse(text);
    return typeof meta === 'object' && meta !== null
      ? (meta as { rebuildFrom?: unknown; dlqSince?: unknown })
      : undefined;
  } catch {
    return undefined;
  }
}

function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : one.toString();
}

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
    // A member killed without leaving holds a rebalance up to its rebalance timeout (kafkajs:
    // 60 s); tie it to the session timeout so a restarted instance takes over in ~2 sessions.
    rebalanceTimeout: 2 * cfg.sessionTimeoutMs,
    heartbeatInterval: Math.max(500, Math.floor(cfg.sessionTimeoutMs / 10)),
    allowAutoTopicCreation: false,
  });
  const partitions = new Map<string, PartitionState>();
  const admin = opts.rebuild || opts.deadLetters ? opts.kafka.admin() : undefined;
  /** Scans of the dead-letter topic by start time, for this group generation. */
  let scans = new Map<number, Promise<Map<string, Set<number>>>>();
  let adminConnected: Promise<void> | undefined;
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
        if (o === undefined) continue;
        const meta: { rebuildFrom?: number; dlqSince?: number | undefined } = {};
        if (opts.rebuild) meta.rebuildFrom = rebuildPoint(p, o, opts.rebuild.readings, opts.rebuild.maxGapMs);
        if (opts.deadLetters) meta.dlqSince = p.offsets.inFlightSince;
        const metadata = opts.rebuild || opts.deadLetters ? JSON.stringify(meta) : null;
        offsets.push({ topic: p.topic, partition: p.partition, offset: String(o), metadata, p, o });
      }
      if (offsets.length === 0 || !connected) return;
      try {
        await consumer.commitOffsets(
          offsets.map(({ topic, partition, offset, metadata }) => ({ topic, partition, offset, metadata })),
        );
        for (const { p, o } of offsets) p.offsets.committed(o);
        opts.onCommit?.();
      } catch (err) {
        // A commit can fail during a rebalance; the next one (or the new owner) covers it.
        log.warn({ err }, `offset commit failed: ${(err as Error).message}`);
      }
    });
    return committing;
  };

  /** Source offsets per partition found in the dead-letter topic from `since` on. */
  const deadLettered = (since: number): Promise<Map<string, Set<number>>> => {
    let scan = scans.get(since);
    if (!scan) {
      const found = new Map<string, Set<number>>();
      // A little earlier than `since`, for a topic stamped with the broker's clock (LogAppendTime).
      const read = readRange(
        { kafka: opts.kafka, topic: opts.deadLetters!.topic, fromMs: since - 5_000, toMs: Date.now() + 60_000 },
        (_partition, m) => {
          const topic = headerText(m.headers, 'aemon.source.topic');
          const partition = Number(headerText(m.headers, 'aemon.source.partition'));
          const offset = Number(headerText(m.headers, 'aemon.source.offset'));
          if (topic === undefined || !Number.isInteger(partition) || !Number.isInteger(offset)) return;
          const k = key(topic, partition);
          let offsets = found.get(k);
          if (!offsets) found.set(k, (offsets = new Set()));
          offsets.add(offset);
        },
      );
      // A scan that cannot finish (the topic unreadable, a join that never completes) must not
      // hold the partition up: after a while it is given up, at the risk of a duplicate.
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          read.stop();
          reject(new Error(`no answer within ${DLQ_SCAN_TIMEOUT_MS / 1000} s`));
        }, DLQ_SCAN_TIMEOUT_MS);
      });
      scan = Promise.race([read.done.then(() => found), limit]).finally(() => clearTimeout(timer));
      scans.set(since, scan);
    }
    return scan;
  };

  const setupPartition = async (st: PartitionState): Promise<void> => {
    if (!admin) return;
    adminConnected ??= admin.connect();
    await adminConnected;
    const [res] = await admin.fetchOffsets({ groupId: cfg.groupId, topics: [st.topic] });
    const part = res?.partitions.find((x) => x.partition === st.partition);
    const committed = Number(part?.offset ?? -1);
    if (!part || committed < 0 || !part.metadata) return;
    const meta = commitMetadata(part.metadata);
    if (meta === undefined) return; // metadata written by another tool
    if (opts.deadLetters && typeof meta.dlqSince === 'number' && Number.isFinite(meta.dlqSince)) {
      // One scan for every partition of the topic, from the earliest of their times: partitions
      // set up together (as after a restart) share it.
      let since = meta.dlqSince;
      for (const other of res!.partitions) {
        const t = commitMetadata(other.metadata)?.dlqSince;
        if (typeof t === 'number' && Number.isFinite(t) && t < since) since = t;
      }
      try {
        const offsets = [...((await deadLettered(since)).get(key(st.topic, st.partition)) ?? [])].filter(
          (o) => o >= committed,
        );
        if (offsets.length > 0) {
          st.deadLettered = new Set(offsets);
          log.info(
            { topic: st.topic, partition: st.partition, offsets: offsets.length },
            `${st.topic}[${st.partition}]: ${offsets.length} records past the committed offset ${committed} were dead-lettered already; they are not written to ${opts.deadLetters.topic} again`,
          );
        }
      } catch (err) {
        log.warn(
          { err },
          `cannot read ${opts.deadLetters.topic} for records dead-lettered already; some may be dead-lettered twice: ${(err as Error).message}`,
        );
      }
    }
    if (!opts.rebuild) return;
    const from = Number(meta.rebuildFrom);
    if (!Number.isInteger(from) || from < 0 || from >= committed) return;
    st.replayBefore = committed;
    st.seekTo = from;
    // What was committed stays committed: acks of replayed records must not move it back.
    st.offsets.committed(committed);
  };

  const partitionState = (topic: string, partition: number): PartitionState => {
    const k = key(topic, partition);
    let st = partitions.get(k);
    if (!st) {
      st = {
        topic,
        partition,
        offsets: new PartitionOffsets(),
        keys: new Map(),
        maxTs: -Infinity,
        setup: Promise.resolve(),
        skipped: 0,
        reread: 0,
      };
      const s0 = st;
      st.setup = setupPartition(st)
        .catch((err: unknown) => {
          log.warn(
            { err },
            `cannot read the rebuild point of ${topic}[${partition}]; windows start empty: ${(err as Error).message}`,
          );
          s0.awaitingSeek = false;
          s0.seekTo = undefined;
        })
        .then(() => {
          s0.ready = true;
        });
      partitions.set(k, st);
    }
    return st;
  };

  const eachBatch = async ({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> => {
    const p = partitionState(batch.topic, batch.partition);
    // Setting up can read the dead-letter topic (a consumer of its own joins a group): keep
    // heartbeating meanwhile, or a short session would expire.
    for (let ready = p.ready; !ready;) {
      ready = await Promise.race([
        p.setup.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), heartbeatMs)),
      ]);
      if (!ready) {
        await heartbeat();
        if (stopped || !isRunning() || isStale()) return;
      }
    }
    if (p.seekTo !== undefined) {
      p.rebuildFrom = p.seekTo;
      p.seekTo = undefined;
      p.awaitingSeek = true;
      log.info(
        { topic: p.topic, partition: p.partition, from: p.rebuildFrom, committed: p.replayBefore },
        `rebuilding windows of ${p.topic}[${p.partition}] from offset ${p.rebuildFrom} (committed ${p.replayBefore})`,
      );
      consumer.seek({ topic: p.topic, partition: p.partition, offset: String(p.rebuildFrom) });
      return;
    }
    if (p.awaitingSeek) {
      const first = batch.messages[0];
      if (
        first &&
        p.replayBefore !== undefined &&
        p.rebuildFrom !== undefined &&
        Number(first.offset) >= p.replayBefore &&
        ++p.skipped <= 50
      ) {
        // Fetched before the seek took effect, or the seek was lost: kafkajs keeps a seek in the
        // offset manager of the current group generation, and a rebalance right after it (as when
        // another member leaves) starts a new one from the committed offset. Seek again.
        log.debug(
          { topic: p.topic, partition: p.partition, first: first.offset, replayBefore: p.replayBefore },
          'a batch from after the rebuild point: seeking again',
        );
        consumer.seek({ topic: p.topic, partition: p.partition, offset: String(p.rebuildFrom) });
        return;
      }
      // Either the batch starts at the rebuild point, or kafkajs did not honour the seek 50 times
      // (e.g. it reset an out-of-range fetch): then go on without a rebuild rather than stall.
      if (p.skipped > 50)
        log.warn(
          { topic: p.topic, partition: p.partition },
          `rebuild of ${p.topic}[${p.partition}] skipped: the seek was not honoured; windows start empty`,
        );
      p.awaitingSeek = false;
    }
    const offsets = p.offsets;
    const ringSize = opts.rebuild?.readings ?? 0;
    for (const m of batch.messages) {
      if (stopped || !isRunning() || isStale()) break;
      // Stopped: nothing past an unwritten record can be committed, so nothing more is read.
      if (opts.health?.isStopped(batch.topic, batch.partition)) break;
      const offset = Number(m.offset);
      if (p.next !== undefined && offset < p.next) {
        p.reread++;
        resolveOffset(m.offset);
        continue;
      }
      for (let wait = opts.flow?.ready(); wait; wait = opts.flow?.ready()) {
        await Promise.race([wait, new Promise((r) => setTimeout(r, heartbeatMs))]);
        await heartbeat();
        if (stopped || !isRunning() || isStale()) return;
      }
      if (p.reread > 0) {
        log.info(
          { topic: p.topic, partition: p.partition, skipped: p.reread },
          `${p.topic}[${p.partition}]: skipped ${p.reread} records kafkajs fetched again (already read)`,
        );
        p.reread = 0;
      }
      p.next = offset + 1;
      const arrivedAt = Date.now();
      offsets.emitted(offset, arrivedAt);
      const ts = Number(m.timestamp);
      const keyText = m.key ? m.key.toString('utf8') : undefined;
      if (ringSize > 0) {
        const k = keyText ?? '';
        let ring = p.keys.get(k);
        if (!ring) p.keys.set(k, (ring = { offsets: [], lastTs: ts }));
        // Pruned at commit time (rebuildPoint), when it is known which offsets are committed.
        ring.offsets.push(offset);
        ring.lastTs = ts;
        if (ts > p.maxTs) p.maxTs = ts;
      }
      const record: SourceRecord = {
        raw: m.value ?? new Uint8Array(0),
        key: keyText,
        timestamp: ts,
        origin: { source: 'kafka', topic: batch.topic, partition: batch.partition, offset: m.offset },
        arrivedAt,
        seq: seq++,
        ack: () => offsets.ack(offset),
        replayOnly: p.replayBefore !== undefined && offset < p.replayBefore,
      };
      if (p.deadLettered?.delete(offset) === true) {
        record.replayOnly = true;
        record.deadLettered = true;
      }
      subscriberNext?.(record);
      opts.health?.progressed();
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
      scans = new Map();
      const assigned = Object.entries(e.payload.memberAssignment).map(([topic, ps]) => ({
        topic,
        partitions: ps as number[],
      }));
      const keep = new Set(assigned.flatMap((a) => a.partitions.map((pt) => key(a.topic, pt))));
      for (const [k, p] of partitions) {
        if (!keep.has(k)) {
          partitions.delete(k);
          opts.onRevoked?.(p.topic, p.partition);
        }
      }
      for (const a of assigned) for (const pt of a.partitions) partitionState(a.topic, pt);
      log.info(
        { assigned },
        `joined group ${cfg.groupId}: ${assigned.map((a) => `${a.topic}[${a.partitions.join(',')}]`).join(' ')}`,
      );
      opts.health?.assigned(assigned.reduce((n, a) => n + a.partitions.length, 0));
      opts.onRebalance?.(assigned);
    });
    // A fetch that returned (even empty) is progress: an idle topic is not a stalled consumer.
    consumer.on(consumer.events.FETCH, () => opts.health?.progressed());
    opts.health?.onPartitionStopped(({ topic, partition }) => {
      if (connected) consumer.pause([{ topic, partitions: [partition] }]);
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (e.payload.restart) {
        log.warn({ err: e.payload.error }, `kafka consumer crashed, kafkajs restarts it: ${e.payload.error.message}`);
        return;
      }
      subscriber.error(
        new AemonError('AEMON_KAFKA', `kafka consumer stopped: ${e.payload.error.message}`, {
          stage: 'source',
          cause: e.payload.error,
        }),
      );
    });
    (async () => {
      await consumer.connect();
      connected = true;
      await consumer.subscribe({ topics: opts.topics, fromBeginning: cfg.fromBeginning });
      commitTimer = setInterval(() => void commit(), cfg.commitIntervalMs);
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch,
      });
    })().catch((err: unknown) => {
      subscriber.error(
        err instanceof AemonError
          ? err
          : new AemonError('AEMON_KAFKA', `cannot consume from ${cfg.brokers.join(',')}: ${(err as Error).message}`, {
              stage: 'source',
              cause: err,
            }),
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
      if (adminConnected) {
        adminConnected = undefined;
        await admin?.disconnect();
      }
    },
  };
}
