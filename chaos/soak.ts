// The soak: one `aemon run` under a steady fleet (10,000 sensors × 1 Hz by default) for a long
// time, sampled from outside: RSS, heap, lag and p99 reading→score per interval, and whether RSS
// keeps growing (the slope over the last half).
import { randomUUID } from 'node:crypto';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { scrape, startAemon } from './aemon.js';
import { Feeder } from './feeder.js';
import { LagWatch } from './lag.js';
import { histogramBuckets, metricSum, quantileBetween, slope } from './metrics.js';
import type { SuiteContext } from './scenario.js';

export interface SoakSample {
  minute: number;
  rssMB: number | null;
  heapMB: number | null;
  lag: number | null;
  /** p99 of `aemon_event_to_score_seconds` over the interval before this sample. */
  p99Seconds: number | null;
  readings: number | null;
}

export interface SoakResult {
  sensors: number;
  rateHz: number;
  minutes: number;
  /** Readings the simulator generated, and the ones the broker took (a feed that falls behind drops the rest). */
  offered: number;
  readingsIn: number;
  /** Readings aemon took in per second, over the whole soak. */
  readingsPerSecond: number;
  samples: SoakSample[];
  /** Least-squares RSS slope over the last half of the samples, MB per minute. */
  rssSlopeMBPerMinLastHalf: number | null;
  maxLag: number;
  maxP99Seconds: number | null;
  exited: boolean;
}

const MB = 1024 * 1024;
const round = (x: number | undefined, digits = 1): number | null =>
  x === undefined || !Number.isFinite(x) ? null : Number(x.toFixed(digits));

export async function runSoak(
  ctx: SuiteContext,
  o: { sensors: number; durationMs: number; sampleMs: number },
): Promise<SoakResult> {
  const input = `chaos.soak.${randomUUID().slice(0, 6)}`;
  const admin = new Kafka({ clientId: 'chaos-admin', brokers: ctx.broker.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: input, numPartitions: 6 }], waitForLeaders: true });
  await admin.disconnect();
  const modelDir = join(ctx.workDir, 'soak-model');
  cpSync(ctx.modelDir, modelDir, { recursive: true });
  const proc = startAemon(
    'soak',
    {
      ...ctx.env,
      AEMON_KAFKA_BROKERS: ctx.broker.brokers.join(','),
      AEMON_KAFKA_TOPICS: input,
      AEMON_KAFKA_GROUP_ID: `${input}.group`,
      AEMON_KAFKA_ANOMALIES_TOPIC: `${input}.anomalies`,
      AEMON_KAFKA_DLQ_TOPIC: `${input}.dlq`,
      AEMON_MODEL_DIR: modelDir,
      // Sensors the model does not know calibrate against it from their first readings: a short
      // bootstrap lets a short soak score; a fleet scored every 8 readings is the deployed setting.
      AEMON_TRAINING_BOOTSTRAP_READINGS: '40',
      AEMON_WINDOWING_STRIDE: '8',
      ...(ctx.exactlyOnce ? { AEMON_KAFKA_EXACTLY_ONCE: 'true' } : {}),
    },
    join(ctx.workDir, 'soak.log'),
  );
  const url = await proc.url;
  const watch = new LagWatch(ctx.broker.brokers, `${input}.group`, input, 5_000);
  watch.start();
  const feeder = new Feeder({
    brokers: ctx.broker.brokers,
    topic: input,
    sensors: o.sensors,
    rateHz: 1,
    seed: ctx.seed,
    startMs: ctx.feedStartMs,
    quietSeconds: 80,
    badEvery: 0,
  });
  const t0 = Date.now();
  const feeding = feeder.run(o.durationMs, { drain: false });
  const samples: SoakSample[] = [];
  let previous = new Map<number, number>();
  const timer = setInterval(() => {
    void (async () => {
      const text = await scrape(url);
      const lag = await watch.lag().catch(() => undefined);
      const buckets =
        text === undefined ? new Map<number, number>() : histogramBuckets(text, 'aemon_event_to_score_seconds');
      const p99 = text === undefined ? undefined : quantileBetween(previous, buckets, 0.99);
      if (text !== undefined) previous = buckets;
      const rss = text === undefined ? undefined : metricSum(text, 'process_resident_memory_bytes');
      const heap = text === undefined ? undefined : metricSum(text, 'nodejs_heap_size_used_bytes');
      const sample: SoakSample = {
        minute: round((Date.now() - t0) / 60_000, 2) ?? 0,
        rssMB: round(rss === undefined ? undefined : rss / MB),
        heapMB: round(heap === undefined ? undefined : heap / MB),
        lag: lag ?? null,
        p99Seconds: round(p99, 3),
        readings: text === undefined ? null : (metricSum(text, 'aemon_readings_total') ?? null),
      };
      samples.push(sample);
      ctx.log(
        `  soak ${sample.minute} min: rss ${sample.rssMB} MB, heap ${sample.heapMB} MB, lag ${sample.lag}, p99 ${sample.p99Seconds} s`,
      );
    })();
  }, o.sampleMs);
  await Promise.race([feeding, proc.exited]);
  const seconds = (Date.now() - t0) / 1000;
  clearInterval(timer);
  const exited = !proc.alive();
  const last = await scrape(url);
  await watch.stop();
  feeder.stop();
  await feeding;
  await proc.stop();
  const half = samples.slice(Math.floor(samples.length / 2));
  const rssPoints = half.filter((s) => s.rssMB !== null).map((s) => [s.minute, s.rssMB!] as const);
  const p99s = samples.map((s) => s.p99Seconds).filter((x): x is number => x !== null);
  const readings = last === undefined ? 0 : (metricSum(last, 'aemon_readings_total') ?? 0);
  return {
    sensors: o.sensors,
    rateHz: 1,
    minutes: round(o.durationMs / 60_000, 1) ?? 0,
    offered: feeder.offered,
    readingsIn: feeder.sent,
    readingsPerSecond: Math.round(readings / seconds),
    samples,
    rssSlopeMBPerMinLastHalf: round(slope(rssPoints), 2),
    maxLag: samples.reduce((m, s) => Math.max(m, s.lag ?? 0), 0),
    maxP99Seconds: p99s.length > 0 ? Math.max(...p99s) : null,
    exited,
  };
}
