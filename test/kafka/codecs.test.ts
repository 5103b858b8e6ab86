import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { committedToEnd, metric, names, sample, startRun, until } from './aemon.js';
import { sharedBroker, type Broker } from './broker.js';
import { ROOT } from '../cli/run.js';
import { tempDir } from '../tempdir.js';

// Topics written by an independent producer (kcat, i.e. librdkafka) in every Kafka codec are read
// and scored by `aemon run`; aemon's own outputs are written in the codec `kafka.compression`
// names, which the broker's log segments show, and kcat reads them back.

let broker: Broker;
let admin: Admin;
let brokers: string;

async function setup(): Promise<void> {
  if (admin) return;
  broker = await sharedBroker();
  brokers = broker.brokers.join(',');
  admin = new Kafka({ clientId: 'aemon-test', brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
}
after(async () => {
  await admin?.disconnect();
});

// Off: on a fresh broker, following the models topic right after creating it can meet "not the
// leader for that topic-partition" and stop the run, which is not what these tests are about.
const NO_MODELS_TOPIC = '';

const SENSORS = 2;
const PER_SENSOR = 300;
const POISON = ['not json {', '{"sensor":"s0","ts":"yesterday","values":{"a":1,"b":2}}'];

/** `key|value` lines: two sensors' readings, with the poison records in the middle. */
function readingLines(): string[] {
  const t0 = Date.UTC(2026, 0, 1);
  const lines: string[] = [];
  for (let i = 0; i < PER_SENSOR; i++) {
    for (let s = 0; s < SENSORS; s++) {
      lines.push(
        `s${s}|${JSON.stringify({ sensor: `s${s}`, ts: t0 + i * 1000, values: { a: Math.sin(i / 5 + s), b: Math.cos(i / 7) } })}`,
      );
    }
    if (i === 250) lines.push(...POISON.map((p) => `s0|${p}`));
  }
  return lines;
}

function kcat(args: string[]): string {
  const r = spawnSync('kcat', ['-b', brokers, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) assert.fail(`kcat could not run (${r.error.message}): run npm run test:setup`);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/**
 * kcat produces the lines (`key|value`) to `topic`, compressed with `codec`. librdkafka sends a
 * batch uncompressed when compressing would make it larger (a batch of one short record in gzip),
 * so it lingers long enough for each partition's records to leave as one batch.
 */
function kcatProduce(topic: string, codec: string, lines: string[]): void {
  const file = join(tempDir('aemon-codecs-'), 'records.txt');
  writeFileSync(file, lines.join('\n') + '\n');
  kcat(['-P', '-t', topic, '-z', codec, '-X', 'linger.ms=2000', '-K', '|', '-l', file]);
}

/** Every value of `topic`, read by kcat. */
function kcatValues(topic: string): string[] {
  return kcat(['-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%s\n']).split('\n').filter(Boolean);
}

/**
 * The compression codec of every record batch of `topic` as the broker stored it, from Kafka's
 * own DumpLogSegments over the topic's log segments (e.g. `['lz4', 'lz4']`).
 */
function storedCodecs(topic: string): string[] {
  if (broker.external)
    assert.fail(
      "the stored codec is read from the broker's log files: run against the broker the harness starts (unset KAFKA_BROKERS)",
    );
  const logs = join(dirname(broker.logFile), 'logs');
  const files = readdirSync(logs)
    .filter((d) => d.startsWith(`${topic}-`))
    .flatMap((d) =>
      readdirSync(join(logs, d))
        .filter((f) => f.endsWith('.log'))
        .map((f) => join(logs, d, f)),
    );
  assert.ok(files.length > 0, `no log segments of ${topic} in ${logs}`);
  const r = spawnSync(
    'java',
    ['-cp', join(ROOT, '.kafka/libs/*'), 'kafka.tools.DumpLogSegments', '--files', files.join(',')],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return [...r.stdout.matchAll(/compresscodec: (\w+)/g)].map((m) => m[1]!.toLowerCase());
}

async function readyz(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: await res.text() };
}

for (const codec of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
  test(`${codec}: a topic kcat compressed with ${codec} is all read and scored, and aemon writes its outputs with ${codec}`, async () => {
    await setup();
    const n = names();
    await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 2 }], waitForLeaders: true });
    const lines = readingLines();
    kcatProduce(n.topic, codec, lines);
    const input = storedCodecs(n.topic);
    assert.ok(
      input.length > 0 && input.every((c) => c === codec),
      `the input topic holds ${codec} batches: ${input.join(',')}`,
    );

    const run = startRun({
      AEMON_KAFKA_BROKERS: brokers,
      AEMON_KAFKA_TOPICS: n.topic,
      AEMON_KAFKA_GROUP_ID: n.group,
      AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
      AEMON_KAFKA_SCORES_TOPIC: n.scores,
      AEMON_KAFKA_DLQ_TOPIC: n.dlq,
      AEMON_KAFKA_COMPRESSION: codec,
      AEMON_KAFKA_MODELS_TOPIC: NO_MODELS_TOPIC,
    });
    const url = await run.url;
    await until(
      'every record read',
      async () => (await metric(url, 'aemon_readings_total')) === lines.length,
      120_000,
      [run],
    );
    const scored = SENSORS * (PER_SENSOR - 200);
    await until(
      'every window scored and every offset committed',
      async () =>
        (await metric(url, 'aemon_windows_scored_total')) === scored && (await committedToEnd(admin, n.group, n.topic)),
      60_000,
      [run],
    );
    assert.equal(await metric(url, 'aemon_readings_rejected_total'), POISON.length);
    assert.equal(await sample(url, 'aemon_kafka_decompress_errors_total', `codec="${codec}"`), 0);
    run.kill('SIGTERM');
    const { code, log } = await run.done;
    assert.equal(code, 0, log.slice(-2000));
    assert.ok(await committedToEnd(admin, n.group, n.topic), 'committed offsets equal the end offsets');

    // aemon's outputs, read back by kcat, in the configured codec as stored by the broker.
    const scores = kcatValues(n.scores).map((v) => JSON.parse(v) as { id: string; sensor: string });
    assert.equal(scores.length, scored);
    assert.equal(new Set(scores.map((s) => s.id)).size, scored, 'window ids are unique');
    assert.deepEqual(kcatValues(n.dlq).sort(), [...POISON].sort(), 'the DLQ holds the original bytes');
    for (const topic of [n.scores, n.dlq]) {
      const stored = storedCodecs(topic);
      assert.ok(
        stored.length > 0 && stored.every((c) => c === codec),
        `${topic} is stored as ${codec}: ${stored.join(',')}`,
      );
    }
  });
}

test('a codec aemon lacks holds consuming up at its batch without skipping it or stopping the process; with the codec every record is read', async () => {
  await setup();
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 1 }], waitForLeaders: true });
  const lines = readingLines();
  kcatProduce(n.topic, 'lz4', lines);
  const env = {
    AEMON_KAFKA_BROKERS: brokers,
    AEMON_KAFKA_TOPICS: n.topic,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
    AEMON_KAFKA_DLQ_TOPIC: n.dlq,
    AEMON_KAFKA_MODELS_TOPIC: NO_MODELS_TOPIC,
  };
  const preload = `--import ${join(ROOT, 'test/kafka/fixtures/without-lz4.mjs')}`;
  const lacking = startRun({ ...env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${preload}`.trim() });
  const url = await lacking.url;
  assert.match(lacking.log(), /kafka codec lz4 is not available \(cannot load lz4-napi: Cannot find module 'lz4-napi'/);
  const started = Date.now();
  await until(
    'a failed lz4 batch counted',
    async () => (await sample(url, 'aemon_kafka_decompress_errors_total', 'codec="lz4"')) >= 1,
    60_000,
    [lacking],
  );
  const ready = await readyz(url);
  assert.equal(ready.status, 503);
  assert.match(
    ready.body,
    /^not ready\n(.*\n)*a lz4 record batch could not be decompressed .*the lz4 codec is not available/,
  );
  assert.match(lacking.log(), /cannot decompress a lz4 record batch \(\d+ bytes\)/);
  // kafkajs gives the fetch up after its retries and restarts the consumer, which fetches the
  // same batch again: the process stays up through that and keeps trying.
  await until('kafkajs restarted the consumer', async () => lacking.log().includes('kafkajs restarts it'), 180_000, [
    lacking,
  ]);
  const restartedAfter = Date.now() - started;
  const failedBefore = await sample(url, 'aemon_kafka_decompress_errors_total', 'codec="lz4"');
  await until(
    'the restarted consumer fetched the batch again',
    async () => (await sample(url, 'aemon_kafka_decompress_errors_total', 'codec="lz4"')) > failedBefore,
    60_000,
    [lacking],
  );
  assert.equal(lacking.log().includes('KafkaJSNotImplemented'), false, lacking.log().slice(-2000));
  // Not skipped: nothing was read past the batch, and nothing committed.
  assert.equal(await metric(url, 'aemon_readings_total'), 0);
  const committed = (await admin.fetchOffsets({ groupId: n.group, topics: [n.topic] }))[0]!.partitions;
  assert.ok(
    committed.every((p) => Number(p.offset) < 0),
    `nothing committed: ${JSON.stringify(committed)}`,
  );
  lacking.kill('SIGTERM');
  const stopped = await lacking.done;
  assert.equal(stopped.code, 0, stopped.log.slice(-2000));
  const failed = (stopped.log.match(/cannot decompress a lz4 record batch/g) ?? []).length;
  const crash = stopped.log.split('\n').find((l) => l.includes('kafkajs restarts it'));
  const crashMsg = crash === undefined ? '' : (JSON.parse(crash) as { msg: string }).msg;
  process.stderr.write(
    `# without lz4: ${failed} failed fetches of the batch logged, kafkajs restarted the consumer after ${Math.round(restartedAfter / 1000)} s (${crashMsg}), exit code ${stopped.code} on SIGTERM\n`,
  );

  // The same group with the codec: every record, from the batch that was held up on, is read.
  const run = startRun(env);
  const url2 = await run.url;
  await until('every record read', async () => (await metric(url2, 'aemon_readings_total')) === lines.length, 120_000, [
    run,
  ]);
  await until('every offset committed', () => committedToEnd(admin, n.group, n.topic), 60_000, [run]);
  assert.equal((await readyz(url2)).status, 200);
  run.kill('SIGTERM');
  assert.equal((await run.done).code, 0);
});
