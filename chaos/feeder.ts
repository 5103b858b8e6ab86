// The simulator feeding a topic at a wall-clock pace, as a fleet would: the same seed gives the
// same readings. A send that fails (the broker is down) is retried until it succeeds, so the
// feed goes on through faults; a send that failed after the broker wrote it leaves a copy in the
// input, which the fault-free run reads too (it compares on the same topic).
import { Kafka, logLevel, Partitioners, type Message, type Producer } from 'kafkajs';
import { configSchema, simulatorSettings } from '../src/config/schema.js';
import { Simulator } from '../src/sources/simulator.js';

export interface FeedOptions {
  brokers: string[];
  topic: string;
  sensors: number;
  rateHz: number;
  seed: number;
  /** Event time of the first reading. */
  startMs: number;
  /** Event-time seconds at the start with no injected anomaly. */
  quietSeconds: number;
  /** Every this many ticks one malformed record goes in too (0 = none), so the DLQ path is under fault as well. */
  badEvery: number;
}

const BATCH = 2_000;
const RETRY_MS = 500;

export class Feeder {
  /** Records handed to the broker (acknowledged). */
  sent = 0;
  /** Failed sends that were retried. */
  retries = 0;
  private readonly sim: Simulator;
  private readonly queue: Message[] = [];
  private producer: Producer | undefined;
  private readonly kafka: Kafka;
  private ticks = 0;
  private bad = 0;
  private pacing: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly o: FeedOptions) {
    const cfg = configSchema.parse({
      simulator: { sensors: o.sensors, rateHz: o.rateHz, seed: o.seed, speedup: 1, quietSeconds: o.quietSeconds },
    });
    this.sim = new Simulator(simulatorSettings(cfg), o.startMs);
    this.kafka = new Kafka({
      clientId: 'chaos-feeder',
      brokers: o.brokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1_000,
      retry: { retries: 2, initialRetryTime: 200 },
    });
  }

  /** Readings per wall second. */
  get ratePerSecond(): number {
    return this.o.sensors * this.o.rateHz;
  }

  /** Readings generated (sent or not). */
  get offered(): number {
    return this.ticks * this.o.sensors;
  }

  /**
   * Feeds for `durationMs` of wall time (event time advances with it); resolves once all is sent,
   * or with `drain: false` at once, dropping what the broker has not taken yet (a soak that falls
   * behind ends on time).
   */
  async run(durationMs: number, { drain = true }: { drain?: boolean } = {}): Promise<void> {
    const t0 = Date.now();
    const due = Math.floor((durationMs / 1000) * this.o.rateHz);
    await new Promise<void>((resolve) => {
      this.pacing = setInterval(
        () => {
          const behind = Math.min(due, Math.floor(((Date.now() - t0) / 1000) * this.o.rateHz) + 1);
          while (this.ticks < behind && !this.stopped) this.tick();
          this.kick();
          if (this.ticks >= due || this.stopped) {
            clearInterval(this.pacing);
            resolve();
          }
        },
        Math.max(20, 1000 / this.o.rateHz),
      );
    });
    if (!drain) this.stopped = true;
    while ((this.queue.length > 0 && !this.stopped) || this.sending) {
      this.kick();
      await this.sending;
    }
    await this.producer?.disconnect().catch(() => {});
  }

  stop(): void {
    this.stopped = true;
  }

  private tick(): void {
    for (const rec of this.sim.next().records) {
      const fields = rec.fields as { sensor: string; ts: number };
      this.queue.push({
        key: fields.sensor,
        value: typeof rec.raw === 'string' ? rec.raw : Buffer.from(rec.raw),
        timestamp: String(fields.ts),
      });
    }
    this.ticks++;
    if (this.o.badEvery > 0 && this.ticks % this.o.badEvery === 0) {
      this.bad++;
      this.queue.push({ key: 'sensor-1', value: `chaos: not a reading #${this.bad}` });
    }
  }

  private kick(): void {
    if (this.sending || this.queue.length === 0) return;
    this.sending = this.drain().finally(() => (this.sending = undefined));
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.stopped) {
      const messages = this.queue.slice(0, BATCH);
      try {
        this.producer ??= this.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
        await this.producer.connect();
        await this.producer.send({ topic: this.o.topic, messages, acks: -1 });
        this.queue.splice(0, messages.length);
        this.sent += messages.length;
      } catch {
        this.retries++;
        const old = this.producer;
        this.producer = undefined;
        await old?.disconnect().catch(() => {});
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }
}
