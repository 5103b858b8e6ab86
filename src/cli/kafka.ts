import { hostname } from 'node:os';
import { Kafka, logLevel, Partitioners, type ITopicConfig, type LogEntry } from 'kafkajs';
import { kafkaClientOptions } from '../config/kafka.js';
import type { KafkaConfig } from '../config/schema.js';
import { AemonError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Sink, TransactionalCommit } from '../pipeline/contracts.js';
import { kafkaSink, type KafkaSinkOptions } from '../sinks/kafka.js';
import { transactionalKafkaSink } from '../sinks/kafka-transactional.js';
import { installKafkaCodecs } from '../sources/codecs.js';
import { checkTls } from './tls-check.js';

/**
 * A kafkajs client whose own log lines go through aemon's logger (warnings and errors only), with
 * every Kafka codec registered; `kafka.compression` naming a codec that cannot load is a start-up
 * error.
 */
export function createKafka(cfg: KafkaConfig, log: Logger, clientIdSuffix = ''): Kafka {
  installKafkaCodecs(log).requireForOutput(cfg.compression, 'kafka.compression');
  return new Kafka({
    ...kafkaClientOptions(cfg, clientIdSuffix),
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        if (level <= logLevel.ERROR) log.error({ kafkajs: rest }, `kafkajs: ${message}`);
        else log.warn({ kafkajs: rest }, `kafkajs: ${message}`);
      },
  });
}

/**
 * Connects an admin client once at start-up, so a wrong address or password is one clear error
 * before anything else starts, and creates the output topics aemon writes to when missing.
 */
export async function prepareTopics(
  kafka: Kafka,
  cfg: KafkaConfig,
  topics: readonly (string | ITopicConfig)[],
): Promise<void> {
  const specs = new Map<string, ITopicConfig>();
  for (const t of topics) {
    const spec = typeof t === 'string' ? { topic: t } : t;
    if (spec.topic !== '' && !specs.has(spec.topic)) specs.set(spec.topic, spec);
  }
  await checkTls(cfg);
  const admin = kafka.admin();
  try {
    await admin.connect();
    // Several instances starting together create the same topics: one wins, the others see the
    // topic exist before its metadata reached them (UNKNOWN_TOPIC_OR_PARTITION, "topic already
    // exists"). Those answers settle within moments, so they are retried for a while.
    for (let attempt = 1; ; attempt++) {
      try {
        const existing = new Set(await admin.listTopics());
        const missing = [...specs.values()].filter((t) => !existing.has(t.topic));
        if (missing.length > 0) await admin.createTopics({ topics: missing, waitForLeaders: true });
        return;
      } catch (err) {
        if (attempt >= TOPIC_ATTEMPTS || !settling(err)) throw err;
        await new Promise((r) => setTimeout(r, 250 * attempt));
      }
    }
  } catch (cause) {
    const err = cause as Error;
    const what = err.name === 'KafkaJSSASLAuthenticationError' ? 'authentication failed' : 'cannot reach Kafka';
    throw new AemonError('AEMON_KAFKA', `${what} at ${cfg.brokers.join(',')}: ${err.message}`, {
      stage: 'startup',
      cause,
    });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

const TOPIC_ATTEMPTS = 8;

/** Errors of a topic being created by someone else right now (kafkajs error types). */
function settling(err: unknown): boolean {
  const e = err as { type?: string; errors?: unknown[] };
  if (Array.isArray(e.errors) && e.errors.length > 0) return e.errors.every(settling);
  return ['UNKNOWN_TOPIC_OR_PARTITION', 'TOPIC_ALREADY_EXISTS', 'LEADER_NOT_AVAILABLE'].includes(e.type ?? '');
}

/**
 * Waits for `p` (a kafkajs disconnect, a last send) for a few seconds at most, ignoring its
 * failure: after a broker outage a disconnect can wait on reconnect back-offs, and shutdown must
 * not hang on what holds nothing to flush.
 */
export function settleWithin(p: Promise<unknown>, ms = 3_000): Promise<unknown> {
  return Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, ms).unref())]);
}

/** `kafka.transactionalId`, or by default one per group and host. */
export function transactionalId(cfg: KafkaConfig): string {
  return cfg.transactionalId !== '' ? cfg.transactionalId : `aemon-${cfg.groupId}-${hostname()}`;
}

/**
 * The Kafka output sink `kafka.exactlyOnce` asks for: the transactional one (the source commits
 * through it; `release` after the source closed), or the idempotent one.
 */
export function outputSink(
  kafka: Kafka,
  cfg: KafkaConfig,
  opts: KafkaSinkOptions,
): { sink: Sink; transactional?: TransactionalCommit; release(): Promise<void> } {
  if (cfg.exactlyOnce) {
    const sink = transactionalKafkaSink(cfg, { ...opts, kafka, transactionalId: transactionalId(cfg) });
    return { sink, transactional: sink, release: () => sink.release() };
  }
  // Idempotent: a send retried after a timeout (the broker had written it) is not written
  // twice, so a DLQ or score record appears once per process run.
  // kafkajs retries a send only briefly: the sink retries a retryable failure itself, for as
  // long as it lasts, and says so (/readyz, aemon_sink_write_retries_total, a log line).
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
    retry: { initialRetryTime: 300, retries: 3, maxRetryTime: 3_000 },
  });
  return { sink: kafkaSink(producer, cfg, opts), release: () => Promise.resolve() };
}
