import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Kafka, logLevel, Partitioners, type Admin } from 'kafkajs';
import { aemon, ROOT } from '../cli/run.js';
import { sharedBroker } from './broker.js';

// What `aemon run` does against a real broker: consume as a group, score, publish anomalies and
// scores, dead-letter bad records, commit only what was written, and rebuild windows on restart.

const FAST = {
  AEMON_WINDOWING_SIZE: '16',
  AEMON_TRAINING_BOOTSTRAP_READINGS: '200',
  AEMON_MODEL_EPOCHS: '6',
  AEMON_LOG_LEVEL: 'info',
  KAFKAJS_NO_PARTITIONER_WARNING: '1',
};

let admin: Admin;
let kafka: Kafka;
let brokers: string;

async function setup(): Promise<void> {
  if (admin) return;
  const broker = await sharedBroker();
  brokers = broker.brokers.join(',');
  kafka = new Kafka({ clientId: 'aemon-test', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
}
after(async () => {
  await admin?.disconnect();
});

function names(): { topic: string; group: string; anomalies: string; scores: string; dlq: string } {
  const id = randomUUID().slice(0, 8);
  return { topic: `sensors.${id}`, group: `aemon.${id}`, anomalies: `anomalies.${id}`, scores: `scores.${id}`, dlq: `dlq.${id}` };
}

async function readAll(topic: string): Promise<Array<{ key: string; value: Buffer; headers: Record<string, string> }>> {
  const end = await admin.fetchTopicOffsets(topic);
  const total = end.reduce((s, p) => s + Number(p.high), 0);
  const out: Array<{ key: string; value: Buffer; headers: Record<string, string> }> = [];
  if (total === 0) return out;
  const consumer = kafka.consumer({ groupId: `reader.${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read ${out.length}/${total} records of ${topic}`)), 30_000);
    void consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        out.push({ key: message.key?.toString() ?? '', value: message.value ?? Buffer.alloc(0), headers });
        if (out.length >= total) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  return out;
}

/** Starts `aemon run`; resolves its metrics URL once it serves it. */
function startRun(env: Record<string, string>): { url: Promise<string>; done: Promise<{ code: number | null; stderr: string }>; kill(signal: NodeJS.Signals): void } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/index.ts'), 'run'], {
    cwd: ROOT,
    env: { ...process.env, ...FAST, AEMON_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  let resolveUrl!: (u: string) => void;
  const url = new Promise<string>((r) => (resolveUrl = r));
  const onData = (d: Buffer): void => {
    log += d.toString();
    const m = /metrics on (http:\/\/[\d.:]+)\/metrics/.exec(log);
    if (m) resolveUrl(m[1]!);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr: log })));
  return { url: Promise.race([url, done.then((d) => Promise.reject(new Error(`aemon run exited: ${d.stderr.slice(-2000)}`)))]), done, kill: (s) => child.kill(s) };
}

async function metric(url: string, name: string): Promise<number> {
  const body = await (await fetch(`${url}/metrics`)).text();
  return [...body.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((s, m) => s + Number(m[1]), 0);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function simulateTo(topic: string, args: string[]): Promise<number> {
  const r = await aemon(['simulate', '--kafka-topic', topic, ...args], { env: { AEMON_KAFKA_BROKERS: brokers, ...FAST } });
  assert.equal(r.code, 0, r.stderr);
  const m = /^(\d+) readings/m.exec(r.stderr);
  assert.ok(m, r.stderr);
  return Number(m[1]);
}

test('aemon run consumes a topic, publishes anomalies and scores, and commits the end offsets on SIGTERM', async () => {
  await setup();
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 3 }], waitForLeaders: true });
  const labelsFile = join(mkdtempSync(join(tmpdir(), 'aemon-kafka-')), 'labels.json');
  const produced = await simulateTo(n.topic, ['--sensors', '4', '--rate', '20', '--duration', '90s', '--seed', '3', '--labels', labelsFile]);
  const run = startRun({ AEMON_KAFKA_BROKERS: brokers, AEMON_KAFKA_TOPICS: n.topic, AEMON_KAFKA_GROUP_ID: n.group, AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies, AEMON_KAFKA_SCORES_TOPIC: n.scores, AEMON_KAFKA_DLQ_TOPIC: n.dlq });
  const url = await run.url;
  await until('every reading consumed', async () => (await metric(url, 'aemon_readings_total')) === produced);
  const scored = await metric(url, 'aemon_windows_scored_total');
  run.kill('SIGTERM');
  const { code, stderr } = await run.done;
  assert.equal(code, 0, stderr.slice(-2000));

  const end = await admin.fetchTopicOffsets(n.topic);
  const committed = (await admin.fetchOffsets({ groupId: n.group, topics: [n.topic] }))[0]!.partitions;
  for (const p of end) {
    const c = committed.find((x) => x.partition === p.partition)!;
    assert.equal(Number(c.offset) < 0 ? 0 : Number(c.offset), Number(p.high), `partition ${p.partition}: committed ${c.offset}, end ${p.high}`);
  }
  // Every reading after each sensor's 200-reading bootstrap is scored: one window each.
  assert.equal(scored, produced - 4 * 200);
  const scores = await readAll(n.scores);
  assert.equal(scores.length, scored);
  assert.equal(new Set(scores.map((s) => (JSON.parse(s.value.toString()) as { id: string }).id)).size, scored, 'window ids are unique');

  const events = (await readAll(n.anomalies)).map((m) => JSON.parse(m.value.toString()) as { kind: string; sensor: string; start: string });
  const opened = events.filter((e) => e.kind === 'opened');
  const injected = JSON.parse(readFileSync(labelsFile, 'utf8')) as Array<{ sensor: string; start: number; end: number }>;
  const spanMs = (16 * 1000) / 20;
  const detected = injected.filter((i) => opened.some((e) => e.sensor === i.sensor && Date.parse(e.start) >= i.start && Date.parse(e.start) <= i.end + spanMs));
  assert.ok(injected.length >= 3, `only ${injected.length} anomalies injected`);
  // How many are caught is detection quality (measured by `aemon evaluate`); here: events flow.
  assert.ok(detected.length >= 1, `detected ${detected.length} of ${injected.length} injected anomalies`);
  process.stderr.write(`# run: ${produced} readings, ${scored} windows, ${injected.length} injected, ${detected.length} detected, ${opened.length} opened\n`);
});

test('poison messages land in the DLQ with their reason and origin; the good readings around them are all scored', async () => {
  await setup();
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 1 }], waitForLeaders: true });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const t0 = Date.UTC(2026, 0, 1);
  const good = (i: number) => ({ key: 's1', value: JSON.stringify({ sensor: 's1', ts: t0 + i * 1000, values: { a: Math.sin(i / 5), b: Math.cos(i / 7) } }) });
  const poison = [
    { key: 's1', value: 'not json {', reason: 'not_json' },
    { key: 's1', value: JSON.stringify({ sensor: 's1', ts: t0 + 250_500, values: { a: 'NaN', b: 1 } }), reason: 'non_finite' },
    { key: 's1', value: JSON.stringify({ sensor: 's1', values: { a: 1, b: 1 }, ts: 'yesterday' }), reason: 'bad_timestamp' },
    { key: 's1', value: JSON.stringify({ sensor: 's1', ts: t0 + 250_700, values: { a: 1, c: 2 } }), reason: 'missing_channel' },
    { key: 's1', value: JSON.stringify({ sensor: 's1', ts: t0 + 250_800, values: { a: 1, b: 2, pad: 'x'.repeat(900_000) } }), reason: 'non_finite' },
  ];
  const messages = [];
  for (let i = 0; i < 300; i++) {
    messages.push(good(i));
    if (i === 250) messages.push(...poison.map(({ key, value }) => ({ key, value })));
  }
  for (let i = 0; i < messages.length; i += 50) await producer.send({ topic: n.topic, messages: messages.slice(i, i + 50), acks: -1 });
  await producer.disconnect();

  const run = startRun({ AEMON_KAFKA_BROKERS: brokers, AEMON_KAFKA_TOPICS: n.topic, AEMON_KAFKA_GROUP_ID: n.group, AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies, AEMON_KAFKA_SCORES_TOPIC: n.scores, AEMON_KAFKA_DLQ_TOPIC: n.dlq });
  const url = await run.url;
  await until('all records consumed', async () => (await metric(url, 'aemon_readings_total')) === messages.length);
  assert.equal(await metric(url, 'aemon_readings_rejected_total'), poison.length);
  assert.equal(await metric(url, 'aemon_windows_scored_total'), 300 - 200);
  run.kill('SIGTERM');
  assert.equal((await run.done).code, 0);

  const dlq = await readAll(n.dlq);
  assert.deepEqual(dlq.map((d) => d.headers['aemon.reason']).sort(), poison.map((p) => p.reason).sort());
  for (const d of dlq) {
    assert.equal(d.key, 's1');
    assert.equal(d.headers['aemon.source.topic'], n.topic);
    assert.ok(poison.some((p) => p.value === d.value.toString()), 'the DLQ holds the original bytes');
  }
  const offsets = dlq.map((d) => Number(d.headers['aemon.source.offset'])).sort((a, b) => a - b);
  assert.deepEqual(offsets, [251, 252, 253, 254, 255]);
});

test('a restart rebuilds windows from before the committed offset: no gap, no re-emission, the same scores as one uninterrupted run', async () => {
  await setup();
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 2 }], waitForLeaders: true });
  const models = mkdtempSync(join(tmpdir(), 'aemon-kafka-model-'));
  const first = await simulateTo(n.topic, ['--sensors', '3', '--rate', '10', '--duration', '40s', '--seed', '5']);
  const base = { AEMON_KAFKA_BROKERS: brokers, AEMON_KAFKA_TOPICS: n.topic, AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies, AEMON_KAFKA_DLQ_TOPIC: n.dlq };

  // Run 1 learns the model (saved in model.dir), scores the first part, stops.
  const r1 = startRun({ ...base, AEMON_KAFKA_GROUP_ID: n.group, AEMON_KAFKA_SCORES_TOPIC: n.scores, AEMON_MODEL_DIR: join(models, 'a') });
  const u1 = await r1.url;
  await until('first part consumed', async () => (await metric(u1, 'aemon_readings_total')) === first);
  r1.kill('SIGTERM');
  assert.equal((await r1.done).code, 0);
  cpSync(join(models, 'a'), join(models, 'b'), { recursive: true });

  const second = await simulateTo(n.topic, ['--sensors', '3', '--rate', '10', '--duration', '20s', '--seed', '5', '--start', '2026-01-01T00:00:40Z']);
  // Run 2 (same group) resumes: it must score every new reading at once, with windows rebuilt.
  const r2 = startRun({ ...base, AEMON_KAFKA_GROUP_ID: n.group, AEMON_KAFKA_SCORES_TOPIC: n.scores, AEMON_MODEL_DIR: join(models, 'a') });
  const u2 = await r2.url;
  await until('second part consumed', async () => (await metric(u2, 'aemon_readings_total')) === second);
  assert.equal(await metric(u2, 'aemon_windows_scored_total'), second, 'every new reading scored: windows were rebuilt, not restarted');
  r2.kill('SIGTERM');
  assert.equal((await r2.done).code, 0);

  // Run 3: one uninterrupted pass over everything with the same model, another group.
  const r3 = startRun({ ...base, AEMON_KAFKA_GROUP_ID: `${n.group}.whole`, AEMON_KAFKA_SCORES_TOPIC: `${n.scores}.whole`, AEMON_MODEL_DIR: join(models, 'b') });
  const u3 = await r3.url;
  await until('whole topic consumed', async () => (await metric(u3, 'aemon_readings_total')) === first + second);
  r3.kill('SIGTERM');
  assert.equal((await r3.done).code, 0);

  const byId = (msgs: Array<{ value: Buffer }>) => new Map(msgs.map((m) => {
    const v = JSON.parse(m.value.toString()) as { id: string; score: number };
    return [v.id, v.score] as const;
  }));
  const interrupted = await readAll(n.scores);
  const whole = byId(await readAll(`${n.scores}.whole`));
  const split = byId(interrupted);
  assert.equal(interrupted.length, split.size, 'no window emitted twice');
  const afterBootstrap = [...whole.keys()].filter((id) => split.has(id));
  // The uninterrupted run scored from a loaded model (no bootstrap), so it has more windows; every
  // window the interrupted runs emitted after the bootstrap has the same score there.
  assert.ok(afterBootstrap.length >= second, `${afterBootstrap.length} common windows`);
  for (const id of afterBootstrap) assert.equal(split.get(id), whole.get(id), `window ${id}`);
  const secondPart = [...split.keys()].filter((id) => Number(id.split('@')[1]) >= Date.parse('2026-01-01T00:00:40Z'));
  assert.equal(secondPart.length, second);
});
