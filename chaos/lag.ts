// The consumer group's lag as the broker sees it: end offsets minus committed offsets, sampled
// from outside aemon (an instance that is down exports no metrics).
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type { LagSample } from './recovery.js';

// kafkajs admin calls were seen to hang on a coordinator that is loading: every call is bounded.
const CALL_TIMEOUT_MS = 3_000;

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

export class LagWatch {
  readonly samples: LagSample[] = [];
  private admin: Admin | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly brokers: string[],
    private readonly group: string,
    private readonly topic: string,
    private readonly everyMs = 1_000,
  ) {}

  private client(): Admin {
    this.admin ??= new Kafka({
      clientId: 'chaos-lag',
      brokers: this.brokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1_000,
      requestTimeout: CALL_TIMEOUT_MS,
      retry: { retries: 0 },
    }).admin();
    return this.admin;
  }

  /** End offsets minus committed offsets over the topic's partitions (nothing committed counts as 0). */
  async lag(): Promise<number> {
    const admin = this.client();
    await within(admin.connect(), CALL_TIMEOUT_MS);
    const end = await within(admin.fetchTopicOffsets(this.topic), CALL_TIMEOUT_MS);
    const committed = await within(admin.fetchOffsets({ groupId: this.group, topics: [this.topic] }), CALL_TIMEOUT_MS);
    const parts = committed[0]?.partitions ?? [];
    return end.reduce((sum, p) => {
      const c = Number(parts.find((x) => x.partition === p.partition)?.offset ?? -1);
      return sum + Math.max(0, Number(p.high) - Math.max(0, c));
    }, 0);
  }

  start(): void {
    const tick = async (): Promise<void> => {
      if (this.busy) return;
      this.busy = true;
      const t = Date.now();
      try {
        this.samples.push({ t, lag: await this.lag() });
      } catch {
        this.samples.push({ t, lag: undefined });
        // A broken connection is dropped, so the next sample connects afresh.
        const old = this.admin;
        this.admin = undefined;
        void old?.disconnect().catch(() => {});
      } finally {
        this.busy = false;
      }
    };
    this.timer = setInterval(() => void tick(), this.everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.admin?.disconnect().catch(() => {});
    this.admin = undefined;
  }
}
