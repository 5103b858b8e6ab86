import type { Kafka } from 'kafkajs';
import { startAdminServer } from '../admin/server.js';
import { topicPatterns } from '../config/kafka.js';
import type { Config, KafkaConfig } from '../config/schema.js';
import { adminAlarmRoutes, type Engine } from '../main.js';
import { loadModelFolder } from '../model/io.js';
import type { ModelRegistry } from '../model/registry.js';
import type { Health } from '../observability/health.js';
import type { HttpServer } from '../observability/http.js';
import type { Logger } from '../observability/logger.js';
import type { DecisionCheckpoints, PipelineOutput, Sink, TransactionalCommit } from '../pipeline/contracts.js';
import type { ModelBundle } from '../pipeline/model.js';
import { formatEvent } from '../sinks/console.js';
import { readTopicLimits } from '../sinks/kafka-size.js';
import { installKafkaCodecs } from '../sources/codecs.js';
import { kafkaSource } from '../sources/kafka.js';
import { followLabels, type LabelFeed } from '../sources/kafka-labels.js';
import type { Label, MaintenanceLabel } from '../training/labels.js';
import { startModelTopic, type ModelTopic } from './model-topic.js';
import { parseLabel } from '../training/labels.js';

/** The parts of `aemon run` that are wired one by one (src/cli/run.ts puts them together). */

export interface Persistence {
  /**
   * Saves the group's model in use into the registry (`promote`: a new current version;
   * `update`: sensors calibrated into the current one), after the saves before it.
   */
  persist(group: string, how: 'promote' | 'update', info?: { reason: string; gate?: unknown }): Promise<void>;
  /** Settles when every save so far is done. */
  saved(): Promise<void>;
}

/**
 * Saves to model.dir's registry, one after another; without a registry it does nothing. An
 * `update` asked for while one of the same group waits to start is that one: it saves the
 * group's model as it is when it starts, so every calibration before then is in it. (A fleet of
 * new sensors calibrates thousands in a minute, and each save writes every sensor's calibration.)
 */
export function modelPersistence(
  registry: ModelRegistry | undefined,
  log: Logger,
  current: (group: string) => ModelBundle | undefined,
): Persistence {
  let saving = Promise.resolve();
  /** Groups with an `update` queued that has not started yet. */
  const waiting = new Set<string>();
  return {
    persist(group, how, info = { reason: 'bootstrap' }) {
      if (!registry) return saving;
      if (how === 'update') {
        if (waiting.has(group)) return saving;
        waiting.add(group);
      }
      saving = saving.then(async () => {
        if (how === 'update') waiting.delete(group);
        const bundle = current(group);
        if (!bundle) return;
        try {
          const entry = how === 'promote' ? await registry.promote(bundle, info) : await registry.update(bundle);
          log.info(
            { dir: entry.dir, version: entry.version, sensors: entry.sensors },
            `saved model ${entry.version} to ${entry.dir}`,
          );
        } catch (err) {
          log.error(
            { err },
            `cannot save model ${bundle.metadata.version} to ${registry.root}: ${(err as Error).message}`,
          );
        }
      });
      return saving;
    },
    saved: () => saving,
  };
}

/** The topics `aemon run` writes to. */
export function outputTopics(kc: KafkaConfig): string[] {
  return [kc.anomaliesTopic, kc.dlqTopic, kc.scoresTopic];
}

/** Each output topic's max.message.bytes, read once, so produce requests stay under it. */
export async function outputTopicLimits(kafka: Kafka, kc: KafkaConfig, log: Logger): Promise<Map<string, number>> {
  const limitsAdmin = kafka.admin();
  const limits = await (async () => {
    try {
      await limitsAdmin.connect();
      return await readTopicLimits(limitsAdmin, outputTopics(kc), log);
    } finally {
      await limitsAdmin.disconnect().catch(() => undefined);
    }
  })();
  log.info(
    { limits: Object.fromEntries(limits) },
    `output topics' max.message.bytes: ${[...limits].map(([t, b]) => `${t} ${b}`).join(', ')}`,
  );
  return limits;
}

/** The Kafka codecs, with undecompressable batches counted and shown on /readyz. */
export function watchKafkaCodecs(engine: Engine, health: Health, log: Logger): void {
  const codecs = installKafkaCodecs(log);
  codecs.onFailure((f) => engine.metrics.kafkaDecompressError(f.codec));
  health.watch(() => {
    const f = codecs.recentFailure();
    return (
      f &&
      `a ${f.codec} record batch could not be decompressed ${Math.round((Date.now() - f.at) / 1000)} s ago (${f.message}); consuming from its broker waits at it`
    );
  });
}

/**
 * The admin port, if admin.enabled: labels and maintenance spans go to the engine, as do verdicts
 * on events; a rollback swaps the model and `publish`es it.
 */
export async function startAdmin(args: {
  cfg: Readonly<Config>;
  engine: Engine;
  log: Logger;
  registry: ModelRegistry | undefined;
  publish(bundle: ModelBundle): void;
}): Promise<HttpServer | undefined> {
  const { cfg, engine, log, registry } = args;
  const admin = cfg.admin.enabled
    ? await startAdminServer({
        host: cfg.admin.host,
        port: cfg.admin.port,
        token: cfg.admin.token,
        log,
        parseLabel: (raw: string) => parseLabel(raw),
        // Maintenance labels become suppressed spans, the others training labels.
        labels: { add: (label) => engine.label(label) },
        routes: adminAlarmRoutes(engine, log),
        ...(registry ? { models: registry } : {}),
        // The rolled-back version is loaded (checksums verified again) and swapped in.
        onRollback: async (entry) => {
          const bundle = await loadModelFolder(entry.dir, engine.tf, engine.backend, cfg.model);
          engine.swapModel(bundle);
          args.publish(bundle);
        },
      })
    : undefined;
  if (admin)
    log.info(
      { url: admin.url },
      `admin port on ${admin.url} (bearer token required): POST /labels, POST /suppress, POST /events/{id}/feedback, GET /models, POST /models/rollback, GET /healthz`,
    );
  return admin;
}

/**
 * The input topics as a consumer group, reporting to the engine's metrics; with `transactional`
 * (kafka.exactlyOnce) offsets are committed in the output sink's transactions; with `checkpoints`
 * (kafka.stateTopic) the decision state is kept with them.
 */
export function inputSource(
  kafka: Kafka,
  cfg: Readonly<Config>,
  engine: Engine,
  log: Logger,
  health: Health,
  transactional: TransactionalCommit | undefined,
  checkpoints?: DecisionCheckpoints,
) {
  const kc = cfg.kafka;
  const { metrics } = engine;
  return kafkaSource({
    kafka,
    cfg: kc,
    topics: topicPatterns(kc.topics),
    log,
    flow: engine.gate,
    onLag: (t, p, lag) => metrics.kafkaLag(t, p, lag),
    onCommit: () => metrics.kafkaCommit(),
    onRebalance: () => metrics.kafkaRebalance(),
    onRevoked: (t, p) => metrics.forgetKafkaPartition(t, p),
    rebuild: { readings: cfg.windowing.size, maxGapMs: cfg.windowing.maxGapMs },
    // Exactly-once: no record past a committed offset has a visible dead letter, so there is
    // nothing to look for.
    ...(transactional ? { transactional } : { deadLetters: { topic: kc.dlqTopic } }),
    ...(checkpoints ? { checkpoints } : {}),
    health,
    ...(engine.ownership ? { ownership: engine.ownership } : {}),
  });
}

/** Anomaly events as log lines. */
export function eventLogSink(log: Logger): Sink {
  return {
    name: 'event-log',
    async write(outputs: readonly PipelineOutput[]) {
      for (const o of outputs) if (o.kind === 'event') log.info({ event: o.event }, formatEvent(o.event));
    },
    async close() {},
  };
}

/** SIGINT and SIGTERM abort the run; one that does not end within kafka.shutdownTimeoutMs exits anyway. */
export function abortOnSignals(kc: KafkaConfig, log: Logger): AbortController {
  const abort = new AbortController();
  const stop = (signal: string) => (): void => {
    log.info(`${signal}: draining in-flight readings, committing offsets and leaving the group`);
    abort.abort();
    setTimeout(() => {
      log.error(`shutdown took longer than kafka.shutdownTimeoutMs (${kc.shutdownTimeoutMs} ms); exiting anyway`);
      process.exit(1);
    }, kc.shutdownTimeoutMs).unref();
  };
  process.once('SIGINT', stop('SIGINT'));
  process.once('SIGTERM', stop('SIGTERM'));
  return abort;
}

/** Follows kafka.modelsTopic: a published model is swapped in and promoted into the registry as a local promotion is. */
export async function followModelsTopic(
  kafka: Kafka,
  kc: KafkaConfig,
  engine: Engine,
  log: Logger,
  persist: Persistence['persist'],
): Promise<ModelTopic> {
  log.info(
    { topic: kc.modelsTopic, publishing: engine.retrainer !== undefined },
    `following ${kc.modelsTopic} (promoted models)${engine.retrainer ? '; this instance retrains and publishes its promotions' : ''}`,
  );
  return startModelTopic({
    kafka,
    kc,
    engine,
    log,
    // A published model is swapped in and promoted into the registry as a local promotion is.
    adopt: async (bundle, record) => {
      engine.swapModel(bundle);
      await persist(bundle.metadata.group, 'promote', {
        reason: `published by ${record.origin}`,
        ...(bundle.metadata.gate ? { gate: bundle.metadata.gate } : {}),
      });
    },
  });
}

/**
 * Follows kafka.labelsTopic into `add` (the engine's `label`: maintenance spans suppress, the others
 * train); a record that is no label is logged and skipped.
 */
export function followLabelTopic(
  kafka: Kafka,
  kc: KafkaConfig,
  log: Logger,
  add: (label: Label | MaintenanceLabel) => void,
): Promise<LabelFeed> {
  return followLabels({
    kafka,
    topic: kc.labelsTopic,
    log,
    onRecord: (raw, key) => {
      const label = parseLabel(raw, key);
      if ('error' in label) log.warn({ topic: kc.labelsTopic, key }, `ignored a label record: ${label.error}`);
      else {
        add(label);
        log.debug({ label }, `label ${label.label} for ${label.sensor}`);
      }
    },
  });
}
