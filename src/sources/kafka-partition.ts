import type { Logger } from '../observability/logger.js';
import { PartitionOffsets } from './offsets.js';

/**
 * Where a partition this instance owns stands:
 * - `settingUp`: reading its committed offset, rebuild point and dead-lettered records;
 * - `toSeek`: a rebuild point was found; the seek is made from inside the first batch, because
 *   seeking during the group join races kafkajs' own offset reset;
 * - `seeking`: sought back to `from`, waiting for a batch that starts there (batches fetched
 *   before the seek are skipped, `skipped` counts them);
 * - `rebuilding`: handing out records before the committed offset, replay-only;
 * - `live`: handing out new records.
 */
export type PartitionPhase =
  | { kind: 'settingUp' }
  | { kind: 'toSeek'; from: number }
  | { kind: 'seeking'; from: number; skipped: number }
  | { kind: 'rebuilding' }
  | { kind: 'live' };

/** What setting a partition up found. */
export interface PartitionSetup {
  /** The committed offset and the rebuild point before it (only with both, windows are rebuilt). */
  rebuild?: { committed: number; from: number };
  /** Offsets at or past the committed one that an earlier owner dead-lettered already. */
  deadLettered?: Set<number>;
  /** The partition's committed offset when it was set up (-1: none). */
  committed?: number;
}

/** What to do with a batch, decided before its records are looked at. */
export type BatchStart = { kind: 'process' } | { kind: 'seek'; offset: number };

/** After a seek, this many batches from past the rebuild point are skipped before the rebuild is given up. */
const MAX_SKIPPED = 50;

/** aemon's commit metadata (`rebuildFrom`, `dlqSince`), or undefined when another tool wrote it. */
export function commitMetadata(
  text: string | null | undefined,
): { rebuildFrom?: unknown; dlqSince?: unknown } | undefined {
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

/**
 * Commit metadata: where a new owner of the partition starts rebuilding windows, i.e. the oldest
 * of the last `readings` offsets *before the committed one* of every key heard from within
 * `maxGapMs`. Records after the committed offset (still in the reorder buffer or in flight) are
 * read again anyway, so they do not count. Prunes what no future commit can need.
 */
export function rebuildPoint(
  state: { keys: Map<string, { offsets: number[]; lastTs: number }>; maxTs: number },
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

/** One owned partition: its phase, its offsets in flight, and what the next commit records. */
export class PartitionTracker {
  phase: PartitionPhase = { kind: 'settingUp' };
  readonly offsets = new PartitionOffsets();
  /** Last offsets and record time per key, for the rebuild point. */
  readonly keys = new Map<string, { offsets: number[]; lastTs: number }>();
  maxTs = -Infinity;
  /**
   * Committed offsets that are this owner's: the one found at set-up, the last one committed and
   * those sent since (a commit whose answer was lost may have landed). Another offset committed
   * means another member read the partition meanwhile.
   */
  readonly own = new Set<number>();
  /** Resolves once set up (whatever setting up found, or failed to find). */
  readonly setup: Promise<void>;
  /** Records before this offset are replay-only: their outputs were written by an earlier owner. */
  private replayBefore: number | undefined;
  /**
   * One past the highest offset emitted. kafkajs fetches records again that were emitted already
   * when it restarts a crashed consumer (from the committed offset) or resets an out-of-range
   * fetch (to the earliest offset, e.g. right after a broker restart); those copies are skipped:
   * the first copy is in flight or done, and its ack covers the offset.
   */
  private next: number | undefined;
  /** Records skipped as already emitted, for the next log line. */
  private reread = 0;
  private deadLettered: Set<number> | undefined;

  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly log: Logger,
    setUp: () => Promise<PartitionSetup>,
  ) {
    this.setup = setUp().then(
      (found) => this.settle(found),
      (err: unknown) => {
        log.warn(
          { err },
          `cannot read the rebuild point of ${topic}[${partition}]; windows start empty: ${(err as Error).message}`,
        );
        this.phase = { kind: 'live' };
      },
    );
  }

  get name(): string {
    return `${this.topic}[${this.partition}]`;
  }

  get ready(): boolean {
    return this.phase.kind !== 'settingUp';
  }

  /** A commit of `offset` is being sent. */
  sending(offset: number): void {
    this.own.add(offset);
  }

  /** A commit of `offset` was answered without error. */
  committed(offset: number): void {
    this.offsets.committed(offset);
    this.own.clear();
    this.own.add(offset);
  }

  private settle(found: PartitionSetup): void {
    if (found.committed !== undefined) this.own.add(found.committed);
    if (found.deadLettered && found.deadLettered.size > 0) this.deadLettered = found.deadLettered;
    if (!found.rebuild) {
      this.phase = { kind: 'live' };
      return;
    }
    this.replayBefore = found.rebuild.committed;
    // What was committed stays committed: acks of replayed records must not move it back.
    this.offsets.committed(found.rebuild.committed);
    this.phase = { kind: 'toSeek', from: found.rebuild.from };
  }

  /** Called with a batch's first offset: seek (and drop the batch) or process it. */
  startBatch(first: number | undefined): BatchStart {
    const ph = this.phase;
    if (ph.kind === 'toSeek') {
      this.phase = { kind: 'seeking', from: ph.from, skipped: 0 };
      this.log.info(
        { topic: this.topic, partition: this.partition, from: ph.from, committed: this.replayBefore },
        `rebuilding windows of ${this.name} from offset ${ph.from} (committed ${this.replayBefore})`,
      );
      return { kind: 'seek', offset: ph.from };
    }
    if (ph.kind !== 'seeking') return { kind: 'process' };
    if (first !== undefined && first >= this.replayBefore! && ++ph.skipped <= MAX_SKIPPED) {
      // Fetched before the seek took effect, or the seek was lost: kafkajs keeps a seek in the
      // offset manager of the current group generation, and a rebalance right after it (as when
      // another member leaves) starts a new one from the committed offset. Seek again.
      this.log.debug(
        { topic: this.topic, partition: this.partition, first, replayBefore: this.replayBefore },
        'a batch from after the rebuild point: seeking again',
      );
      return { kind: 'seek', offset: ph.from };
    }
    // Either the batch starts at the rebuild point, or kafkajs did not honour the seek 50 times
    // (e.g. it reset an out-of-range fetch): then go on without a rebuild rather than stall.
    if (ph.skipped > MAX_SKIPPED)
      this.log.warn(
        { topic: this.topic, partition: this.partition },
        `rebuild of ${this.name} skipped: the seek was not honoured; windows start empty`,
      );
    this.phase = { kind: 'rebuilding' };
    return { kind: 'process' };
  }

  /** True for a record emitted already (see `next`): it is skipped, its first copy's ack covers it. */
  isReread(offset: number): boolean {
    if (this.next === undefined || offset >= this.next) return false;
    this.reread++;
    return true;
  }

  /**
   * Records a record as handed out; says whether it is replay-only and whether an earlier owner
   * dead-lettered it already.
   */
  emit(
    offset: number,
    ts: number,
    key: string | undefined,
    arrivedAt: number,
    ringSize: number,
  ): { replayOnly: boolean; deadLettered: boolean } {
    if (this.reread > 0) {
      this.log.info(
        { topic: this.topic, partition: this.partition, skipped: this.reread },
        `${this.name}: skipped ${this.reread} records kafkajs fetched again (already read)`,
      );
      this.reread = 0;
    }
    this.next = offset + 1;
    this.offsets.emitted(offset, arrivedAt);
    if (ringSize > 0) {
      const k = key ?? '';
      let ring = this.keys.get(k);
      if (!ring) this.keys.set(k, (ring = { offsets: [], lastTs: ts }));
      // Pruned at commit time (rebuildPoint), when it is known which offsets are committed.
      ring.offsets.push(offset);
      ring.lastTs = ts;
      if (ts > this.maxTs) this.maxTs = ts;
    }
    const replayOnly = this.replayBefore !== undefined && offset < this.replayBefore;
    if (!replayOnly && this.phase.kind === 'rebuilding') this.phase = { kind: 'live' };
    const deadLettered = this.deadLettered?.delete(offset) === true;
    return { replayOnly: replayOnly || deadLettered, deadLettered };
  }
}
