import type { Command } from 'commander';
import { ModelRegistry } from '../model/registry.js';
import { topicPatterns } from '../config/kafka.js';
import type { Kafka } from 'kafkajs';
import type { KafkaConfig } from '../config/schema.js';
import { createEngine, liveViewFor, serveMetrics, type Engine } from '../main.js';
import type { Logger } from '../observability/logger.js';
import { createLogger } from '../observability/logger.js';
import { openTextWriter } from '../sinks/fileWriter.js';
import { Health } from '../observability/health.js';
import { metricsSink } from '../sinks/prometheus.js';
import { LabelStore } from '../training/labels.js';
import { Ownerships } from '../pipeline/ownership.js';
import { AemonError } from '../errors.js';
import { commandConfig } from './common.js';
import { inspect } from './inspect.js';
import { createKafka, outputSink, prepareTopics, settleWithin } from './kafka.js';
import { modelsTopicSpec, type ModelTopic } from './model-topic.js';
import { decisionCheckpoints, stateTopicSpec } from './decision-state.js';
import {
  abortOnSignals,
  eventLogSink,
  followLabelTopic,
  followModelsTopic,
  inputSource,
  outputTopics,
  modelPersistence,
  outputTopicLimits,
  startAdmin,
  watchKafkaCodecs,
} from './run-wiring.js';

interface RunFlags {
  config?: string;
  dryRun?: boolean;
  n?: string;
}

/** `run --dry-run`: `aemon inspect` on the first input topic the config names (a pattern names none). */
async function dryRun(flags: RunFlags): Promise<void> {
  const cfg = commandConfig(flags.config, {});
  const topic = topicPatterns(cfg.kafka.topics).find((t): t is string => typeof t === 'string');
  if (topic === undefined)
    throw new AemonError(
      'AEMON_USAGE',
      `kafka.topics names only patterns (${cfg.kafka.topics.join(', ')}): use aemon inspect --kafka-topic <topic>`,
      { stage: 'cli' },
    );
  await inspect({
    ...(flags.config !== undefined ? { config: flags.config } : {}),
    kafkaTopic: topic,
    ...(flags.n !== undefined ? { n: flags.n } : {}),
  });
}

/** The output, labels, models and state topics, created when missing; then the models and labels topics followed. */
async function followFeeds(
  kafka: Kafka,
  kc: KafkaConfig,
  engine: Engine,
  log: Logger,
  persist: Parameters<typeof followModelsTopic>[4],
): Promise<{ models: ModelTopic | undefined; labelFeed: Awaited<ReturnType<typeof followLabelTopic>> }> {
  await prepareTopics(kafka, kc, [
    ...outputTopics(kc),
    kc.labelsTopic,
    modelsTopicSpec(kc.modelsTopic),
    stateTopicSpec(kc.stateTopic),
  ]);
  const models = kc.modelsTopic !== '' ? await followModelsTopic(kafka, kc, engine, log, persist) : undefined;
  const labelFeed = await followLabelTopic(kafka, kc, log, (label) => engine.label(label));
  return { models, labelFeed };
}

async function run(flags: RunFlags): Promise<void> {
  const cfg = commandConfig(flags.config, {});
  const log = createLogger(cfg.log.level);
  const kc = cfg.kafka;
  // model.dir is the service's model registry: each group's current version is loaded at start;
  // a model learned from the bootstrap period is promoted into it (so a restart scores with the
  // same model), and sensors calibrated later are saved into the current version.
  const registry = cfg.model.dir ? new ModelRegistry({ root: cfg.model.dir, keep: cfg.model.keep, log }) : undefined;
  const { persist, saved } = modelPersistence(registry, log, (group) =>
    engine.trainer.models().find((b) => b.metadata.group === group),
  );
  const labels = new LabelStore();
  // Set once the models topic is followed (before any reading is scored, so before any promotion).
  let models: ModelTopic | undefined;
  const engine = await createEngine(cfg, {
    mode: 'live',
    log,
    labels,
    ownership: new Ownerships(kc.sessionTimeoutMs),
    ...(registry ? { models: registry } : {}),
    hooks: {
      onTrained: (bundle) => {
        void persist(bundle.metadata.group, 'promote');
        void models?.sync.publish(bundle);
      },
      // A promoted retraining becomes the registry's current version, so a restart scores with it,
      // and goes to the models topic, so the other instances score with it too.
      onPromoted: (bundle) => {
        void persist(bundle.metadata.group, 'promote', { reason: 'retrained', gate: bundle.metadata.gate });
        void models?.sync.publish(bundle);
      },
      onSensorCalibrated: (_sensor, group) => void persist(group, 'update'),
    },
  });
  const kafka = createKafka(kc, log);
  const feeds = await followFeeds(kafka, kc, engine, log, persist);
  if (feeds.models) models = feeds.models;
  const { labelFeed } = feeds;

  const limits = await outputTopicLimits(kafka, kc, log);
  const health = new Health(kc.stallAfterMs);
  engine.metrics.healthAtScrape(health, ['kafka']);
  watchKafkaCodecs(engine, health, log);
  const fallback = kc.dlqFallbackFile !== '' ? openTextWriter(kc.dlqFallbackFile, { append: true }) : undefined;

  const view = liveViewFor(engine);
  const server = await serveMetrics(engine, log, view.routes, health);
  const admin = await startAdmin({
    cfg,
    engine,
    log,
    registry,
    publish: (bundle) => void models?.sync.publish(bundle),
  });
  const { metrics } = engine;
  const output = outputSink(kafka, kc, { limits, log, health, metrics, ...(fallback ? { fallback } : {}) });
  // A new owner of a partition decides on from the state its offsets were committed with.
  const checkpoints =
    kc.stateTopic !== ''
      ? decisionCheckpoints({ kafka, kc, detection: cfg.detection, detector: engine.detector, log, metrics })
      : undefined;
  const source = inputSource(kafka, cfg, engine, log, health, output.transactional, checkpoints);

  log.info(
    { brokers: kc.brokers, topics: kc.topics, group: kc.groupId, metrics: server?.url },
    `aemon run: consuming ${kc.topics.join(', ')} as group ${kc.groupId}; anomalies → ${kc.anomaliesTopic}` +
      (server ? `; metrics on ${server.url}/metrics, live view on ${server.url}/` : ''),
  );
  const abort = abortOnSignals(kc, log);
  try {
    const stats = await engine.run(
      source.records$,
      [metricsSink(metrics), view.sink, output.sink, eventLogSink(log)],
      abort.signal,
    );
    await source.close();
    log.info(
      { stats },
      `stopped after ${stats.records} records (${stats.windowsScored} windows scored, ${stats.anomaliesOpened} anomalies opened)`,
    );
  } finally {
    await source.close().catch(() => undefined);
    await output.release();
    await checkpoints?.close();
    // The labels feed holds nothing to flush: a few seconds and no more.
    await settleWithin(labelFeed.stop());
    await models?.stopFollowing();
    await engine.trainer.idle();
    await saved();
    await models?.close();
    await fallback
      ?.close()
      .catch((err: unknown) => log.error({ err }, `cannot close ${kc.dlqFallbackFile}: ${(err as Error).message}`));
    view.close();
    await server?.close();
    await admin?.close();
    // Everything is written and committed; a kafkajs reconnect timer must not keep us alive.
    setTimeout(() => process.exit(process.exitCode ?? 0), 2_000).unref();
  }
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description(
      'the service: consume readings from Kafka as a consumer group, score them, publish anomalies, serve /metrics and the live view (/)',
    )
    .option(
      '-c, --config <file>',
      'config file (YAML or JSON); every setting also as AEMON_* env, e.g. AEMON_KAFKA_BROKERS',
    )
    .option(
      '--dry-run',
      'consume nothing: show how the first records of the first input topic are read (as aemon inspect --kafka-topic does) and exit',
    )
    .option('-n <count>', 'with --dry-run: records to read (default 20)')
    .addHelpText(
      'after',
      "\nWithout model.dir, aemon learns from each sensor's first training.bootstrapReadings readings (as the demo does).\n" +
        "With model.dir (a model registry, see `aemon models --help`) it loads each group's current version, verifying checksums,\n" +
        'and promotes the model it learns into it.\n' +
        'admin.enabled with admin.token (AEMON_ADMIN_TOKEN) opens the admin port: POST /labels, POST /suppress, POST /events/{id}/feedback, GET /models, POST /models/rollback, GET /healthz.\n' +
        'Every instance follows kafka.modelsTopic (aemon.models, compacted) and scores with the latest model published there;\n' +
        'an instance that retrains (training.intervalMs or training.afterWindows) publishes the models it promotes.\n' +
        'Offsets are committed only after every output of a reading (score, anomaly event, DLQ record) is written;\n' +
        'with kafka.exactlyOnce they are committed in one Kafka transaction with those outputs.\n' +
        'SIGTERM/SIGINT drain in-flight readings, commit and leave the group within kafka.shutdownTimeoutMs.\n' +
        'A model that cannot be trained stops the service with AEMON_TRAINING and exit code 1.\n' +
        'Under a supervisor (systemd, Docker, Kubernetes) start the `aemon` command itself (npm install -g aemon, or\n' +
        'node_modules/.bin/aemon) or `node dist/cli/index.js run`, not npx or npm run: they do not pass SIGTERM on.\n\n' +
        'Example:\n  AEMON_KAFKA_BROKERS=127.0.0.1:9092 AEMON_KAFKA_TOPICS=demo.sensors aemon run\n',
    )
    .action(async (flags: RunFlags) => (flags.dryRun ? dryRun(flags) : run(flags)));
}
