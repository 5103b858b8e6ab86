// One fault scenario: the simulator feeds a fresh topic while aemon instances consume it and an
// injector breaks things; then a fault-free aemon reads the same topic, and the outputs compare.
import { randomUUID } from 'node:crypto';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { Broker } from '../test/kafka/broker.js';
import { startAemon, type AemonProcess } from './aemon.js';
import { compareOutputs, keepsPromise, type OutputComparison } from './compare.js';
import type { FaultControl, FaultInjector } from './faults.js';
import { Feeder } from './feeder.js';
import { LagWatch } from './lag.js';
import { readOutputs, readTopic, type OutputTopics } from './outputs.js';
import { maxLag, recoverySeconds } from './recovery.js';

/** What a scenario's run needs from the suite: the broker, the trained model, the feed. */
export interface SuiteContext {
  broker: Broker;
  workDir: string;
  /** A model trained on the feed's sensors (same seed), copied for each instance. */
  modelDir: string;
  sensors: number;
  rateHz: number;
  seed: number;
  /** Readings of event time the model was trained on: the feed starts after them. */
  feedStartMs: number;
  /** aemon settings every instance (under faults and fault-free) runs with. */
  env: Record<string, string>;
  exactlyOnce: boolean;
  random(): number;
  log(line: string): void;
}

export interface ScenarioSpec {
  name: string;
  /** Instances started before the feed. */
  instances: number;
  inject: FaultInjector;
  /** Wall time of feed and faults. */
  durationMs: number;
}

/** The figures of one scenario, as `--json` writes them (the first ten fields are a contract). */
export interface ScenarioResult {
  name: string;
  readingsIn: number;
  scored: number;
  dlq: number;
  missing: number;
  duplicates: number;
  divergentDuplicates: number;
  restarts: number;
  maxLag: number;
  /** Worst fault → caught up again (lag under 3 s of input), seconds; null if it never caught up. */
  recoverySeconds: number | null;
  /** Outputs only the faulty run wrote, and outputs both wrote with other bytes. */
  extra: number;
  differs: number;
  ok: boolean;
  exactlyOnce: boolean;
  seconds: number;
  faults: Array<{ what: string; atSeconds: number; backAfterSeconds: number }>;
  detail: OutputComparison;
}

const PARTITIONS = 6;
const DRAIN_TIMEOUT_MS = 180_000;

function topicsFor(base: string): OutputTopics {
  return { scores: `${base}.scores`, dlq: `${base}.dlq`, anomalies: `${base}.anomalies` };
}

/**
 * Starts `aemon run` instances of one group writing one set of outputs; each gets its own model
 * copy. With exactly-once, each gets the transactional id of a slot no live instance holds (the
 * lowest free one): instances never share an id, and an instance started after one was killed
 * takes its id over and fences it, as a restarted pod of a StatefulSet does.
 */
function launcher(
  ctx: SuiteContext,
  name: string,
  input: string,
  group: string,
  out: OutputTopics,
): () => AemonProcess {
  let n = 0;
  const slots: Array<AemonProcess | undefined> = [];
  return () => {
    n++;
    let slot = slots.findIndex((p) => p === undefined || !p.alive());
    if (slot < 0) slot = slots.length;
    const modelDir = join(ctx.workDir, `${name}-model-${n}`);
    cpSync(ctx.modelDir, modelDir, { recursive: true });
    const proc = startAemon(
      `${name}#${n}`,
      {
        ...ctx.env,
        AEMON_KAFKA_BROKERS: ctx.broker.brokers.join(','),
        AEMON_KAFKA_TOPICS: input,
        AEMON_KAFKA_GROUP_ID: group,
        AEMON_KAFKA_SCORES_TOPIC: out.scores,
        AEMON_KAFKA_DLQ_TOPIC: out.dlq,
        AEMON_KAFKA_ANOMALIES_TOPIC: out.anomalies,
        AEMON_MODEL_DIR: modelDir,
        ...(ctx.exactlyOnce
          ? { AEMON_KAFKA_EXACTLY_ONCE: 'true', AEMON_KAFKA_TRANSACTIONAL_ID: `${group}-${slot}` }
          : {}),
      },
      join(ctx.workDir, `${name}.log`),
    );
    slots[slot] = proc;
    return proc;
  };
}

async function createInput(ctx: SuiteContext, topic: string): Promise<void> {
  const admin = new Kafka({ clientId: 'chaos-admin', brokers: ctx.broker.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

const SETTLE_TIMEOUT_MS = 60_000;

async function groupSettled(ctx: SuiteContext, group: string, members: number): Promise<void> {
  const admin = new Kafka({
    clientId: 'chaos-group',
    brokers: ctx.broker.brokers,
    logLevel: logLevel.NOTHING,
    requestTimeout: 3_000,
    retry: { retries: 0 },
  }).admin();
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  try {
    await admin.connect();
    while (Date.now() < deadline) {
      const g = await Promise.race([
        admin.describeGroups([group]),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 3_000)),
      ]).catch(() => undefined);
      const d = g?.groups[0];
      if (d?.state === 'Stable' && d.members.length === members) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    ctx.log(`  group ${group} not Stable with ${members} members within ${SETTLE_TIMEOUT_MS / 1000} s`);
  } catch (err) {
    ctx.log(`  cannot describe group ${group}: ${(err as Error).message}`);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Waits until the group has committed the end of the topic, polling (bounded by `timeoutMs`). */
async function drained(watch: LagWatch, timeoutMs: number, instances: () => AemonProcess[]): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const lag = await watch.lag().catch(() => undefined);
    if (lag === 0) {
      // The caught-up check is a sample too: a fault that ends just before it has recovered by then.
      watch.samples.push({ t: Date.now(), lag });
      return true;
    }
    if (instances().every((p) => !p.alive())) return false;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

export async function runScenario(ctx: SuiteContext, spec: ScenarioSpec): Promise<ScenarioResult> {
  const id = randomUUID().slice(0, 6);
  const input = `chaos.${spec.name}.${id}`;
  const out = topicsFor(`${input}.out`);
  const refOut = topicsFor(`${input}.ref`);
  const brokers = ctx.broker.brokers.join(',');
  const started = Date.now();
  await createInput(ctx, input);

  const launch = launcher(ctx, spec.name, input, `${input}.group`, out);
  const ctl: FaultControl = {
    broker: ctx.broker,
    instances: Array.from({ length: spec.instances }, launch),
    startInstance: launch,
    events: [],
    restarts: 0,
    random: ctx.random,
    settled: (members) => groupSettled(ctx, `${input}.group`, members),
    log: (line) => ctx.log(`  ${spec.name} +${((Date.now() - started) / 1000).toFixed(0)} s: ${line}`),
  };
  await Promise.all(ctl.instances.map((p) => p.url));
  const watch = new LagWatch(ctx.broker.brokers, `${input}.group`, input);
  watch.start();
  const feeder = new Feeder({
    brokers: ctx.broker.brokers,
    topic: input,
    sensors: ctx.sensors,
    rateHz: ctx.rateHz,
    seed: ctx.seed,
    startMs: ctx.feedStartMs,
    quietSeconds: 0,
    badEvery: 50,
  });
  const until = Date.now() + spec.durationMs;
  await Promise.all([feeder.run(spec.durationMs), spec.inject(ctl, until)]);
  ctl.log(`feed done: ${feeder.sent} records sent (${feeder.retries} sends retried); draining`);
  const caughtUp = await drained(watch, DRAIN_TIMEOUT_MS, () => ctl.instances);
  await watch.stop();
  await Promise.all(ctl.instances.map((p) => p.stop()));
  if (!caughtUp) ctl.log(`the group did not commit the end of ${input} within ${DRAIN_TIMEOUT_MS / 1000} s`);

  // The fault-free run: one instance, a group of its own, the same input topic.
  const ref = launcher(ctx, `${spec.name}-reference`, input, `${input}.ref-group`, refOut)();
  await ref.url;
  const refWatch = new LagWatch(ctx.broker.brokers, `${input}.ref-group`, input);
  const refDone = await drained(refWatch, DRAIN_TIMEOUT_MS, () => [ref]);
  await refWatch.stop();
  await ref.stop();
  if (!refDone) throw new Error(`the fault-free run did not read ${input} to its end; see ${ctx.workDir}`);

  const [reference, run, inputRecords] = await Promise.all([
    readOutputs(brokers, refOut),
    readOutputs(brokers, out),
    readTopic(brokers, input),
  ]);
  const detail = compareOutputs(reference, run);
  const rate = ctx.sensors * ctx.rateHz;
  const result: ScenarioResult = {
    name: spec.name,
    readingsIn: inputRecords.length,
    scored: detail.scores.distinct,
    dlq: detail.dlq.distinct,
    missing: detail.missing,
    duplicates: detail.duplicates,
    divergentDuplicates: detail.divergentDuplicates,
    restarts: ctl.restarts,
    maxLag: maxLag(watch.samples),
    recoverySeconds: caughtUp ? recoverySeconds(watch.samples, ctl.events, 3 * rate) : null,
    extra: detail.extra,
    differs: detail.differs,
    ok: caughtUp && keepsPromise(detail, ctx.exactlyOnce) && detail.scores.expected > 0,
    exactlyOnce: ctx.exactlyOnce,
    seconds: Math.round((Date.now() - started) / 1000),
    faults: ctl.events.map((e) => ({
      what: e.what,
      atSeconds: Math.round((e.at - started) / 100) / 10,
      backAfterSeconds: Math.round((e.until - e.at) / 100) / 10,
    })),
    detail,
  };
  return result;
}
