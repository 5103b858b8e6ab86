import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { kafkaSchema } from '../../src/config/schema.js';
import { AemonError } from '../../src/errors.js';
import type { Rejection } from '../../src/pipeline/contracts.js';
import { transactionalKafkaSink } from '../../src/sinks/kafka-transactional.js';
import { ROOT } from '../cli/run.js';
import { sharedBroker, type Broker } from './broker.js';

// The exactly-once sink against the real broker: which staged records a commit carries, what a
// reader with read_committed sees (kcat, i.e. librdkafka), fencing, and a transaction left open
// by a killed process.

let admin: Admin | undefined;
after(async () => {
  await admin?.disconnect();
});

async function setup(): Promise<{ broker: Broker; kafka: Kafka; input: string; dlq: string; group: string }> {
  const broker = await sharedBroker();
  const kafka = new Kafka({ clientId: 'aemon-test', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  if (!admin) {
    admin = kafka.admin();
    await admin.connect();
  }
  const id = randomUUID().slice(0, 8);
  const input = `in.${id}`;
  const dlq = `dlq.${id}`;
  await admin.createTopics({ topics: [{ topic: input }, { topic: dlq }], waitForLeaders: true });
  return { broker, kafka, input, dlq, group: `g.${id}` };
}

function kcat(broker: Broker, topic: string, isolation: 'read_committed' | 'read_uncommitted'): string[] {
  const r = spawnSync(
    'kcat',
    ['-b', broker.brokers.join(','), '-C', '-t', topic, '-X', `isolation.level=${isolation}`, '-e', '-o', 'beginning'],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (r.error) assert.fail(`kcat could not run (${r.error.message}): run npm run test:setup`);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

function rejection(topic: string, offset: number): Rejection {
  return {
    kind: 'rejected',
    reason: 'not_json',
    detail: 'test',
    raw: `r${offset}`,
    key: 's',
    origin: { source: 'kafka', topic, partition: 0, offset: String(offset) },
    arrivedAt: 0,
    seq: offset,
    ack: () => undefined,
  };
}

async function committedOffset(group: string, topic: string): Promise<string | undefined> {
  const [res] = await admin!.fetchOffsets({ groupId: group, topics: [topic] });
  return res?.partitions.find((p) => p.partition === 0)?.offset;
}

test('a commit carries the staged records whose readings lie before its offsets, with the offsets; read_committed sees each once', async () => {
  const { broker, kafka, input, dlq, group } = await setup();
  const cfg = kafkaSchema.parse({ brokers: broker.brokers, dlqTopic: dlq, exactlyOnce: true });
  const sink = transactionalKafkaSink(cfg, { kafka, transactionalId: `t-${group}` });
  try {
    await sink.write(Array.from({ length: 10 }, (_, i) => rejection(input, i)));
    assert.deepEqual(kcat(broker, dlq, 'read_uncommitted'), [], 'write only stages');
    await sink.commit(group, [{ topic: input, partition: 0, offset: '5', metadata: '{"rebuildFrom":2}' }]);
    assert.deepEqual(kcat(broker, dlq, 'read_committed'), ['r0', 'r1', 'r2', 'r3', 'r4']);
    const [res] = await admin!.fetchOffsets({ groupId: group, topics: [input] });
    assert.equal(res?.partitions[0]?.offset, '5');
    assert.equal(res?.partitions[0]?.metadata, '{"rebuildFrom":2}', 'the commit metadata travels with the offsets');
    await sink.commit(group, [{ topic: input, partition: 0, offset: '10', metadata: null }]);
    assert.deepEqual(
      kcat(broker, dlq, 'read_committed'),
      Array.from({ length: 10 }, (_, i) => `r${i}`),
    );
    assert.equal(await committedOffset(group, input), '10');
  } finally {
    await sink.release();
  }
});

test('a transaction whose ownership lapsed while it was sent is aborted, not committed: nothing of it is visible, its records stay staged for the next commit', async () => {
  const { broker, kafka, input, dlq, group } = await setup();
  const cfg = kafkaSchema.parse({ brokers: broker.brokers, dlqTopic: dlq, exactlyOnce: true });
  const sink = transactionalKafkaSink(cfg, { kafka, transactionalId: `t-${group}` });
  try {
    await sink.write(Array.from({ length: 4 }, (_, i) => rejection(input, i)));
    let asked = 0;
    const err = await sink
      .commit(group, [{ topic: input, partition: 0, offset: '4', metadata: null }], undefined, () => (asked++, false))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err instanceof AemonError && err.retryable, `a retryable AemonError, got ${String(err)}`);
    assert.equal(asked, 1, 'asked once, before committing');
    assert.deepEqual(kcat(broker, dlq, 'read_committed'), [], 'the aborted transaction is invisible');
    assert.equal(await committedOffset(group, input), '-1', 'no offset committed');
    await sink.commit(group, [{ topic: input, partition: 0, offset: '4', metadata: null }], undefined, () => true);
    assert.deepEqual(kcat(broker, dlq, 'read_committed'), ['r0', 'r1', 'r2', 'r3']);
    assert.equal(await committedOffset(group, input), '4');
  } finally {
    await sink.release();
  }
});

test('a second producer with the same transactional id fences the first: its next commit ends with AEMON_KAFKA, not retryable, and nothing of it is visible', async () => {
  const { broker, kafka, input, dlq, group } = await setup();
  const cfg = kafkaSchema.parse({ brokers: broker.brokers, dlqTopic: dlq, exactlyOnce: true });
  const a = transactionalKafkaSink(cfg, { kafka, transactionalId: `t-${group}` });
  const b = transactionalKafkaSink(cfg, { kafka, transactionalId: `t-${group}` });
  try {
    await a.write([rejection(input, 0)]);
    await a.commit(group, [{ topic: input, partition: 0, offset: '1', metadata: null }]);
    await b.write([rejection(input, 1)]);
    await b.commit(group, [{ topic: input, partition: 0, offset: '2', metadata: null }]);
    await a.write([rejection(input, 2)]);
    const err = await a.commit(group, [{ topic: input, partition: 0, offset: '3', metadata: null }]).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof AemonError, `fenced: ${String(err)}`);
    assert.equal(err.code, 'AEMON_KAFKA');
    assert.equal(err.retryable, false);
    assert.match(err.message, /another producer with transactional id/);
    assert.deepEqual(kcat(broker, dlq, 'read_committed'), ['r0', 'r1']);
    assert.equal(await committedOffset(group, input), '2');
  } finally {
    await a.release().catch(() => undefined);
    await b.release();
  }
});

test('a transaction left open by a process killed with SIGKILL is aborted when a producer with its id starts: read_committed never sees it', async () => {
  const { broker, kafka, input, dlq, group } = await setup();
  const id = `t-${group}`;
  // A process that sends in a transaction and is killed before it commits.
  const script = `
    import { Kafka, logLevel } from 'kafkajs';
    const kafka = new Kafka({ clientId: 'zombie', brokers: ${JSON.stringify(broker.brokers)}, logLevel: logLevel.NOTHING });
    const p = kafka.producer({ transactionalId: ${JSON.stringify(id)}, idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    const txn = await p.transaction();
    await txn.send({ topic: ${JSON.stringify(dlq)}, messages: [{ value: 'zombie' }], acks: -1 });
    await txn.sendOffsets({ consumerGroupId: ${JSON.stringify(group)}, topics: [{ topic: ${JSON.stringify(input)}, partitions: [{ partition: 0, offset: '7' }] }] });
    process.stdout.write('sent\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the zombie did not send: ${out}`)), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('sent')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => reject(new Error(`the zombie exited (${code}): ${out}`)));
  });
  const killed = new Promise((r) => child.on('close', r));
  child.kill('SIGKILL');
  await killed;
  assert.deepEqual(kcat(broker, dlq, 'read_uncommitted'), ['zombie'], 'the open transaction is in the log');

  const cfg = kafkaSchema.parse({ brokers: broker.brokers, dlqTopic: dlq, exactlyOnce: true });
  const sink = transactionalKafkaSink(cfg, { kafka, transactionalId: id });
  try {
    await sink.write([rejection(input, 0)]);
    await sink.commit(group, [{ topic: input, partition: 0, offset: '1', metadata: null }]);
    assert.deepEqual(kcat(broker, dlq, 'read_committed'), ['r0'], 'the killed transaction is aborted');
    assert.equal(await committedOffset(group, input), '1', 'its offsets were never committed');
  } finally {
    await sink.release();
  }
});
