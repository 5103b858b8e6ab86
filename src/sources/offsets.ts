/**
 * Which offsets of a partition may be committed: records are acked out of order (different
 * sensors' windows close at different times), but a commit says "everything before this offset
 * is done", so it may only move past a contiguous run of acked records.
 */
export class PartitionOffsets {
  private readonly order: number[] = [];
  private head = 0;
  private readonly acked = new Set<number>();
  /** The next offset to commit (one past the last contiguous acked record), if any. */
  private committable: number | undefined;
  private lastCommitted: number | undefined;

  emitted(offset: number): void {
    this.order.push(offset);
  }

  ack(offset: number): void {
    this.acked.add(offset);
    while (this.head < this.order.length && this.acked.has(this.order[this.head]!)) {
      const o = this.order[this.head++]!;
      this.acked.delete(o);
      this.committable = o + 1;
    }
    // Compact once the consumed prefix dominates, so memory stays bounded by in-flight records.
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Records emitted and not yet acked. */
  get inFlight(): number {
    return this.order.length - this.head;
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
