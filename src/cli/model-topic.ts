import { hostname } from 'node:os';
import { CompressionTypes, Partitioners, type Kafka, type Producer } from 'kafkajs';
import { compressionType } from '../config/kafka.js';
import type { KafkaConfig } from '../config/schema.js';
import type { Engine } from '../main.js';
import { loadModelRecord, type ModelRecord } from '../model/record.js';
import { MODEL_RECORD_MAX_BYTES, ModelSync } from '../model/sync.js';
import type { Logger } from '../observability/logger.js';
import type { ModelBundle } from '../pipeline/model.js';
import { followCompacted, type CompactedFeed } from '../sources/kafka-models.js';
import { settleWithin } from './kafka.js';

/** How the models topic is created when missing: compacted (the latest model per group stays), one partition. */
export function modelsTopicSpec(topic: string): {
  topic: string;
  numPartitions: number;
  configEntries: Array<{ name: string; value: string }>;
} {
  return {
    topic,
    numPartitions: 1,
    configEntries: [
      { name: 'cleanup.policy', value: 'compact' },
      { name: 'max.message.bytes', value: String(MODEL_RECORD_MAX_BYTES) },
    ],
  };
}

export interface ModelTopic {
  sync: ModelSync;
  /** Stops following the topic (first at shutdown: nothing is swapped in after the stream ended). */
  stopFollowing(): Promise<void>;
  /** Waits for publications in progress, then disconnects the producer. */
  close(): Promise<void>;
}

/**
 * The models topic of `aemon run`: publishes through its own producer (acks = all, gzip) and
 * follows the topic; resolves once the records already there are applied, so a starting
 * instance scores with the group's published models from its first reading.
 */
export async function startModelTopic(args: {
  kafka: Kafka;
  kc: KafkaConfig;
  engine: Engine;
  log: Logger;
  adopt(bundle: ModelBundle, record: ModelRecord): Promise<void>;
}): Promise<ModelTopic> {
  const { kafka, kc, engine, log } = args;
  const topic = kc.modelsTopic;
  const producer: Producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  let connected: Promise<void> | undefined;
  // A model record is megabytes of JSON numbers: gzip unless another codec is configured.
  const compression = kc.compression === 'none' ? CompressionTypes.GZIP : compressionType(kc.compression);
  const sync = new ModelSync({
    topic,
    log,
    publishing: engine.retrainer !== undefined,
    origin: `${hostname()}/${process.pid}`,
    current: (group) => engine.trainer.models().find((b) => b.metadata.group === group),
    load: (record) => loadModelRecord(record, engine.tf, engine.backend, engine.cfg.model),
    adopt: args.adopt,
    send: async (message) => {
      connected ??= producer.connect();
      await connected;
      await producer.send({ topic, messages: [message], acks: -1, compression });
    },
    count: (result) => engine.metrics.modelRecord(result),
  });
  const feed: CompactedFeed = await followCompacted({
    kafka,
    topic,
    log,
    maxBytes: MODEL_RECORD_MAX_BYTES,
    onRecord: async (raw, key) => void (await sync.receive(raw, key)),
  });
  await feed.caughtUp;
  await sync.announce(engine.trainer.models());
  return {
    sync,
    stopFollowing: async () => void (await settleWithin(feed.stop())),
    async close() {
      await settleWithin(sync.idle());
      if (connected) await settleWithin(producer.disconnect());
    },
  };
}
