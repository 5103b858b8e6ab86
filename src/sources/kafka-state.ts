import type { Kafka } from 'kafkajs';
import { readRange } from './kafka-range.js';

/** How long a new owner reads the state topic before it goes on without (its decisions then start afresh). */
const STATE_READ_TIMEOUT_MS = 30_000;

/** A record of the state topic: its key and value as text, in the order written. */
export interface StateRecord {
  key: string;
  value: string;
}

/**
 * Reads a compacted state topic whole, once per group generation: partitions set up together
 * (as after a restart) share one read. Read committed, so a state written in a transaction that
 * was aborted is never seen.
 */
export class StateTopicReader {
  private read: Promise<StateRecord[]> | undefined;

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
  ) {}

  /** A new generation: what was read may be stale now. */
  reset(): void {
    this.read = undefined;
  }

  /** Every record of the topic up to its end at the first call of this generation. */
  records(): Promise<StateRecord[]> {
    this.read ??= this.readAll().catch((err: unknown) => {
      this.read = undefined;
      throw err;
    });
    return this.read;
  }

  private readAll(): Promise<StateRecord[]> {
    const out: StateRecord[] = [];
    const read = readRange({ kafka: this.kafka, topic: this.topic, fromMs: 0, toMs: Date.now() + 60_000 }, (_p, m) => {
      if (m.key && m.value) out.push({ key: m.key.toString('utf8'), value: m.value.toString('utf8') });
    });
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        read.stop();
        reject(new Error(`no answer within ${STATE_READ_TIMEOUT_MS / 1000} s`));
      }, STATE_READ_TIMEOUT_MS);
    });
    return Promise.race([read.done.then(() => out), limit]).finally(() => clearTimeout(timer));
  }
}
