/**
 * Which offsets of a partition may be committed: records are acked out of order (different
 * sensors' windows close at different times), but a commit says "everything before this offset
 * is done", so it may only move past a contiguous run of acked records.
 */
export class PartitionOffsets {
  private readonly order: number[] = [];
  /** When each record of `order` was emitted (ms since epoch). */
  private readonly times: number[] = [];
  private head = 0;
  /**
   * Acks not yet consumed by the head, counted: the same offset can be in flight twice when
   * kafkajs reads records again (a consumer restart or an out-of-range reset re-fetches from the
   * committed offset while the first copies are still in flight), and each copy is acked once.
   */
  private readonly acked = new Map<number, number>();
  /** The next offset to commit (one past the last contiguous acked record), if any. */
  private committable: number | undefined;
  private lastCommitted: number | undefined;

  emitted(offset: number, at = 0): void {
    this.order.push(offset);
    this.times.push(at);
  }

  ack(offset: number): void {
    this.acked.set(offset, (this.acked.get(offset) ?? 0) + 1);
    for (let o = this.order[this.head]; o !== undefined && this.acked.has(o); o = this.order[this.head]) {
      const n = this.acked.get(o)!;
      if (n > 1) this.acked.set(o, n - 1);
      else this.acked.delete(o);
      this.head++;
      // A second copy of a lower offset completes after its first: the commit never moves back.
      if (this.committable === undefined || o + 1 > this.committable) this.committable = o + 1;
    }
    // Compact once the consumed prefix dominates, so memory stays bounded by in-flight records.
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.times.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Records emitted and not yet acked. */
  get inFlight(): number {
    return this.order.length - this.head;
  }

  /**
   * When the oldest record not yet acked was emitted: every output of a record at or past the
   * next commit was written after this time. Undefined when nothing is in flight.
   */
  get inFlightSince(): number | undefined {
    return this.head < this.order.length ? this.times[this.head] : undefined;
  }

  /** The offset to commit now, or undefined when nothing new is committable. */
  toCommit(): number | undefined {
    if (this.committable === undefined) return undefined;
    if (this.lastCommitted !== undefined && this.committable <= this.lastCommitted) return undefined;
    return this.committable;
  }

  committed(offset: number): void {
    this.lastCommitted = offset;
  }
}
