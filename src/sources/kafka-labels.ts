import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { Logger } from '../observability/logger.js';

export interface LabelFeed {
  stop(): Promise<void>;
}

/**
 * Follows the labels topic from its beginning under a throw-away group id (every instance needs
 * every label, and labels are few), handing each record's bytes and key to `onRecord`.
 */
export async function followLabels(opts: {
  kafka: Kafka;
  topic: string;
  log: Logger;
  onRecord(raw: Uint8Array, key: string | undefined): void;
}): Promise<LabelFeed> {
  const consumer = opts.kafka.consumer({ groupId: `aemon-labels-${randomUUID()}`, allowAutoTopicCreation: false });
  await consumer.connect();
  await consumer.subscribe({ topics: [opts.topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ message }) =>
      opts.onRecord(message.value ?? new Uint8Array(0), message.key?.toString('utf8')),
  });
  return {
    async stop() {
      await consumer.disconnect();
    },
  };
}
