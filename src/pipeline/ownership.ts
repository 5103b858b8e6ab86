import type { Origin, PipelineOutput } from './contracts.js';

/**
 * Where a record read from a consumer-group partition stands:
 * - `live`: the partition is still this instance's under the assignment the record was read in,
 *   and the group confirmed the membership recently enough that no other member can own it yet;
 * - `pending`: not known for now (the confirmation is older than the session timeout, as after
 *   a stall, or a rejoin under a new member id is being checked): outputs wait;
 * - `ended`: that assignment ended (the partition was revoked, or set up again because another
 *   member committed past this one's offsets); whoever owns the partition now writes its
 *   outputs from the committed offset on, so this instance's are void.
 */
export type OwnershipState = 'live' | 'pending' | 'ended';

/** What the stages ask of a record's ownership (records from no group partition are always `live`). */
export interface OwnershipView {
  /** Of the record the source handed out at `seq` (its position in the source's output) from `origin`. */
  state(origin: Origin, seq: number): OwnershipState;
  /** Counts every ownership that ended so far: a stage keeping state per key re-checks it only when this moved. */
  readonly endings: number;
  /** Settles at the next change: a confirmation, a partition's check done, an ownership begun or ended. */
  changed(): Promise<void>;
}

interface Held {
  /** The first `seq` handed out under this assignment; records before it were read under an earlier one. */
  from: number;
  /** A rejoin is being checked: its records wait. */
  checking: boolean;
}

/**
 * Each assignment of a partition to this instance, as a range of the source's `seq`: an
 * assignment begins at the `seq` of the first record it can hand out, and ends when the
 * partition is revoked or set up again. Beside it, the group membership's lease: the broker
 * drops a member it has not heard from for the session timeout, and no other member can own a
 * partition before that, so a membership confirmed by a request sent at `t` (a heartbeat, a
 * group sync or an offset commit answered without error) holds until `t + leaseMs`.
 */
export class Ownerships implements OwnershipView {
  /** Per topic and partition (no key built per record: every output's records are looked up). */
  private readonly held = new Map<string, Map<number, Held>>();
  private leaseUntil = -Infinity;
  private ended = 0;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly leaseMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get endings(): number {
    return this.ended;
  }

  state(origin: Origin, seq: number): OwnershipState {
    const { topic, partition } = origin;
    if (origin.source !== 'kafka' || topic === undefined || partition === undefined) return 'live';
    const h = this.held.get(topic)?.get(partition);
    if (h === undefined || seq < h.from) return 'ended';
    return h.checking || this.now() >= this.leaseUntil ? 'pending' : 'live';
  }

  /** Whether the partition's acked offsets may be committed now (its current assignment is live). */
  committable(topic: string, partition: number): boolean {
    const h = this.held.get(topic)?.get(partition);
    return h !== undefined && !h.checking && this.now() < this.leaseUntil;
  }

  /** The partition is assigned: records from `fromSeq` on are read under this assignment. */
  begin(topic: string, partition: number, fromSeq: number): void {
    this.end(topic, partition);
    let parts = this.held.get(topic);
    if (!parts) this.held.set(topic, (parts = new Map()));
    parts.set(partition, { from: fromSeq, checking: false });
    this.wake();
  }

  /** The partition's assignment ended: what was read under it is void. */
  end(topic: string, partition: number): void {
    if (!this.held.get(topic)?.delete(partition)) return;
    this.ended++;
    this.wake();
  }

  /** The partition was assigned again after a rejoin under a new member id: its records wait until {@link kept} or {@link end}. */
  check(topic: string, partition: number): void {
    const h = this.held.get(topic)?.get(partition);
    if (h) h.checking = true;
  }

  /** The check found no other member committed the partition meanwhile: the assignment goes on. */
  kept(topic: string, partition: number): void {
    const h = this.held.get(topic)?.get(partition);
    if (h?.checking) {
      h.checking = false;
      this.wake();
    }
  }

  /** The group answered a request of this member sent at `sentAt` without error. */
  confirmed(sentAt: number): void {
    const until = sentAt + this.leaseMs;
    if (until <= this.leaseUntil) return;
    this.leaseUntil = until;
    this.wake();
  }

  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** The records an output stands for: a window's rows' readings, or the rejected record. */
function* recordsOf(o: PipelineOutput): Generator<{ origin: Origin; seq: number }> {
  if (o.kind === 'rejected') yield o;
  else if (o.kind === 'scored') for (const r of o.rows) yield r.reading;
}

/** The worst state among the outputs' records: `ended` over `pending` over `live`. */
function worst(view: OwnershipView, outputs: readonly PipelineOutput[]): OwnershipState {
  let out: OwnershipState = 'live';
  for (const o of outputs)
    for (const r of recordsOf(o)) {
      const s = view.state(r.origin, r.seq);
      if (s === 'ended') return s;
      if (s === 'pending') out = s;
    }
  return out;
}

/**
 * Waits while any output's records are `pending`, then drops what was derived from records read
 * under an ended ownership: their rows and rejections, and the events of windows left with no
 * row. What is dropped is still acked by the caller (it stands for no commit: the tracker it
 * would commit to is gone). Returns the outputs to write and how many records were voided.
 */
export async function ownedOutputs(
  view: OwnershipView,
  outputs: readonly PipelineOutput[],
): Promise<{ outputs: readonly PipelineOutput[]; voided: number }> {
  let state = worst(view, outputs);
  while (state === 'pending') {
    await view.changed();
    state = worst(view, outputs);
  }
  if (state === 'live') return { outputs, voided: 0 };
  const out: PipelineOutput[] = [];
  let voided = 0;
  let lastWindowVoid = false;
  for (const o of outputs) {
    if (o.kind === 'rejected') {
      if (view.state(o.origin, o.seq) === 'ended') voided++;
      else out.push(o);
    } else if (o.kind === 'scored') {
      const rows = o.rows.filter((r) => view.state(r.reading.origin, r.reading.seq) !== 'ended');
      voided += o.rows.length - rows.length;
      lastWindowVoid = rows.length === 0 && o.rows.length > 0;
      if (rows.length > 0) out.push(rows.length === o.rows.length ? o : { ...o, rows });
    } else if (!lastWindowVoid) out.push(o);
  }
  return { outputs: out, voided };
}
