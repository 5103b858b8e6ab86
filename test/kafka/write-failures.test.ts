import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners, type Admin, type Producer } from 'kafkajs';
import { tempDir } from '../tempdir.js';
import {
  alive,
  committedToEnd,
  createTopics,
  metric,
  names,
  readAll as readTopic,
  startRun,
  until,
  type RunningAemon,
} from './aemon.js';
import { sharedBroker, type Broker } from './broker.js';

// What aemon does when a write fails: a topic that refuses a record for good (here: a DLQ topic
// whose max.message.bytes no DLQ record fits) sends it to kafka.dlqFallbackFile, or else stops
// the partition it came from (not the process); a retryable failure (the DLQ topic gone for a
// while) is retried while that partition's commits wait; a consumer that stops fetching (the
// broker frozen) turns /readyz not-ready. /readyz says why each time.

let admin: Admin;
let kafka: Kafka;
let broker: Broker;
let brokers: string;
let producer: Producer;

async function setup(): Promise<void> {
  if (admin) return;
  broker = await sharedBroker();
  brokers = broker.brokers.join(',');
  kafka = new Kafka({ clientId: 'aemon-test-write-failures', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
}
after(async () => {
  await producer?.disconnect();
  await admin?.disconnect();
});

const readAll = (topic: string) => readTopic(kafka, admin, topic);
const T0 = Date.UTC(2026, 0, 1);
const good = (sensor: string, i: number) => ({
  key: sensor,
  value: JSON.stringify({ sensor, ts: T0 + i * 1000, values: { a: Math.sin(i / 5), b: Math.cos(i / 7) } }),
});
const POISON = 'not json {';

/** Sensor s0's readings into partition 0, s1's into partition 1, a poison record in partition 1 after `poisonAfter` (if set). */
async function produce(topic: string, from: number, to: number, poisonAfter?: number): Promise<void> {
  for (const [partition, sensor] of [
    [0, 's0'],
    [1, 's1'],
  ] as const) {
    const messages: Array<{ key: string; value: string }> = [];
    for (let i = from; i < to; i++) {
      messages.push(good(sensor, i));
      if (partition === 1 && i === poisonAfter) messages.push({ key: sensor, value: POISON });
    }
    for (let i = 0; i < messages.length; i += 100)
      await producer.send({ topic, messages: messages.slice(i, i + 100).map((m) => ({ ...m, partition })), acks: -1 });
  }
}

async function committed(group: string, topic: string): Promise<Map<number, number>> {
  const parts = (await admin.fetchOffsets({ groupId: group, topics: [topic] }))[0]!.partitions;
  return new Map(parts.map((p) => [p.partition, Number(p.offset)]));
}

async function readyz(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: await res.text() };
}

const env = (n: ReturnType<typeof names>, extra: Record<string, string> = {}): Record<string, string> => ({
  AEMON_KAFKA_BROKERS: brokers,
  AEMON_KAFKA_TOPICS: n.topic,
  AEMON_KAFKA_GROUP_ID: n.group,
  AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
  AEMON_KAFKA_DLQ_TOPIC: n.dlq,
  ...extra,
});

/** A DLQ topic no dead-letter record fits: the broker refuses each for good (MESSAGE_TOO_LARGE). */
const TINY = [{ name: 'max.message.bytes', value: '200' }];

async function stop(run: RunningAemon): Promise<string> {
  run.kill('SIGTERM');
  const { code, log } = await run.done;
  assert.equal(code, 0, log.slice(-2000));
  return log;
}

test('a record the DLQ topic refuses for good, without a fallback file: its partition stops (commits stay before it), the other goes on, /readyz says so', async () => {
  await setup();
  const n = names();
  await createTopics(admin, [
    { topic: n.topic, numPartitions: 2 },
    { topic: n.dlq, numPartitions: 1, configEntries: TINY },
  ]);
  await produce(n.topic, 0, 300, 249);
  const run = startRun(env(n));
  const url = await run.url;
  await alive(
    run,
    until(
      'the stopped partition reported',
      async () =>
        (await metric(url, 'aemon_kafka_partitions_stopped')) === 1 &&
        (await metric(url, 'aemon_readings_total')) === 601,
      90_000,
      [run],
    ),
  );
  await alive(
    run,
    until('partition 0 committed to its end', async () => (await committed(n.group, n.topic)).get(0) === 300, 30_000, [
      run,
    ]),
  );
  assert.equal(
    (await committed(n.group, n.topic)).get(1),
    250,
    'partition 1 is committed up to the refused record, not past it',
  );
  const r = await readyz(url);
  assert.equal(r.status, 503);
  assert.match(
    r.body,
    new RegExp(
      `partition ${n.topic.replace('.', '\\.')}\\[1\\] stopped: a record for ${n.dlq.replace('.', '\\.')} was refused for good: .*larger than the max message size`,
    ),
  );
  const log = await stop(run);
  assert.match(log, /no kafka\.dlqFallbackFile is set, so partition\(s\) .*\[1\] stop here/);
  assert.equal((await committed(n.group, n.topic)).get(1), 250, 'nothing past it was committed at shutdown either');
});

test('with kafka.dlqFallbackFile, a record the DLQ topic refuses goes to the file (NDJSON, same headers) and every partition is committed to the end', async () => {
  await setup();
  const n = names();
  await createTopics(admin, [
    { topic: n.topic, numPartitions: 2 },
    { topic: n.dlq, numPartitions: 1, configEntries: TINY },
  ]);
  await produce(n.topic, 0, 300, 249);
  const file = join(tempDir('aemon-fallback-'), 'dlq-fallback.ndjson');
  const run = startRun(env(n, { AEMON_KAFKA_DLQ_FALLBACK_FILE: file }));
  const url = await run.url;
  await alive(
    run,
    until('everything committed', async () => committedToEnd(admin, n.group, n.topic), 90_000, [run]),
  );
  assert.equal(await metric(url, 'aemon_sink_fallback_total'), 1);
  assert.equal(await metric(url, 'aemon_kafka_partitions_stopped'), 0);
  assert.equal((await readyz(url)).status, 200);
  await stop(run);
  assert.ok(existsSync(file));
  const lines = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map(
      (l) =>
        JSON.parse(l) as { topic: string; key: string; value: string; headers: Record<string, string>; error: string },
    );
  assert.equal(lines.length, 1);
  const [line] = lines;
  assert.equal(line!.topic, n.dlq);
  assert.equal(line!.key, 's1');
  assert.equal(line!.value, POISON);
  assert.equal(line!.headers['aemon.reason'], 'not_json');
  assert.equal(line!.headers['aemon.source.topic'], n.topic);
  assert.equal(line!.headers['aemon.source.partition'], '1');
  assert.equal(line!.headers['aemon.source.offset'], '250');
  assert.match(line!.error, /larger than the max message size/);
});

test('a retryable write failure (the DLQ topic gone for a while) is retried: commits wait, /readyz is not ready and says why, then all goes on', async () => {
  await setup();
  const n = names();
  await createTopics(admin, [{ topic: n.topic, numPartitions: 2 }]);
  await produce(n.topic, 0, 250);
  const run = startRun(env(n));
  const url = await run.url;
  await alive(
    run,
    until(
      'the first part committed and ready',
      async () => (await committedToEnd(admin, n.group, n.topic)) && (await readyz(url)).status === 200,
      90_000,
      [run],
    ),
  );
  await admin.deleteTopics({ topics: [n.dlq], timeout: 10_000 });
  await until('the DLQ topic gone', async () => !(await admin.listTopics()).includes(n.dlq), 30_000);
  await produce(n.topic, 250, 260, 255);
  await alive(
    run,
    until(
      'the failing sink reported',
      async () => {
        const r = await readyz(url);
        return (
          r.status === 503 &&
          r.body.includes('sink kafka failing, retrying') &&
          (await metric(url, 'aemon_sink_write_retries_total')) > 0 &&
          (await metric(url, 'aemon_sink_failing')) === 1
        );
      },
      60_000,
      [run],
    ),
  );
  assert.ok(
    (await committed(n.group, n.topic)).get(1)! <= 256,
    'partition 1 is not committed past the record being retried',
  );
  await createTopics(admin, [{ topic: n.dlq, numPartitions: 1 }]);
  await alive(
    run,
    until(
      'everything committed and ready again',
      async () => (await committedToEnd(admin, n.group, n.topic)) && (await readyz(url)).status === 200,
      90_000,
      [run],
    ),
  );
  assert.equal(await metric(url, 'aemon_sink_failing'), 0);
  const log = await stop(run);
  assert.match(log, /retrying in \d+ ms \(offsets are not committed past it meanwhile\)/);
  const dlq = await readAll(n.dlq);
  assert.equal(dlq.length, 1);
  assert.equal(dlq[0]!.headers['aemon.source.offset'], '256');
});

test('a consumer that stops fetching (the broker frozen) turns /readyz not-ready after kafka.stallAfterMs, and ready again once it fetches', async () => {
  await setup();
  const n = names();
  await createTopics(admin, [{ topic: n.topic, numPartitions: 2 }]);
  await produce(n.topic, 0, 250);
  const run = startRun(env(n, { AEMON_KAFKA_STALL_AFTER_MS: '8000' }));
  const url = await run.url;
  await alive(
    run,
    until(
      'consumed and ready',
      async () => (await committedToEnd(admin, n.group, n.topic)) && (await readyz(url)).status === 200,
      90_000,
      [run],
    ),
  );
  // Idle (nothing to read) is not stalled: kafkajs' empty fetches keep it ready past stallAfterMs.
  const idleUntil = Date.now() + 10_000;
  while (Date.now() < idleUntil) {
    assert.equal((await readyz(url)).status, 200, 'an idle consumer stays ready');
    await new Promise((r) => setTimeout(r, 1_000));
  }
  broker.signal('SIGSTOP');
  try {
    await alive(
      run,
      until(
        'stalled',
        async () => {
          const r = await readyz(url);
          return r.status === 503 && /consumer stalled: no fetch for \d+ s \(kafka\.stallAfterMs 8000\)/.test(r.body);
        },
        40_000,
        [run],
      ),
    );
    assert.ok((await metric(url, 'aemon_kafka_fetch_age_seconds')) >= 8);
  } finally {
    broker.signal('SIGCONT');
  }
  await alive(
    run,
    until('ready again', async () => (await readyz(url)).status === 200, 90_000, [run]),
  );
  await stop(run);
});
