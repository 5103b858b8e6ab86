import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Kafka, logLevel, Partitioners, type Admin } from 'kafkajs';
import { alive, committedToEnd, createTopics, metric, names, readAll as readTopic, startRun, until } from './aemon.js';
import { sharedBroker } from './broker.js';
import { createLogger } from '../../src/observability/logger.js';
import { KAFKA_DEFAULT_MAX_BYTES, readTopicLimits } from '../../src/sinks/kafka-size.js';

// Records near the dead-letter topic's size limit: wrapped as a DLQ record (headers around the
// original bytes) they no longer fit, and several of them together never fit one produce request.

let admin: Admin;
let kafka: Kafka;
let brokers: string;

async function setup(): Promise<void> {
  if (admin) return;
  const broker = await sharedBroker();
  brokers = broker.brokers.join(',');
  kafka = new Kafka({ clientId: 'aemon-test-dlq-size', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
}
after(async () => {
  await admin?.disconnect();
});

/** kcat as the independent producer: one record per line, key `s1`, partition 0. */
function kcatProduce(topic: string, values: string[]): void {
  const r = spawnSync(
    'kcat',
    ['-b', brokers, '-P', '-t', topic, '-p', '0', '-k', 's1', '-X', 'message.max.bytes=2000000'],
    { input: values.join('\n') + '\n', encoding: 'utf8', timeout: 30_000 },
  );
  if (r.error) assert.fail(`kcat could not run (${r.error.message}): run npm run test:setup`);
  assert.equal(r.status, 0, r.stderr);
}

const LIMIT = 20_000;

test('records too large for the DLQ topic once wrapped: aemon keeps running, dead-letters each one (truncated, with size and SHA-256), and commits to the end', async () => {
  await setup();
  const n = names();
  // The DLQ topic's own limit, well under the broker's: aemon must read it from the topic.
  await createTopics(admin, [
    { topic: n.topic, numPartitions: 1 },
    { topic: n.dlq, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: String(LIMIT) }] },
  ]);
  const t0 = Date.UTC(2026, 0, 1);
  const good = (i: number) => ({
    key: 's1',
    value: JSON.stringify({ sensor: 's1', ts: t0 + i * 1000, values: { a: Math.sin(i / 5), b: Math.cos(i / 7) } }),
  });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const send = async (from: number, to: number): Promise<void> => {
    for (let i = from; i < to; i += 50)
      await producer.send({
        topic: n.topic,
        messages: Array.from({ length: Math.min(50, to - i) }, (_, j) => good(i + j)),
        acks: -1,
      });
  };
  await send(0, 250);
  // Three that fit one by one but not together, and one that fits the topic only unwrapped.
  const bad = ['a', 'b', 'c'].map((c) => `${c}${'x'.repeat(8_000)}`);
  const head = '{"sensor":"s1","values":[[[[';
  const huge = head + '9'.repeat(LIMIT - 100 - head.length);
  kcatProduce(n.topic, [...bad, huge]);
  await send(250, 300);
  await producer.disconnect();
  const total = 300 + bad.length + 1;

  const run = startRun({
    AEMON_KAFKA_BROKERS: brokers,
    AEMON_KAFKA_TOPICS: n.topic,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
    AEMON_KAFKA_DLQ_TOPIC: n.dlq,
  });
  const url = await run.url;
  await alive(
    run,
    until(
      'every record consumed and committed',
      async () =>
        (await metric(url, 'aemon_readings_total')) === total && (await committedToEnd(admin, n.group, n.topic)),
      90_000,
      [run],
    ),
  );
  assert.equal(await metric(url, 'aemon_readings_rejected_total'), bad.length + 1);
  assert.equal(await metric(url, 'aemon_dlq_truncated_total'), 1);
  assert.equal(await metric(url, 'aemon_windows_scored_total'), 300 - 200, 'the good readings around them are scored');
  run.kill('SIGTERM');
  const { code, log } = await run.done;
  assert.equal(code, 0, log.slice(-2000));

  const dlq = await readAll(n.dlq);
  assert.equal(dlq.length, bad.length + 1, 'one DLQ record each');
  const sha = (s: string) => createHash('sha256').update(s).digest('hex');
  for (const original of [...bad, huge]) {
    const d = dlq.find((m) => m.headers['aemon.original.sha256'] === sha(original));
    assert.ok(d, 'each original is named by its SHA-256');
    assert.equal(d.headers['aemon.original.size'], String(Buffer.byteLength(original)));
    assert.equal(d.headers['aemon.source.topic'], n.topic);
    assert.equal(d.headers['aemon.source.partition'], '0');
    assert.equal(d.key, 's1');
    if (original === huge) {
      assert.equal(d.headers['aemon.truncated'], 'true');
      assert.ok(d.value.length < original.length && d.value.length > LIMIT / 2, `truncated to ${d.value.length} bytes`);
      assert.ok(original.startsWith(d.value.toString()), 'the truncated value is a prefix of the original');
    } else {
      assert.equal(d.headers['aemon.truncated'], undefined);
      assert.equal(d.value.toString(), original, 'a record that fits is dead-lettered whole');
    }
  }
  assert.deepEqual(
    dlq.map((d) => Number(d.headers['aemon.source.offset'])).sort((a, b) => a - b),
    [250, 251, 252, 253],
  );
});

const readAll = (topic: string) => readTopic(kafka, admin, topic);

test("readTopicLimits: a topic's own max.message.bytes, else the broker's message.max.bytes", async () => {
  await setup();
  const n = names();
  await createTopics(admin, [
    { topic: n.dlq, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '12345' }] },
    { topic: n.scores, numPartitions: 1 },
  ]);
  const lines: string[] = [];
  const log = createLogger('warn', { destination: { write: (l: string) => void lines.push(l) } });
  const limits = await readTopicLimits(admin, [n.dlq, n.scores, `${n.topic}.missing`, ''], log);
  assert.equal(limits.get(n.dlq), 12345);
  // Neither the topic nor the broker sets it here: Kafka's default, as the broker reports it.
  assert.equal(limits.get(n.scores), KAFKA_DEFAULT_MAX_BYTES);
  assert.equal(
    limits.get(`${n.topic}.missing`),
    KAFKA_DEFAULT_MAX_BYTES,
    'a topic that cannot be described falls back to the broker',
  );
  assert.equal(limits.size, 3);
  assert.ok(
    lines.some((l) => l.includes(`cannot read max.message.bytes of ${n.topic}.missing`)),
    lines.join(''),
  );
});
