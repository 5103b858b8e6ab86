import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import { kafkaClientOptions } from '../config/kafka.js';
import type { KafkaConfig } from '../config/schema.js';
import { AemonError } from '../errors.js';
import type { Logger } from '../observability/logger.js';

/** A kafkajs client whose own log lines go through aemon's logger (warnings and errors only). */
export function createKafka(cfg: KafkaConfig, log: Logger, clientIdSuffix = ''): Kafka {
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
export async function prepareTopics(kafka: Kafka, cfg: KafkaConfig, topics: readonly string[]): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const missing = [...new Set(topics)].filter((t) => t !== '' && !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({ topics: missing.map((topic) => ({ topic })), waitForLeaders: true });
    }
  } catch (cause) {
    const err = cause as Error;
    const what = err.name === 'KafkaJSSASLAuthenticationError' ? 'authentication failed' : 'cannot reach Kafka';
    throw new AemonError('AEMON_KAFKA', `${what} at ${cfg.brokers.join(',')}: ${err.message}`, { stage: 'startup', cause });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
