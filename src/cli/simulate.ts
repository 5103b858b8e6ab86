import { once } from 'node:events';
import { createWriteStream, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Partitioners, type Message } from 'kafkajs';
import { defaultIfEmpty, lastValueFrom, tap } from 'rxjs';
import { compressionType } from '../config/kafka.js';
import { simulatorSettings, type Config } from '../config/schema.js';
import { createLogger } from '../observability/logger.js';
import { simulatorSource } from '../sources/simulator.js';
import { createKafka, prepareTopics } from './kafka.js';
import { commandConfig, defined, parseDuration, parseInteger, parsePositiveInt } from './common.js';

interface SimulateFlags {
  config?: string;
  sensors?: string;
  rate?: string;
  duration?: string;
  seed?: string;
  start?: string;
  drift?: string;
  step?: string;
  stepAfter?: string;
  out?: string;
  labels?: string;
  realtime?: boolean;
  kafkaTopic?: string;
}

async function simulate(flags: SimulateFlags): Promise<void> {
  const cfg = commandConfig(flags.config, {
    simulator: defined({
      sensors: flags.sensors === undefined ? undefined : parsePositiveInt(flags.sensors, '--sensors'),
      rateHz: flags.rate === undefined ? undefined : Number(flags.rate),
      seed: flags.seed === undefined ? undefined : parseInteger(flags.seed, '--seed'),
      start: flags.start,
      driftPerHour: flags.drift === undefined ? undefined : Number(flags.drift),
      step: flags.step === undefined ? undefined : Number(flags.step),
      stepAfterSeconds: flags.stepAfter === undefined ? undefined : parseDuration(flags.stepAfter) / 1000,
    }),
  });
  const sim = simulatorSettings(cfg);
  const durationMs = parseDuration(flags.duration ?? '1h');
  // Files start at a fixed time, so a seed gives the same file. Kafka keeps records by their
  // timestamps (7 days by default): months-old event times would be deleted within minutes, so a
  // topic's stream ends now unless --start says otherwise (with --realtime, it starts now).
  const startMs = sim.start
    ? Date.parse(sim.start)
    : flags.kafkaTopic
      ? Math.floor((Date.now() - (flags.realtime ? 0 : durationMs)) / 1000) * 1000
      : Date.parse('2026-01-01T00:00:00.000Z');
  if (flags.kafkaTopic) {
    await toKafka(cfg, flags.kafkaTopic, startMs, durationMs, flags.realtime ?? false, flags.labels);
    return;
  }
  const out = flags.out ? createWriteStream(flags.out) : process.stdout;
  // A slow consumer (a pipe, a disk) pauses the simulator: it awaits `ready()` between ticks.
  let draining: Promise<void> | undefined;
  const flow = { ready: () => draining };
  const { records$, simulator } = simulatorSource(sim, {
    startMs,
    durationMs,
    realtime: flags.realtime ?? false,
    flow,
  });
  let n = 0;
  await lastValueFrom(
    records$.pipe(
      tap((rec) => {
        n++;
        const line = `${typeof rec.raw === 'string' ? rec.raw : Buffer.from(rec.raw).toString('utf8')}\n`;
        if (!out.write(line) && !draining) {
          draining = once(out, 'drain').then(() => {
            draining = undefined;
          });
        }
        rec.ack();
      }),
      defaultIfEmpty(undefined),
    ),
  );
  if (out !== process.stdout) {
    out.end();
    await once(out, 'finish');
  }
  if (flags.labels) writeFileSync(flags.labels, JSON.stringify(simulator.injections, null, 2) + '\n');
  process.stderr.write(
    `${n} readings of ${sim.sensors} sensors, ${simulator.injections.length} anomalies injected${flags.labels ? ` (labels in ${flags.labels})` : ''}\n`,
  );
}

/**
 * Produces the readings to a topic (key = sensor, acks from all in-sync replicas, in batches) and
 * the injected anomalies to the labels topic as operator-style labels.
 */
async function toKafka(
  cfg: Readonly<Config>,
  topic: string,
  startMs: number,
  durationMs: number,
  realtime: boolean,
  labelsFile?: string,
): Promise<void> {
  const log = createLogger('warn');
  const kafka = createKafka(cfg.kafka, log, '-simulate');
  await prepareTopics(kafka, cfg.kafka, [topic, cfg.kafka.labelsTopic]);
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const compression = compressionType(cfg.kafka.compression);
  let batch: Message[] = [];
  let sending: Promise<void> | undefined;
  let n = 0;
  const send = (): Promise<void> => {
    const messages = batch;
    batch = [];
    const previous = sending ?? Promise.resolve();
    sending = previous.then(async () => {
      await producer.send({ topic, messages, acks: -1, compression });
      n += messages.length;
    });
    return sending;
  };
  // At most one batch in flight: the simulator waits on it (backpressure from the broker).
  const flow = { ready: () => (batch.length >= BATCH ? send() : undefined) };
  const { records$, simulator } = simulatorSource(simulatorSettings(cfg), { startMs, durationMs, realtime, flow });
  try {
    await lastValueFrom(
      records$.pipe(
        tap((rec) => {
          const fields = rec.fields as { sensor: string; ts: number };
          // The record timestamp is the event time, so a time-range replay finds it.
          batch.push({
            key: fields.sensor,
            value: typeof rec.raw === 'string' ? rec.raw : Buffer.from(rec.raw),
            timestamp: String(fields.ts),
          });
          rec.ack();
          if (realtime && batch.length > 0) void send();
        }),
        defaultIfEmpty(undefined),
      ),
    );
    if (batch.length > 0) await send();
    await sending;
    const labels = simulator.injections.map((inj) => ({
      key: inj.sensor,
      value: JSON.stringify({
        sensor: inj.sensor,
        from: new Date(inj.start).toISOString(),
        to: new Date(inj.end).toISOString(),
        label: 'anomaly',
        kind: inj.kind,
        channels: inj.channels,
      }),
    }));
    if (labels.length > 0)
      await producer.send({ topic: cfg.kafka.labelsTopic, messages: labels, acks: -1, compression });
    if (labelsFile) writeFileSync(labelsFile, JSON.stringify(simulator.injections, null, 2) + '\n');
    const span = `${new Date(startMs).toISOString()} … ${new Date(startMs + durationMs).toISOString()}`;
    process.stderr.write(
      `${n} readings of ${cfg.simulator.sensors} sensors (${span}) → ${topic}; ${labels.length} injected anomalies → ${cfg.kafka.labelsTopic}\n`,
    );
  } finally {
    await producer.disconnect();
  }
}

const BATCH = 1000;

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('synthetic multichannel sensors with injected, labelled anomalies → NDJSON readings')
    .option('-c, --config <file>', 'config file (YAML or JSON): simulator.*')
    .option('--sensors <n>', 'sensors (default 5)')
    .option('--rate <hz>', 'readings per second per sensor, event time (default 1)')
    .option('--duration <time>', 'event time to simulate, e.g. 1h, 90m (default 1h)')
    .option('--seed <n>', 'seed: the same seed gives the same readings and anomalies (default 1)')
    .option(
      '--start <iso>',
      "event time of the first reading (default 2026-01-01T00:00:00Z; with --kafka-topic, the stream ends now, so the broker's retention keeps it)",
    )
    .option('--out <file>', 'write readings here (default stdout)')
    .option('--labels <file>', 'write the injected anomalies (sensor, kind, channels, start, end) as JSON')
    .option(
      '--kafka-topic <topic>',
      'produce to this Kafka topic (key = sensor; kafka.* / AEMON_KAFKA_BROKERS); the injected anomalies go to kafka.labelsTopic',
    )
    .option(
      '--drift <per-hour>',
      "every sensor's load drifts this much per hour of event time (e.g. 0.1; the load spans ~0.1–0.9): the plant changes, a frozen model false-alarms",
    )
    .option(
      '--step <load>',
      "every sensor's load steps by this much and stays (e.g. 0.3), --step-after into the stream: a new operating point",
    )
    .option('--step-after <time>', 'when --step happens, event time after the start (e.g. 4h; default 0)')
    .option('--realtime', 'pace readings by the wall clock (simulator.speedup times faster)')
    .addHelpText(
      'after',
      '\nExample:\n  aemon simulate --sensors 3 --duration 2h --seed 7 --out sim.ndjson --labels sim.labels.json\n  aemon replay sim.ndjson --train-first 600 --out sim.scores.csv\n',
    )
    .action(async (flags: SimulateFlags) => simulate(flags));
}
