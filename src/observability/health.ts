/**
 * What `/readyz` reports besides "a model scores": a sink retrying a failed write, a partition
 * stopped because a record derived from it could not be written anywhere, and a consumer that
 * has neither fetched nor handed out a record for longer than `kafka.stallAfterMs`. Stages report
 * here (it is observability, so every stage may import it); the HTTP server reads it.
 */
export interface PartitionRef {
  topic: string;
  partition: number;
}

export class Health {
  private readonly failing = new Map<string, string>();
  private readonly stopped = new Map<string, { ref: PartitionRef; reason: string }>();
  private readonly stopListeners: Array<(ref: PartitionRef, reason: string) => void> = [];
  private readonly checks: Array<() => string | undefined> = [];
  private lastProgress: number;
  private activePartitions = 0;

  constructor(
    private readonly stallAfterMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.lastProgress = now();
  }

  /** A sink's write failed and is being retried (commits wait meanwhile). */
  sinkFailing(sink: string, reason: string): void {
    this.failing.set(sink, reason);
  }

  sinkRecovered(sink: string): void {
    this.failing.delete(sink);
  }

  isSinkFailing(sink: string): boolean {
    return this.failing.has(sink);
  }

  /**
   * Stops a partition: its commits cannot pass a record that was not written, so the source
   * stops fetching it (the rest go on). It stays stopped until the process restarts.
   */
  stopPartition(ref: PartitionRef, reason: string): void {
    const k = `${ref.topic}[${ref.partition}]`;
    if (this.stopped.has(k)) return;
    this.stopped.set(k, { ref: { ...ref }, reason });
    for (const l of this.stopListeners) l(ref, reason);
  }

  onPartitionStopped(listener: (ref: PartitionRef, reason: string) => void): void {
    this.stopListeners.push(listener);
    for (const { ref, reason } of this.stopped.values()) listener(ref, reason);
  }

  isStopped(topic: string, partition: number): boolean {
    return this.stopped.has(`${topic}[${partition}]`);
  }

  get stoppedPartitions(): number {
    return this.stopped.size;
  }

  /** The consumer fetched, or handed out a record: it is alive. */
  progressed(): void {
    this.lastProgress = this.now();
  }

  /** Partitions this consumer owns and fetches (assigned, not stopped); a stall counts only with some. */
  assigned(partitions: number): void {
    if (this.activePartitions === 0 && partitions > 0) this.lastProgress = this.now();
    this.activePartitions = partitions;
  }

  /** Milliseconds since the consumer last made progress. */
  sinceProgressMs(): number {
    return this.now() - this.lastProgress;
  }

  /** A check of a stage's own (e.g. the Kafka codecs): a reason not to be ready, or undefined. */
  watch(check: () => string | undefined): void {
    this.checks.push(check);
  }

  /** Why the instance is not ready; empty when it is. */
  problems(): string[] {
    const out: string[] = [];
    for (const [sink, reason] of this.failing) out.push(`sink ${sink} failing, retrying: ${reason}`);
    for (const [k, { reason }] of this.stopped) out.push(`partition ${k} stopped: ${reason}`);
    const fetching = this.activePartitions - this.stopped.size;
    const idle = this.sinceProgressMs();
    if (fetching > 0 && idle > this.stallAfterMs)
      out.push(`consumer stalled: no fetch for ${Math.round(idle / 1000)} s (kafka.stallAfterMs ${this.stallAfterMs})`);
    for (const check of this.checks) {
      const reason = check();
      if (reason !== undefined) out.push(reason);
    }
    return out;
  }
}
