import type { IHeaders, Kafka } from 'kafkajs';
import type { Logger } from '../observability/logger.js';
import { readRange } from './kafka-range.js';

/** How long a new owner looks for records dead-lettered already before it goes on without. */
const DLQ_SCAN_TIMEOUT_MS = 30_000;

function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : one.toString();
}

export const partitionKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/**
 * The start-up scan of the dead-letter topic: a record dead-lettered by an earlier owner of its
 * partition, but not yet committed when that owner died, is read again by the next one; each
 * commit records (as commit metadata) when the oldest record still in flight was read, and a new
 * owner looks in this topic from then on for records dead-lettered from its partitions past the
 * committed offset. Partitions set up together (as after a restart) share one scan.
 */
export class DeadLetterScans {
  /** Scans by start time, for this group generation. */
  private scans = new Map<number, Promise<Map<string, Set<number>>>>();

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
    private readonly log: Logger,
  ) {}

  /** A new group generation: what an earlier scan found may be committed by now. */
  reset(): void {
    this.scans = new Map();
  }

  /**
   * Offsets of `topic[partition]` at or past `committed` found in the dead-letter topic from
   * `since` on; empty when the topic cannot be read in time (then a record may be dead-lettered
   * twice, which is logged).
   */
  async deadLetteredPast(topic: string, partition: number, committed: number, since: number): Promise<Set<number>> {
    try {
      const found = (await this.scan(since)).get(partitionKey(topic, partition)) ?? [];
      const offsets = new Set([...found].filter((o) => o >= committed));
      if (offsets.size > 0)
        this.log.info(
          { topic, partition, offsets: offsets.size },
          `${topic}[${partition}]: ${offsets.size} records past the committed offset ${committed} were dead-lettered already; they are not written to ${this.topic} again`,
        );
      return offsets;
    } catch (err) {
      this.log.warn(
        { err },
        `cannot read ${this.topic} for records dead-lettered already; some may be dead-lettered twice: ${(err as Error).message}`,
      );
      return new Set();
    }
  }

  /** Source offsets per partition found in the dead-letter topic from `since` on. */
  private scan(since: number): Promise<Map<string, Set<number>>> {
    let scan = this.scans.get(since);
    if (scan) return scan;
    const found = new Map<string, Set<number>>();
    // A little earlier than `since`, for a topic stamped with the broker's clock (LogAppendTime).
    const read = readRange(
      { kafka: this.kafka, topic: this.topic, fromMs: since - 5_000, toMs: Date.now() + 60_000 },
      (_partition, m) => {
        const topic = headerText(m.headers, 'aemon.source.topic');
        const partition = Number(headerText(m.headers, 'aemon.source.partition'));
        const offset = Number(headerText(m.headers, 'aemon.source.offset'));
        if (topic === undefined || !Number.isInteger(partition) || !Number.isInteger(offset)) return;
        const k = partitionKey(topic, partition);
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
    this.scans.set(since, scan);
    return scan;
  }
}
