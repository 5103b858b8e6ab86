import type { Command } from 'commander';
import { loadModelFolder } from '../model/io.js';
import { ModelRegistry } from '../model/registry.js';
import { topicPatterns } from '../config/kafka.js';
import { adminAlarmRoutes, createEngine, liveViewFor, serveMetrics } from '../main.js';
import { createLogger } from '../observability/logger.js';
import type { PipelineOutput, Sink } from '../pipeline/contracts.js';
import { formatEvent } from '../sinks/console.js';
import { startAdminServer } from '../admin/server.js';
import { readTopicLimits } from '../sinks/kafka-size.js';
import { openTextWriter } from '../sinks/fileWriter.js';
import { Health } from '../observability/health.js';
import { metricsSink } from '../sinks/prometheus.js';
import { installKafkaCodecs } from '../sources/codecs.js';
import { kafkaSource } from '../sources/kafka.js';
import { followLabels } from '../sources/kafka-labels.js';
import { LabelStore, parseLabel } from '../training/labels.js';
import { AemonError } from '../errors.js';
import { commandConfig } from './common.js';
import { inspect } from './inspect.js';
import { createKafka, outputSink, prepareTopics, settleWithin } from './kafka.js';
import { modelsTopicSpec, startModelTopic, type ModelTopic } from './model-topic.js';

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

async function run(flags: RunFlags): Promise<void> {
  const cfg = commandConfig(flags.config, {});
  const log = createLogger(cfg.log.level);
  const kc = cfg.kafka;
  // model.dir is the service's model registry: each group's current version is loaded at start;
  // a model learned from the bootstrap period is promoted into it (so a restart scores with the
  // same model), and sensors calibrated later are saved into the current version.
  const registry = cfg.model.dir ? new ModelRegistry({ root: cfg.model.dir, keep: cfg.model.keep, log }) : undefined;
  let saving = Promise.resolve();
  const persist = (
    group: string,
    how: 'promote' | 'update',
    info: { reason: string; gate?: unknown } = { reason: 'bootstrap' },
  ): Promise<void> => {
    if (!registry) return saving;
    saving = saving.then(async () => {
      const bundle = engine.trainer.models().find((b) => b.metadata.group === group);
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
  };
  const labels = new LabelStore();
  // Set once the models topic is followed (before any reading is scored, so before any promotion).
  let models: ModelTopic | undefined;
  const engine = await createEngine(cfg, {
    mode: 'live',
    log,
    labels,
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
  await prepareTopics(kafka, kc, [
    kc.anomaliesTopic,
    kc.dlqTopic,
    kc.scoresTopic,
    kc.labelsTopic,
    modelsTopicSpec(kc.modelsTopic),
  ]);
  if (kc.modelsTopic !== '') {
    log.info(
      { topic: kc.modelsTopic, publishing: engine.retrainer !== undefined },
      `following ${kc.modelsTopic} (promoted models)${engine.retrainer ? '; this instance retrains and publishes its promotions' : ''}`,
    );
    models = await startModelTopic({
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
  const labelFeed = await followLabels({
    kafka,
    topic: kc.labelsTopic,
    log,
    onRecord: (raw, key) => {
      const label = parseLabel(raw, key);
      if ('error' in label) log.warn({ topic: kc.labelsTopic, key }, `ignored a label record: ${label.error}`);
      else {
        engine.label(label);
        log.debug({ label }, `label ${label.label} for ${label.sensor}`);
      }
    },
  });

  // Produce requests stay under each output topic's own limit (read once, here).
  const limitsAdmin = kafka.admin();
  const limits = await (async () => {
    try {
      await limitsAdmin.connect();
      return await readTopicLimits(limitsAdmin, [kc.anomaliesTopic, kc.dlqTopic, kc.scoresTopic], log);
    } finally {
      await limitsAdmin.disconnect().catch(() => undefined);
    }
  })();
  log.info(
    { limits: Object.fromEntries(limits) },
    `output topics' max.message.bytes: ${[...limits].map(([t, b]) => `${t} ${b}`).join(', ')}`,
  );
  const health = new Health(kc.stallAfterMs);
  engine.metrics.healthAtScrape(health, ['kafka']);
  const codecs = installKafkaCodecs(log);
  codecs.onFailure((f) => engine.metrics.kafkaDecompressError(f.codec));
  health.watch(() => {
    const f = codecs.recentFailure();
    return (
      f &&
      `a ${f.codec} record batch could not be decompressed ${Math.round((Date.now() - f.at) / 1000)} s ago (${f.message}); consuming from its broker waits at it`
    );
  });
  const fallback = kc.dlqFallbackFile !== '' ? openTextWriter(kc.dlqFallbackFile, { append: true }) : undefined;

  const view = liveViewFor(engine);
  const server = await serveMetrics(engine, log, view.routes, health);
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
          void models?.sync.publish(bundle);
        },
      })
    : undefined;
  if (admin)
    log.info(
      { url: admin.url },
      `admin port on ${admin.url} (bearer token required): POST /labels, POST /suppress, POST /events/{id}/feedback, GET /models, POST /models/rollback, GET /healthz`,
    );
  const { metrics } = engine;
  const output = outputSink(kafka, kc, { limits, log, health, metrics, ...(fallback ? { fallback } : {}) });
  const source = kafkaSource({
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
    ...(output.transactional ? { transactional: output.transactional } : { deadLetters: { topic: kc.dlqTopic } }),
    health,
  });
  const eventLog: Sink = {
    name: 'event-log',
    async write(outputs: readonly PipelineOutput[]) {
      for (const o of outputs) if (o.kind === 'event') log.info({ event: o.event }, formatEvent(o.event));
    },
    async close() {},
  };

  log.info(
    { brokers: kc.brokers, topics: kc.topics, group: kc.groupId, metrics: server?.url },
    `aemon run: consuming ${kc.topics.join(', ')} as group ${kc.groupId}; anomalies → ${kc.anomaliesTopic}` +
      (server ? `; metrics on ${server.url}/metrics, live view on ${server.url}/` : ''),
  );
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
  try {
    const stats = await engine.run(
      source.records$,
      [metricsSink(metrics), view.sink, output.sink, eventLog],
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
    // The labels feed holds nothing to flush: a few seconds and no more.
    await settleWithin(labelFeed.stop());
    await models?.stopFollowing();
    await engine.trainer.idle();
    await saving;
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
