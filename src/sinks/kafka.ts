import type { Message, Producer, TopicMessages } from 'kafkajs';
import { compressionType } from '../config/kafka.js';
import type { KafkaConfig } from '../config/schema.js';
import type { Health } from '../observability/health.js';
import type { Logger } from '../observability/logger.js';
import type { AemonMetrics } from '../observability/metrics.js';
import type { PipelineOutput, Reading, Rejection, Sink, SinkResult } from '../pipeline/contracts.js';
import type { TextWriter } from './fileWriter.js';
import { anomalyMessage, dlqMessage, scoreMessage } from './kafka-messages.js';
import { batchBudget, chunkMessages, fitDlqMessage, KAFKA_DEFAULT_MAX_BYTES } from './kafka-size.js';
import { fallbackLine } from './kafka-fallback.js';

export { anomalyMessage, dlqMessage, scoreMessage } from './kafka-messages.js';

export interface KafkaSinkOptions {
  /** Each output topic's `max.message.bytes` (see readTopicLimits); Kafka's default for a topic not in it. */
  limits?: ReadonlyMap<string, number>;
  log?: Logger;
  health?: Health;
  metrics?: Pick<AemonMetrics, 'dlqTruncated' | 'sinkRetry' | 'sinkFallback'>;
  /** `kafka.dlqFallbackFile`, opened for appending: where records go that a topic refuses for good. */
  fallback?: TextWriter;
  /** Back-off between retries of a retryable failure: doubles from `initialMs` up to `maxMs`. */
  backoff?: { initialMs: number; maxMs: number };
}

/** A message and the records whose acks wait for it. */
export interface Out {
  topic: string;
  message: Message;
  holds: Array<Reading | Rejection>;
}

/**
 * True unless the broker answered with an error kafkajs marks not retriable (MESSAGE_TOO_LARGE,
 * RECORD_LIST_TOO_LARGE, INVALID_RECORD, TOPIC_AUTHORIZATION_FAILED, …). kafkajs wraps the
 * broker's answer (KafkaJSNumberOfRetriesExceeded is itself "not retriable" even when what it
 * gave up on was a lost connection), so the whole cause chain is looked at.
 */
export function retryableWriteError(err: unknown): boolean {
  const seen = new Set<unknown>();
  const walk = (e: unknown): boolean => {
    if (typeof e !== 'object' || e === null || seen.has(e)) return true;
    seen.add(e);
    const x = e as {
      name?: string;
      type?: unknown;
      retriable?: unknown;
      cause?: unknown;
      originalError?: unknown;
      errors?: unknown;
    };
    if (typeof x.type === 'string' && x.retriable === false) return false;
    if (Array.isArray(x.errors) && !x.errors.every(walk)) return false;
    return walk(x.cause) && walk(x.originalError);
  };
  return walk(err);
}

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Writes anomaly events, scored windows (when `scoresTopic` is set) and rejections to Kafka with
 * acks from all in-sync replicas, compressed with `kafka.compression`; `write` resolves only when the broker has them, so the runner
 * acks (and commits) after that. Each produce request stays under its topics' `max.message.bytes`;
 * a DLQ record too large alone is truncated (headers kept). A retryable failure is retried with
 * back-off until it succeeds, while commits wait and the health says why. A record a topic
 * refuses for good goes to the fallback file, or else its records are held (never acked) and
 * their partitions stopped: the process goes on with the others.
 */
/**
 * A producer that sends a request until it succeeds or fails for good, backing off between
 * attempts and telling health, metrics and the log; it connects on the first send.
 */
class RetryingProducer {
  private connected: Promise<void> | undefined;
  private closed = false;
  private readonly backoff: { initialMs: number; maxMs: number };
  // The budget counts uncompressed bytes: compression only makes a request smaller.
  private readonly compression: ReturnType<typeof compressionType>;

  constructor(
    private readonly producer: Producer,
    cfg: KafkaConfig,
    private readonly opts: KafkaSinkOptions,
  ) {
    this.backoff = opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
    this.compression = compressionType(cfg.compression);
  }

  /** Sends until it succeeds; returns the error of a failure that is not retryable. */
  async send(topicMessages: TopicMessages[]): Promise<unknown> {
    const { producer, backoff, compression } = this;
    const { log, health, metrics } = this.opts;
    for (let attempt = 0; ; attempt++) {
      try {
        this.connected ??= producer.connect().catch((err: unknown) => {
          // A failed connect is tried again on the next attempt.
          this.connected = undefined;
          throw err;
        });
        await this.connected;
        await producer.sendBatch({ topicMessages, acks: -1, compression });
        if (attempt > 0) {
          health?.sinkRecovered('kafka');
          log?.info(
            { attempts: attempt + 1 },
            `kafka write to ${topicMessages.map((t) => t.topic).join(', ')} succeeded after ${attempt + 1} attempts; commits go on`,
          );
        }
        return undefined;
      } catch (err) {
        if (!retryableWriteError(err) || this.closed) return err;
        const wait = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 20));
        const why = `kafka write to ${topicMessages.map((t) => t.topic).join(', ')} failed: ${describe(err)}`;
        health?.sinkFailing('kafka', why);
        metrics?.sinkRetry('kafka');
        log?.warn(
          { err, attempt: attempt + 1, retryInMs: wait },
          `${why}; retrying in ${wait} ms (offsets are not committed past it meanwhile)`,
        );
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.connected) await this.producer.disconnect();
  }
}

export function kafkaSink(producer: Producer, cfg: KafkaConfig, opts: KafkaSinkOptions = {}): Sink {
  const { log, health, metrics } = opts;
  const budget = (topic: string): number => batchBudget(opts.limits?.get(topic) ?? KAFKA_DEFAULT_MAX_BYTES);
  const sender = new RetryingProducer(producer, cfg, opts);
  const send = (topicMessages: TopicMessages[]): Promise<unknown> => sender.send(topicMessages);

  return {
    name: 'kafka',
    async write(outputs: readonly PipelineOutput[]): Promise<SinkResult | undefined> {
      const outs = collect(outputs, cfg);
      if (outs.length === 0) return undefined;
      const rounds = produceRounds(outs, cfg, budget, opts);
      const refused: Array<{ out: Out; err: unknown }> = [];
      for (const round of rounds) {
        const err = await send(
          round.map((chunk) => ({ topic: chunk[0]!.topic, messages: chunk.map((o) => o.message) })),
        );
        if (err === undefined) continue;
        // Refused for good: find which records, one by one (those that were written are then
        // written again, identical; ids are deterministic).
        for (const out of round.flat()) {
          const one = await send([{ topic: out.topic, messages: [out.message] }]);
          if (one !== undefined) refused.push({ out, err: one });
        }
      }
      health?.sinkRecovered('kafka');
      return refused.length === 0 ? undefined : handleRefused(refused);
    },
    async close() {
      await sender.close();
    },
  };

  async function handleRefused(refused: Array<{ out: Out; err: unknown }>): Promise<SinkResult | undefined> {
    const topics = [...new Set(refused.map((r) => r.out.topic))];
    const cause = describe(refused[0]!.err);
    if (opts.fallback) {
      await opts.fallback.write(
        refused.map(({ out, err }) => fallbackLine(out.topic, out.message, describe(err))).join(''),
      );
      for (const t of topics) metrics?.sinkFallback(t, refused.filter((r) => r.out.topic === t).length);
      log?.error(
        { err: refused[0]!.err, records: refused.length, topics },
        `${refused.length} record(s) refused by ${topics.join(', ')} for good (${cause}); written to kafka.dlqFallbackFile ${cfg.dlqFallbackFile}`,
      );
      return undefined;
    }
    const held = new Set<Reading | Rejection>();
    for (const { out } of refused) for (const h of out.holds) held.add(h);
    const parts = new Map<string, { topic: string; partition: number }>();
    for (const h of held) {
      const { topic, partition } = h.origin;
      if (topic !== undefined && partition !== undefined) parts.set(`${topic}[${partition}]`, { topic, partition });
    }
    const reason = `a record for ${topics.join(', ')} was refused for good: ${cause}`;
    log?.error(
      { err: refused[0]!.err, records: refused.length, topics, partitions: [...parts.keys()] },
      `${reason}; no kafka.dlqFallbackFile is set, so partition(s) ${[...parts.keys()].join(', ') || '(none)'} stop here: their offsets are not committed past it, the other partitions go on; fix the cause (or set kafka.dlqFallbackFile) and restart`,
    );
    for (const p of parts.values()) health?.stopPartition(p, reason);
    return { held };
  }
}

/**
 * Groups messages into produce requests: one per round, holding one size-bounded chunk of each
 * topic. A DLQ record too large alone is truncated first (headers kept), and counted.
 */
export function produceRounds(
  outs: readonly Out[],
  cfg: KafkaConfig,
  budget: (topic: string) => number,
  opts: Pick<KafkaSinkOptions, 'log' | 'metrics'>,
): Out[][][] {
  const byTopic = new Map<string, Out[]>();
  let truncated = 0;
  for (const o of outs) {
    if (o.topic === cfg.dlqTopic) {
      const fit = fitDlqMessage(o.message, budget(o.topic));
      if (fit.truncated) {
        truncated++;
        o.message = fit.message;
        opts.log?.warn(
          { origin: o.holds[0]?.origin, size: o.message.headers?.['aemon.original.size'] },
          `a dead-letter record is larger than ${o.topic} accepts; its value is truncated (headers keep the original size and SHA-256)`,
        );
      }
    }
    let list = byTopic.get(o.topic);
    if (!list) byTopic.set(o.topic, (list = []));
    list.push(o);
  }
  if (truncated > 0) opts.metrics?.dlqTruncated(truncated);
  const rounds: Out[][][] = [];
  for (const [topic, list] of byTopic) {
    const index = new Map(list.map((o) => [o.message, o] as const));
    chunkMessages(
      list.map((o) => o.message),
      budget(topic),
    ).forEach((chunk, i) => (rounds[i] ??= []).push(chunk.map((m) => index.get(m)!)));
  }
  return rounds;
}

/** The messages of a batch of outputs, each with the records whose acks wait for it. */
export function collect(outputs: readonly PipelineOutput[], cfg: KafkaConfig): Out[] {
  const outs: Out[] = [];
  const rowsBySensor = new Map<string, Reading[]>();
  const events: Out[] = [];
  for (const o of outputs) {
    if (o.kind === 'rejected') outs.push({ topic: cfg.dlqTopic, message: dlqMessage(o), holds: [o] });
    else if (o.kind === 'scored') {
      const readings = o.rows.map((r) => r.reading);
      const sensor = readings[0]?.sensor;
      if (sensor !== undefined) {
        const list = rowsBySensor.get(sensor) ?? [];
        list.push(...readings);
        rowsBySensor.set(sensor, list);
      }
      if (o.window && cfg.scoresTopic !== '')
        outs.push({
          topic: cfg.scoresTopic,
          message: scoreMessage(o.window, o.rows.at(-1)?.anomaly ?? false),
          holds: readings,
        });
    } else {
      const out: Out = { topic: cfg.anomaliesTopic, message: anomalyMessage(o.event), holds: [] };
      events.push(out);
      outs.push(out);
    }
  }
  // An event comes from its sensor's window in the same batch: those readings wait for it.
  for (const e of events) e.holds = rowsBySensor.get(e.message.key as string) ?? [];
  return outs;
}
