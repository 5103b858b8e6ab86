import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin, type KafkaMessage } from 'kafkajs';
import { readingSchema } from '../src/config/schema.js';
import { CLI } from '../src/main.js';
import { createDecoder, isRejection } from '../src/sources/decode.js';

/** `aemon run` against a no-op kafkajs consumer on the same pre-filled topic (the bench's Kafka row). */
export interface KafkaRow {
  name: 'kafka';
  sensors: number;
  readings: number;
  partitions: number;
  /** A kafkajs consumer that only counts messages: the ceiling for any kafkajs-based consumer. */
  noopMessagesPerSecond: number;
  /**
   * A kafkajs consumer that runs aemon's decoder (JSON parse and the reading checks) on each
   * message and nothing else: a ceiling for any consumer that has to read the readings.
   */
  decodeOnlyMessagesPerSecond: number;
  /**
   * `aemon run`: readings scored and written per second through the backlog once the bootstrap
   * model is trained, from when 20 % of what it wrote after the bootstrap was written to when 80 % was.
   */
  aemonReadingsPerSecond: number;
  /**
   * CPU seconds per reading (user + system) of the no-op consumer, the decode-only consumer and
   * `aemon run` over the same span as their rates: where a reading's CPU goes, side by side
   * (absent in runs before it was measured).
   */
  cpuSecondsPerReading?: { noop: number; decodeOnly: number; aemon: number };
  /**
   * Seconds from the end of the measured span (80 % of the backlog written) until the offsets of
   * everything written by then were committed (absent in runs before it was measured).
   */
  commitLagSeconds?: number;
  ratio: number;
  engine: string;
  /** `kafka.exactlyOnce`: outputs and offsets in one transaction per commit. */
  exactlyOnce: boolean;
}

export interface KafkaBenchOptions {
  brokers: string[];
  sensors: number;
  /** Readings per sensor. */
  readings: number;
  partitions?: number;
  log: (s: string) => void;
}

/** Starts `aemon <args>` as a child process, with this process's node flags (tsx when running from src). */
function cli(
  args: string[],
  env: Record<string, string>,
  onLine?: (line: string) => void,
): { done: Promise<number>; kill(): void; last(): string } {
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      ...(process.env.BENCH_CPU_PROF && args[0] === 'run'
        ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF]
        : []),
      CLI,
      ...args,
    ],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let tail = '';
  const recent: string[] = [];
  const feed = (d: Buffer): void => {
    tail += d.toString();
    const lines = tail.split('\n');
    tail = lines.pop() ?? '';
    for (const l of lines) {
      onLine?.(l);
      recent.push(l);
      if (recent.length > 20) recent.shift();
    }
  };
  child.stdout.on('data', feed);
  child.stderr.on('data', feed);
  return {
    done: new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1))),
    kill: () => child.kill('SIGTERM'),
    last: () => [...recent, tail].join('\n').trim(),
  };
}

/** The sum of a metric's series in one /metrics text. */
function sumOf(body: string, name: string): number {
  return [...body.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((s, m) => s + Number(m[1]), 0);
}

/** The /metrics text of these metrics only (`?name=`): a whole scrape of many sensors costs aemon CPU. */
async function metricsText(url: string, names: readonly string[]): Promise<string> {
  return (await fetch(`${url}/metrics?${names.map((n) => `name=${n}`).join('&')}`)).text();
}

async function scrape(url: string, name: string): Promise<number> {
  return sumOf(await metricsText(url, [name]), name);
}

async function poll(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`kafka bench: timed out waiting for ${what}`);
}

/**
 * Fills a fresh topic with simulated readings, reads it with a no-op kafkajs consumer, then with
 * `aemon run` (its own group, bootstrap training first), once as is and once with
 * `kafka.exactlyOnce`. aemon's rate counts from the end of training to the last reading scored
 * and committed, so it is the steady-state pipeline rate.
 */
export async function benchKafka(opts: KafkaBenchOptions): Promise<KafkaRow[]> {
  const { brokers, sensors, readings, log } = opts;
  const partitions = opts.partitions ?? 4;
  const id = randomUUID().slice(0, 8);
  const topic = `aemon.bench.${id}`;
  const kafka = new Kafka({ clientId: 'aemon-bench', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    log(`kafka: producing ${sensors} sensors × ${readings} readings to ${topic}…\n`);
    const sim = cli(
      [
        'simulate',
        '--sensors',
        String(sensors),
        '--rate',
        '1',
        '--duration',
        `${readings}s`,
        '--seed',
        '1',
        '--kafka-topic',
        topic,
      ],
      {
        AEMON_KAFKA_BROKERS: brokers.join(','),
        AEMON_LOG_LEVEL: 'warn',
        KAFKAJS_NO_PARTITIONER_WARNING: '1',
      },
    );
    if ((await sim.done) !== 0) throw new Error(`kafka bench: aemon simulate failed:\n${sim.last()}`);
    const total = (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);

    /** Messages per second and CPU seconds per message for a kafkajs consumer (a fresh group) that hands each batch to `handle`. */
    const consume = async (
      what: string,
      handle: (messages: readonly KafkaMessage[]) => void,
    ): Promise<{ rate: number; cpu: number }> => {
      log(`kafka: ${what} kafkajs consumer over ${total} messages…\n`);
      const consumer = kafka.consumer({ groupId: `aemon-bench-${what}-${id}` });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      let seen = 0;
      let first = 0;
      let last = 0;
      let cpu0 = process.cpuUsage();
      let cpu = { user: 0, system: 0 };
      await consumer.run({
        eachBatch: async ({ batch }) => {
          if (first === 0) {
            first = performance.now();
            cpu0 = process.cpuUsage();
          }
          handle(batch.messages);
          seen += batch.messages.length;
          last = performance.now();
          cpu = process.cpuUsage(cpu0);
        },
      });
      await poll(`the ${what} consumer`, async () => seen >= total, 300_000);
      await consumer.disconnect();
      return { rate: total / ((last - first) / 1000), cpu: (cpu.user + cpu.system) / 1e6 / total };
    };
    const noop = await consume('no-op', () => undefined);
    const decode = createDecoder(readingSchema.parse({}));
    let rejected = 0;
    const decodeOnly = await consume('decode-only', (messages) => {
      for (const m of messages) {
        const out = decode({
          raw: m.value ?? new Uint8Array(0),
          key: m.key?.toString(),
          origin: { source: 'kafka' },
          arrivedAt: 0,
          seq: 0,
          ack: () => undefined,
        });
        if (isRejection(out)) rejected++;
      }
    });
    if (rejected > 0) throw new Error(`kafka bench: the decoder rejected ${rejected} simulated readings`);

    const rows: KafkaRow[] = [];
    for (const exactlyOnce of [false, true]) {
      const { rate, cpuPerReading, commitLagSeconds, engine } = await aemonRun({
        brokers,
        topic,
        total,
        id: `${id}${exactlyOnce ? '-eos' : ''}`,
        exactlyOnce,
        admin,
        log,
      });
      rows.push({
        name: 'kafka',
        sensors,
        readings: total,
        partitions,
        noopMessagesPerSecond: Math.round(noop.rate),
        decodeOnlyMessagesPerSecond: Math.round(decodeOnly.rate),
        aemonReadingsPerSecond: Math.round(rate),
        cpuSecondsPerReading: { noop: noop.cpu, decodeOnly: decodeOnly.cpu, aemon: cpuPerReading },
        commitLagSeconds: Number(commitLagSeconds.toFixed(2)),
        ratio: Number((rate / noop.rate).toFixed(2)),
        engine,
        exactlyOnce,
      });
    }
    return rows;
  } finally {
    await admin
      .deleteTopics({ topics: [topic, `${topic}.anomalies`, `${topic}.dlq`, `${topic}.scores`] })
      .catch(() => undefined);
    await admin.disconnect();
  }
}

/** `aemon run` over a filled topic, in its own group: readings written per second after the bootstrap, and how long their commit took. */
async function aemonRun(o: {
  brokers: string[];
  topic: string;
  total: number;
  id: string;
  exactlyOnce: boolean;
  admin: Admin;
  log: (s: string) => void;
}): Promise<{ rate: number; cpuPerReading: number; commitLagSeconds: number; engine: string }> {
  const { brokers, topic, total, id, exactlyOnce, admin, log } = o;
  log(`kafka: aemon run${exactlyOnce ? ' (exactlyOnce)' : ''} over ${topic}…\n`);
  let url: string | undefined;
  let engine = '';
  const run = cli(
    ['run'],
    {
      AEMON_KAFKA_BROKERS: brokers.join(','),
      AEMON_KAFKA_TOPICS: topic,
      AEMON_KAFKA_GROUP_ID: `aemon-bench-${id}`,
      AEMON_KAFKA_ANOMALIES_TOPIC: `${topic}.anomalies`,
      AEMON_KAFKA_DLQ_TOPIC: `${topic}.dlq`,
      // Every window is written, so the exactly-once run carries real output in its transactions.
      AEMON_KAFKA_SCORES_TOPIC: `${topic}.scores`,
      AEMON_KAFKA_EXACTLY_ONCE: String(exactlyOnce),
      AEMON_KAFKA_TRANSACTIONAL_ID: `aemon-bench-${id}`,
      // Off: the row measures learning from the bootstrap, never a model someone published on the broker.
      AEMON_KAFKA_MODELS_TOPIC: '',
      AEMON_METRICS_PORT: '0',
      AEMON_WINDOWING_SIZE: '32',
      AEMON_WINDOWING_STRIDE: '8',
      AEMON_TRAINING_BOOTSTRAP_READINGS: '48',
      AEMON_MODEL_EPOCHS: '2',
      AEMON_KAFKA_COMMIT_INTERVAL_MS: '250',
      AEMON_LOG_LEVEL: 'info',
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
    },
    (line) => {
      url ??= /metrics on (http:\/\/[\d.:]+)\/metrics/.exec(line)?.[1];
      engine ||= /tensorflow\.js backend: (\w+)/.exec(line)?.[1] ?? '';
    },
  );
  try {
    await poll('aemon run to serve /metrics', async () => url !== undefined, 120_000);
    await poll('the bootstrap model', async () => (await scrape(url!, 'aemon_windows_scored_total')) > 0, 600_000);
    // The rate at which aemon writes through the backlog once the model is there: CPU and
    // readings from the scrapes at each end of the span, readings counted as scored and written
    // (the metrics sink counts them), not as committed, which moves in steps of a commit (with
    // exactlyOnce, the readings of a whole span can be written before its offsets commit).
    // Only those metrics: a whole scrape of 500 sensors' series, ten times a second, would cost
    // aemon a good share of the CPU it is measured by.
    const sample = async (): Promise<{ at: number; cpu: number; readings: number }> => {
      // (prom-client sets process_cpu_seconds_total when it collects the user CPU: ask for user and system.)
      const names = ['process_cpu_user_seconds_total', 'process_cpu_system_seconds_total', 'aemon_readings_total'];
      const body = await metricsText(url!, names);
      return {
        at: performance.now(),
        cpu: sumOf(body, 'process_cpu_user_seconds_total') + sumOf(body, 'process_cpu_system_seconds_total'),
        readings: sumOf(body, 'aemon_readings_total'),
      };
    };
    // The first fifth of what it writes after the bootstrap is a warm-up (the sensors'
    // calibration against the new model, compiled code). The last readings of each sensor wait
    // in their windows and the reorder buffer for readings that never come (a live stream's
    // tail), so the run is followed until it stops writing, and the clock runs from 20 % to 80 %
    // of what it wrote since.
    const group = `aemon-bench-${id}`;
    const committed = async (): Promise<number> =>
      (await admin.fetchOffsets({ groupId: group, topics: [topic] }))[0]!.partitions.reduce(
        (n, p) => n + Math.max(0, Number(p.offset)),
        0,
      );
    const commits: Array<{ at: number; offsets: number }> = [];
    let following = true;
    const commitsFollowed = (async () => {
      while (following) {
        const offsets = await committed().catch(() => undefined);
        if (offsets !== undefined) commits.push({ at: performance.now(), offsets });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      const samples = [await sample()];
      const start = samples[0]!.readings;
      let moved = samples[0]!;
      await poll(
        'aemon run to stop writing',
        async () => {
          const s = await sample();
          samples.push(s);
          if (s.readings > moved.readings) moved = s;
          return s.readings >= total || s.at - moved.at > 10_000;
        },
        600_000,
      );
      const end = moved.readings;
      // The tail is at most a few readings per sensor; a run that stops far before the end has stalled.
      if (end < 0.9 * total)
        throw new Error(
          `kafka bench: aemon run${exactlyOnce ? ' (exactlyOnce)' : ''} stopped writing at ${end} of ${total} readings; its last lines:\n${run.last()}`,
        );
      const at = (share: number): { at: number; cpu: number; readings: number } =>
        samples.find((s) => s.readings >= start + share * (end - start))!;
      const s0 = at(0.2);
      const s1 = at(0.8);
      const readings = s1.readings - s0.readings;
      if (readings <= 0)
        throw new Error(`kafka bench: aemon run wrote ${end - start} readings after the bootstrap: too few to measure`);
      // And the offsets of what was written by the span's end are committed: how long after it that took.
      await poll(
        'aemon run to commit what it wrote',
        async () => commits.some((c) => c.offsets >= s1.readings),
        600_000,
      );
      const commitLagSeconds = Math.max(0, (commits.find((c) => c.offsets >= s1.readings)!.at - s1.at) / 1000);
      return {
        rate: readings / ((s1.at - s0.at) / 1000),
        cpuPerReading: (s1.cpu - s0.cpu) / readings,
        commitLagSeconds,
        engine,
      };
    } finally {
      following = false;
      await commitsFollowed;
    }
  } finally {
    run.kill();
    await run.done;
  }
}
