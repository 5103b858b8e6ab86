import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import kafkajs from 'kafkajs';
import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { freshTopic, kafkaFor, SCRAM_USER, sharedBroker } from './broker.js';
import type { Broker } from './broker.js';

// kafkajs 2.2.4 against the broker the harness starts (Apache Kafka 4.1.1): the protocol features
// aemon relies on, each checked against the real thing. kafkajs' errors are not static ESM exports.
const { CompressionTypes, KafkaJSSASLAuthenticationError, Partitioners } = kafkajs;

const createPartitioner = Partitioners.DefaultPartitioner;
// Short fetch waits: a consumer's disconnect waits for its fetch in flight.
const CONSUMER = { maxWaitTimeInMs: 500, sessionTimeout: 10_000, heartbeatInterval: 1_000 };

/** Wakes waiters whenever something they may be waiting for happened; each wait has a deadline. */
class Progress {
  private readonly waiters = new Set<() => void>();
  bump(): void {
    for (const check of [...this.waiters]) check();
  }
  until(what: string, done: () => boolean, ms = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const check = (): void => {
        let ok: boolean;
        try {
          ok = done();
        } catch (err) {
          finish();
          reject(err as Error);
          return;
        }
        if (!ok) return;
        finish();
        resolve();
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      this.waiters.add(check);
      check();
    });
  }
}

interface Env {
  broker: Broker;
  kafka: Kafka;
  admin: Admin;
  topic: string;
  progress: Progress;
  /** A consumer disconnected (before admin) when the test ends. */
  consumer(groupId: string, clientId?: string): Consumer;
}

/** Shared broker, admin and a fresh topic; everything created here is cleaned up in t.after. */
async function setup(t: TestContext, partitions = 3): Promise<Env> {
  const broker = await sharedBroker();
  const kafka = kafkaFor(broker, 'compat');
  const admin = kafka.admin();
  const cleanup: Array<() => Promise<unknown>> = [() => admin.disconnect()];
  t.after(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  });
  await admin.connect();
  const topic = await freshTopic(admin, partitions);
  cleanup.push(() => admin.deleteTopics({ topics: [topic] }));
  const progress = new Progress();
  const consumer = (groupId: string, clientId = 'compat'): Consumer => {
    const c = kafkaFor(broker, clientId).consumer({ groupId, ...CONSUMER });
    cleanup.push(() => c.disconnect());
    return c;
  };
  return { broker, kafka, admin, topic, progress, consumer };
}

interface Got {
  partition: number;
  offset: number;
  key: string;
  value: string;
  seq: number;
  timestamp: number;
}

function collect(into: Got[], progress: Progress, after?: (b: EachBatchPayload) => Promise<void>) {
  return async (payload: EachBatchPayload): Promise<void> => {
    for (const m of payload.batch.messages) {
      const seq = Number(m.headers?.seq?.toString());
      into.push({
        partition: payload.batch.partition,
        offset: Number(m.offset),
        key: m.key?.toString() ?? '',
        value: m.value?.toString() ?? '',
        seq,
        timestamp: Number(m.timestamp),
      });
    }
    await after?.(payload);
    progress.bump();
  };
}

test(
  'produce (acks -1, gzip), eachBatch group consume, commit, fetchOffsets, describeGroups, offsets by timestamp, resume',
  { timeout: 120_000 },
  async (t) => {
    const { admin, kafka, topic, progress, consumer } = await setup(t);
    const producer = kafka.producer({ createPartitioner });
    await producer.connect();
    t.after(() => producer.disconnect());
    const base = Date.now() - 60_000;
    const message = (i: number) => ({
      key: `sensor-${i % 7}`,
      value: JSON.stringify({ i, v: Math.sin(i) }),
      headers: { seq: String(i) },
      timestamp: String(base + i * 10),
    });
    for (let from = 0; from < 300; from += 100) {
      const sent = await producer.send({
        topic,
        acks: -1,
        compression: CompressionTypes.GZIP,
        messages: Array.from({ length: 100 }, (_, k) => message(from + k)),
      });
      assert.ok(
        sent.every((r) => r.errorCode === 0),
        'every partition acknowledged the batch',
      );
    }
    const ends = await admin.fetchTopicOffsets(topic);
    assert.equal(
      ends.reduce((s, p) => s + Number(p.high), 0),
      300,
    );

    const groupId = `g.${topic}`;
    const got: Got[] = [];
    let committed = 0;
    const first = consumer(groupId);
    await first.connect();
    await first.subscribe({ topics: [topic], fromBeginning: true });
    await first.run({
      autoCommit: false,
      eachBatch: collect(got, progress, async ({ batch }) => {
        await first.commitOffsets([
          { topic, partition: batch.partition, offset: String(Number(batch.lastOffset()) + 1) },
        ]);
        committed += batch.messages.length;
      }),
    });
    await progress.until('300 messages consumed and committed', () => committed >= 300);

    assert.equal(got.length, 300, 'each message exactly once');
    assert.deepEqual(
      got.map((g) => g.seq).sort((a, b) => a - b),
      Array.from({ length: 300 }, (_, i) => i),
    );
    for (const g of got) {
      const m = message(g.seq);
      assert.deepEqual(
        [g.key, g.value, g.timestamp],
        [m.key, m.value, Number(m.timestamp)],
        `message ${g.seq} round-tripped through gzip`,
      );
    }
    const partitionsOf = new Map<string, Set<number>>();
    for (const g of got) partitionsOf.set(g.key, (partitionsOf.get(g.key) ?? new Set()).add(g.partition));
    for (const [key, ps] of partitionsOf) assert.equal(ps.size, 1, `key ${key} stays on one partition`);

    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committedOffsets = Object.fromEntries(offsets[0]!.partitions.map((p) => [p.partition, p.offset]));
    assert.deepEqual(
      committedOffsets,
      Object.fromEntries(ends.map((p) => [p.partition, p.high])),
      'committed offsets are the end offsets',
    );

    const running = (await admin.describeGroups([groupId])).groups[0]!;
    assert.equal(running.state, 'Stable');
    assert.equal(running.protocolType, 'consumer');
    assert.deepEqual(
      running.members.map((m) => m.clientId),
      ['compat'],
    );

    // Offsets by timestamp: the first offset at or after T in each partition.
    const at = base + 1_500;
    const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, at);
    for (const { partition, offset } of byTime) {
      const before = got.filter((g) => g.partition === partition && g.timestamp < at).length;
      assert.equal(Number(offset), before, `partition ${partition}: first offset at ${at}`);
    }
    const future = await admin.fetchTopicOffsetsByTimestamp(topic, Date.now() + 3_600_000);
    assert.deepEqual(
      future.map((p) => p.offset).sort(),
      ends.map((p) => p.high).sort(),
      'after the last record: the end offsets',
    );

    await first.disconnect();
    assert.equal((await admin.describeGroups([groupId])).groups[0]!.state, 'Empty');

    // A new member of the group resumes after the committed offsets.
    await producer.send({
      topic,
      acks: -1,
      compression: CompressionTypes.GZIP,
      messages: Array.from({ length: 30 }, (_, k) => message(300 + k)),
    });
    const resumed: Got[] = [];
    const second = consumer(groupId);
    await second.connect();
    await second.subscribe({ topics: [topic], fromBeginning: true });
    await second.run({ eachBatch: collect(resumed, progress) });
    await progress.until('30 new messages', () => resumed.length >= 30);
    assert.deepEqual(
      resumed.map((g) => g.seq).sort((a, b) => a - b),
      Array.from({ length: 30 }, (_, i) => 300 + i),
      'only what came after the commit',
    );
  },
);

test(
  'two consumers split a 6-partition topic; each message is consumed once; the survivor takes over',
  { timeout: 120_000 },
  async (t) => {
    const { admin, kafka, topic, progress, consumer } = await setup(t, 6);
    const groupId = `g.${topic}`;
    const assigned: Record<string, number[]> = { a: [], b: [] };
    const got: Record<string, Got[]> = { a: [], b: [] };
    const members = { a: consumer(groupId, 'a'), b: consumer(groupId, 'b') };
    for (const [name, c] of Object.entries(members)) {
      c.on(c.events.GROUP_JOIN, (e) => {
        assigned[name] = [...(e.payload.memberAssignment[topic] ?? [])].sort((x, y) => x - y);
        progress.bump();
      });
      await c.connect();
      await c.subscribe({ topics: [topic], fromBeginning: true });
      await c.run({ eachBatch: collect(got[name]!, progress) });
      if (name === 'a') await progress.until('a owns all 6 partitions', () => assigned.a!.length === 6);
    }
    const split = (): boolean => {
      const all = [...assigned.a!, ...assigned.b!].sort((x, y) => x - y);
      return assigned.a!.length > 0 && assigned.b!.length > 0 && all.join() === '0,1,2,3,4,5';
    };
    await progress.until('a and b to split the 6 partitions', split);
    const group = (await admin.describeGroups([groupId])).groups[0]!;
    assert.deepEqual(group.members.map((m) => m.clientId).sort(), ['a', 'b']);

    const producer = kafka.producer({ createPartitioner });
    await producer.connect();
    t.after(() => producer.disconnect());
    const send = (from: number, n: number) =>
      producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: n }, (_, k) => ({
          partition: (from + k) % 6,
          value: `m${from + k}`,
          headers: { seq: String(from + k) },
        })),
      });
    await send(0, 600);
    const total = (): number => got.a!.length + got.b!.length;
    await progress.until('600 messages consumed by the pair', () => total() >= 600);
    assert.equal(total(), 600, 'nothing consumed twice');
    assert.equal(new Set([...got.a!, ...got.b!].map((g) => g.seq)).size, 600, 'nothing lost');
    for (const name of ['a', 'b']) {
      assert.ok(got[name]!.length > 0, `${name} consumed some`);
      assert.ok(
        got[name]!.every((g) => assigned[name]!.includes(g.partition)),
        `${name} read only its own partitions`,
      );
    }

    await members.b.disconnect();
    await progress.until('a to own all 6 partitions again', () => assigned.a!.length === 6);
    const before = got.a!.length;
    await send(600, 60);
    await progress.until(
      "the 60 new messages read by a, including b's partitions",
      () =>
        new Set(
          got
            .a!.slice(before)
            .map((g) => g.seq)
            .filter((s) => s >= 600),
        ).size === 60,
    );
  },
);

test(
  'broker restart mid-stream: a retrying producer goes on and every acknowledged message arrives',
  { timeout: 180_000 },
  async (t) => {
    const { broker, kafka, topic, progress, consumer } = await setup(t);
    if (broker.external) return t.skip('KAFKA_BROKERS is set: an external cluster cannot be restarted from here');
    const got: Got[] = [];
    const c = consumer(`g.${topic}`);
    let crash: Error | undefined;
    c.on(c.events.CRASH, (e) => {
      if (!e.payload.restart) crash = e.payload.error;
      progress.bump();
    });
    await c.connect();
    await c.subscribe({ topics: [topic], fromBeginning: true });
    await c.run({ eachBatch: collect(got, progress) });

    const producer = kafka.producer({ createPartitioner });
    await producer.connect();
    t.after(() => producer.disconnect());
    const acked: number[] = [];
    let longestSend = 0;
    let stopProducing = false;
    let producerError: unknown;
    const loop = (async () => {
      for (let i = 0; !stopProducing; i++) {
        const started = Date.now();
        await producer.send({
          topic,
          acks: -1,
          messages: [{ key: `k${i % 5}`, value: `r${i}`, headers: { seq: String(i) } }],
        });
        longestSend = Math.max(longestSend, Date.now() - started);
        acked.push(i);
        progress.bump();
      }
    })().catch((err: unknown) => {
      producerError = err;
      progress.bump();
    });
    const healthy = (): boolean => {
      if (producerError) throw producerError;
      if (crash) throw crash;
      return true;
    };

    await progress.until('the stream to flow', () => healthy() && got.length >= 50);
    await broker.restart();
    const afterRestart = acked.length;
    await progress.until(
      '100 messages acknowledged after the restart',
      () => healthy() && acked.length >= afterRestart + 100,
      60_000,
    );
    stopProducing = true;
    await loop;
    healthy();
    const missing = (): number[] => {
      const seen = new Set(got.map((g) => g.seq));
      return acked.filter((i) => !seen.has(i));
    };
    await progress.until('every acknowledged message consumed', () => healthy() && missing().length === 0, 60_000);
    assert.ok(
      acked.length >= afterRestart + 100 && got.some((g) => g.seq >= afterRestart),
      'messages sent after the restart arrived',
    );
    assert.ok(
      longestSend > 1_000,
      `a send waited through the restart and then succeeded (longest send ${longestSend} ms)`,
    );
  },
);

test('SASL/SCRAM-SHA-256: the right password gets in, a wrong one is refused', { timeout: 60_000 }, async (t) => {
  const { broker, admin, topic } = await setup(t);
  if (!broker.saslBrokers) return t.skip('no SASL listener: KAFKA_BROKERS is set without KAFKA_SASL_BROKERS');
  const ok = kafkaFor(broker, 'sasl-ok', { sasl: { ...SCRAM_USER } });
  const producer = ok.producer({ createPartitioner });
  await producer.connect();
  t.after(() => producer.disconnect());
  await producer.send({ topic, acks: -1, messages: [{ value: 'through SASL' }, { value: 'twice' }] });
  const ends = await admin.fetchTopicOffsets(topic);
  assert.equal(
    ends.reduce((s, p) => s + Number(p.high), 0),
    2,
    'the SASL producer wrote both records',
  );

  const wrong = kafkaFor(broker, 'sasl-wrong', {
    sasl: { ...SCRAM_USER, password: 'not-the-secret' },
    retry: { retries: 0 },
  }).admin();
  await assert.rejects(wrong.connect(), (err: Error) => {
    assert.ok(err instanceof KafkaJSSASLAuthenticationError, `${err.name}: ${err.message}`);
    assert.match(err.message, /SCRAM/i);
    return true;
  });
  await wrong.disconnect();
});

test('kcat reads back what kafkajs produced', { timeout: 60_000 }, async (t) => {
  const { broker, kafka, topic } = await setup(t);
  // Idempotent: on a loaded machine a request can time out and be retried after the broker wrote
  // it, which a plain producer turns into duplicates (seen in a run: every message twice).
  const producer = kafka.producer({ createPartitioner, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  t.after(() => producer.disconnect());
  const sent = Array.from({ length: 50 }, (_, i) => ({
    key: `sensor-${i % 4}`,
    value: JSON.stringify({ i, t: 1_700_000_000_000 + i }),
  }));
  await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages: sent });

  const kcat = spawnSync(
    'kcat',
    ['-b', broker.brokers.join(','), '-C', '-t', topic, '-e', '-o', 'beginning', '-q', '-f', '%k\t%s\n'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (kcat.error) assert.fail(`kcat could not run (${kcat.error.message}): run npm run test:setup`);
  assert.equal(kcat.status, 0, kcat.stderr);
  const lines = kcat.stdout.split('\n').filter(Boolean).sort();
  assert.deepEqual(lines, sent.map((m) => `${m.key}\t${m.value}`).sort());
});
