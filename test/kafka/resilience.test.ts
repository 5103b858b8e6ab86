import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners, type Admin } from 'kafkajs';
import { aemon } from '../cli/run.js';
import { committedToEnd, FAST, metric, names, readAll, sharedModel, simulateTo, startRun, until } from './aemon.js';
import { launchBroker, SCRAM_USER, sharedBroker, type Broker } from './broker.js';

// aemon run under the things that go wrong in production: credentials, a second instance, a
// broker restart, and a kill -9 in the middle of a stream.

let admin: Admin;
let kafka: Kafka;
let broker: Broker;

async function setup(): Promise<void> {
  if (admin) return;
  broker = await sharedBroker();
  kafka = new Kafka({ clientId: 'aemon-test', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
}
after(async () => {
  await admin?.disconnect();
});

const ids = (msgs: Array<{ value: Buffer }>) =>
  msgs.map((m) => JSON.parse(m.value.toString()) as { id: string; sensor: string; score: number; rawScore: number });

test('SASL/SCRAM: the right password consumes; a wrong one stops start-up with a clear error and never logs the secret', async (t) => {
  await setup();
  if (!broker.saslBrokers) {
    t.skip('KAFKA_BROKERS names an external cluster without the test SASL listener');
    return;
  }
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 1 }], waitForLeaders: true });
  const produced = await simulateTo(broker.brokers.join(','), n.topic, [
    '--sensors',
    '1',
    '--rate',
    '10',
    '--duration',
    '30s',
    '--seed',
    '2',
  ]);
  const sasl = {
    AEMON_KAFKA_BROKERS: broker.saslBrokers.join(','),
    AEMON_KAFKA_TOPICS: n.topic,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_SASL_MECHANISM: SCRAM_USER.mechanism,
    AEMON_KAFKA_SASL_USERNAME: SCRAM_USER.username,
  };
  const good = startRun({ ...sasl, AEMON_KAFKA_SASL_PASSWORD: SCRAM_USER.password, AEMON_LOG_LEVEL: 'debug' });
  const url = await good.url;
  await until('readings consumed over SASL', async () => (await metric(url, 'aemon_readings_total')) === produced);
  good.kill('SIGTERM');
  const g = await good.done;
  assert.equal(g.code, 0, g.log.slice(-2000));
  assert.ok(!g.log.includes(SCRAM_USER.password + '"'), 'the password appears in the log');

  const bad = await aemon(['run'], {
    env: { ...FAST, ...sasl, AEMON_KAFKA_SASL_PASSWORD: 'wrong-password', AEMON_METRICS_PORT: '0' },
  });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /aemon: AEMON_KAFKA: authentication failed at 127\.0\.0\.1:\d+/);
  assert.ok(!bad.stderr.includes('wrong-password'), 'the password appears in the error');
});

test('two instances in one group split the sensors; when one stops, the other takes its sensors over', async () => {
  await setup();
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 6 }], waitForLeaders: true });
  const brokers = broker.brokers.join(',');
  // Both instances score with the same model (as instances sharing a registry would), so the
  // survivor can score the sensors it takes over at once.
  const dir = await sharedModel(
    'aemon-pair-',
    ['--sensors', '12', '--rate', '5', '--duration', '60s', '--seed', '4'],
    ['a', 'b'],
  );
  const base = {
    AEMON_KAFKA_BROKERS: brokers,
    AEMON_KAFKA_TOPICS: n.topic,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
    AEMON_KAFKA_SESSION_TIMEOUT_MS: '10000',
  };
  const a = startRun({ ...base, AEMON_KAFKA_SCORES_TOPIC: `${n.scores}.a`, AEMON_MODEL_DIR: join(dir, 'a') });
  const b = startRun({ ...base, AEMON_KAFKA_SCORES_TOPIC: `${n.scores}.b`, AEMON_MODEL_DIR: join(dir, 'b') });
  const [ua, ub] = await Promise.all([a.url, b.url]);
  // Both joined and the group settled: every partition has exactly one owner.
  await until('both instances assigned', async () => {
    const d = await admin.describeGroups([n.group]);
    return d.groups[0]?.state === 'Stable' && d.groups[0].members.length === 2;
  });
  const first = await simulateTo(brokers, n.topic, [
    '--sensors',
    '12',
    '--rate',
    '5',
    '--duration',
    '60s',
    '--seed',
    '4',
    '--start',
    '2026-01-01T00:01:00Z',
  ]);
  await until(
    'first part consumed by the pair',
    async () => (await metric(ua, 'aemon_readings_total')) + (await metric(ub, 'aemon_readings_total')) === first,
    90_000,
    [a, b],
  );
  const scoredA = ids(await readAll(kafka, admin, `${n.scores}.a`));
  const scoredB = ids(await readAll(kafka, admin, `${n.scores}.b`));
  const sensorsA = new Set(scoredA.map((s) => s.sensor));
  const sensorsB = new Set(scoredB.map((s) => s.sensor));
  assert.ok(sensorsA.size > 0 && sensorsB.size > 0, `A scored ${sensorsA.size} sensors, B ${sensorsB.size}`);
  assert.deepEqual(
    [...sensorsA].filter((s) => sensorsB.has(s)),
    [],
    'a sensor was scored by both instances',
  );
  assert.equal(sensorsA.size + sensorsB.size, 12);

  a.kill('SIGTERM');
  assert.equal((await a.done).code, 0);
  await until('B owns every partition', async () => {
    const d = await admin.describeGroups([n.group]);
    return d.groups[0]?.state === 'Stable' && d.groups[0].members.length === 1;
  });
  const before = await metric(ub, 'aemon_readings_total');
  const second = await simulateTo(brokers, n.topic, [
    '--sensors',
    '12',
    '--rate',
    '5',
    '--duration',
    '20s',
    '--seed',
    '4',
    '--start',
    '2026-01-01T00:02:00Z',
  ]);
  await until('B committed the end of every partition', () => committedToEnd(admin, n.group, n.topic), 240_000, [b]);
  assert.ok((await metric(ub, 'aemon_readings_total')) >= before + second, 'B read every new record');
  const laterB = ids(await readAll(kafka, admin, `${n.scores}.b`)).filter(
    (x) => Number(x.id.split('@')[1]) >= Date.UTC(2026, 0, 1, 0, 2),
  );
  // B took A's sensors over with their windows rebuilt: every new reading of every sensor scored
  // (a window re-emitted after a re-delivery is the same window: same id, same score).
  const byId = new Map<string, number>();
  for (const x of laterB) {
    if (byId.has(x.id)) assert.equal(x.score, byId.get(x.id), `window ${x.id} re-emitted with another score`);
    byId.set(x.id, x.score);
  }
  const perSensor = new Map<string, number>();
  for (const id of byId.keys()) perSensor.set(id.split('@')[0]!, (perSensor.get(id.split('@')[0]!) ?? 0) + 1);
  const bLog = b
    .log()
    .split('\n')
    .filter((l) => /rebuil|joined|skipped|seek|warn|error/i.test(l))
    .slice(-60)
    .join('\n');
  assert.equal(byId.size, second, `windows per sensor: ${JSON.stringify(Object.fromEntries(perSensor))}\n${bLog}`);
  assert.deepEqual(new Set(laterB.map((x) => x.sensor)).size, 12);
  b.kill('SIGTERM');
  assert.equal((await b.done).code, 0);
});

test('a broker restart mid-stream: aemon reconnects and goes on, nothing lost', async () => {
  const own = await launchBroker();
  try {
    const k = new Kafka({ clientId: 'aemon-test-restart', brokers: own.brokers, logLevel: logLevel.NOTHING });
    const adm = k.admin();
    await adm.connect();
    const n = names();
    await adm.createTopics({ topics: [{ topic: n.topic, numPartitions: 2 }], waitForLeaders: true });
    await adm.disconnect();
    const brokers = own.brokers.join(',');
    const first = await simulateTo(brokers, n.topic, [
      '--sensors',
      '3',
      '--rate',
      '10',
      '--duration',
      '40s',
      '--seed',
      '6',
    ]);
    const run = startRun({
      AEMON_KAFKA_BROKERS: brokers,
      AEMON_KAFKA_TOPICS: n.topic,
      AEMON_KAFKA_GROUP_ID: n.group,
      AEMON_KAFKA_SCORES_TOPIC: n.scores,
    });
    const url = await run.url;
    await until('first part consumed', async () => (await metric(url, 'aemon_readings_total')) === first);
    await own.restart();
    const second = await simulateTo(brokers, n.topic, [
      '--sensors',
      '3',
      '--rate',
      '10',
      '--duration',
      '20s',
      '--seed',
      '6',
      '--start',
      '2026-01-01T00:00:40Z',
    ]);
    const kc = new Kafka({ clientId: 'aemon-test-restart-w', brokers: own.brokers, logLevel: logLevel.NOTHING });
    const watch = kc.admin();
    await watch.connect();
    await until('every record committed after the restart', () => committedToEnd(watch, n.group, n.topic), 180_000, [
      run,
    ]);
    await watch.disconnect();
    assert.ok((await metric(url, 'aemon_readings_total')) >= first + second);
    // kafkajs may fetch records again after the restart (an out-of-range reset to the earliest
    // offset); aemon skips what it read already instead of rejecting every copy as a duplicate.
    const rejected = (await (await fetch(`${url}/metrics`)).text())
      .split('\n')
      .filter((l) => l.startsWith('aemon_readings_rejected_total{'));
    const relevant = run
      .log()
      .split('\n')
      .filter((l) => /joined|skipped|rebuil|out of range|crash/i.test(l))
      .slice(-30)
      .join('\n');
    assert.equal(await metric(url, 'aemon_readings_rejected_total'), 0, `${rejected.join('\n')}\n${relevant}`);
    run.kill('SIGTERM');
    const done = await run.done;
    assert.equal(done.code, 0, done.log.slice(-2000));
    const k2 = new Kafka({ clientId: 'aemon-test-restart-2', brokers: own.brokers, logLevel: logLevel.NOTHING });
    const adm2 = k2.admin();
    await adm2.connect();
    const scores = ids(await readAll(k2, adm2, n.scores));
    const byId = new Map<string, number>();
    for (const x of scores) {
      if (byId.has(x.id)) assert.equal(x.score, byId.get(x.id), `window ${x.id} re-emitted with another score`);
      byId.set(x.id, x.score);
    }
    assert.equal(
      byId.size,
      first + second - 3 * 200,
      'every reading after the bootstrap scored (re-emissions identical)',
    );
    await adm2.disconnect();
  } finally {
    await own.stop();
  }
});

test('kill -9 mid-stream, then restart: the scores and anomalies topics hold every window and event an uninterrupted run emits, identical (the decision state goes on from the committed one)', async () => {
  await setup();
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 2 }], waitForLeaders: true });
  const brokers = broker.brokers.join(',');
  // One model for every run, trained on a simulated file, so scores are comparable.
  const dir = await sharedModel(
    'aemon-kill-',
    ['--sensors', '4', '--rate', '10', '--duration', '30s', '--seed', '8'],
    ['model', 'model-whole'],
  );

  // The stream, with a few bad records in it.
  const produced = await simulateTo(brokers, n.topic, [
    '--sensors',
    '4',
    '--rate',
    '10',
    '--duration',
    '120s',
    '--seed',
    '8',
    '--start',
    '2026-01-01T00:00:30Z',
  ]);
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({
    topic: n.topic,
    messages: ['bad 1', 'bad 2', 'bad 3'].map((v) => ({ key: 'sensor-1', value: v })),
    acks: -1,
  });
  await producer.disconnect();
  const total = produced + 3;

  // A short session, so the group gives the killed member's partitions up quickly.
  const base = {
    AEMON_KAFKA_BROKERS: brokers,
    AEMON_KAFKA_TOPICS: n.topic,
    AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
    AEMON_KAFKA_COMMIT_INTERVAL_MS: '200',
    AEMON_KAFKA_SESSION_TIMEOUT_MS: '6000',
    AEMON_KAFKA_STATE_TOPIC: `${n.topic}.state`,
    // A short history, so the decisions depend on it within this stream.
    AEMON_DETECTION_DYNAMIC_WARMUP: '20',
    AEMON_DETECTION_DYNAMIC_WINDOW: '200',
  };
  const r1 = startRun({
    ...base,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_SCORES_TOPIC: n.scores,
    AEMON_KAFKA_DLQ_TOPIC: n.dlq,
    AEMON_MODEL_DIR: join(dir, 'model'),
  });
  const u1 = await r1.url;
  await until('about half consumed', async () => (await metric(u1, 'aemon_readings_total')) >= total / 2);
  // Killed after its first commit on each partition: the commit metadata is what tells the next
  // owner to look for what this one dead-lettered after it (with no commit at all, the next owner
  // reads from the start and dead-letters again, at least once).
  await until('a commit on each partition', async () =>
    (await admin.fetchOffsets({ groupId: n.group, topics: [n.topic] }))[0]!.partitions.every(
      (p) => Number(p.offset) > 0,
    ),
  );
  r1.kill('SIGKILL');
  await r1.done;
  const r2 = startRun({
    ...base,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_SCORES_TOPIC: n.scores,
    AEMON_KAFKA_DLQ_TOPIC: n.dlq,
    AEMON_MODEL_DIR: join(dir, 'model'),
  });
  const u2 = await r2.url;
  await until(
    'the rest consumed (committed offsets reach the end offsets)',
    () => committedToEnd(admin, n.group, n.topic),
    180_000,
    [r2],
  );
  assert.ok((await metric(u2, 'aemon_readings_total')) > 0);
  r2.kill('SIGTERM');
  assert.equal((await r2.done).code, 0);

  const whole = startRun({
    ...base,
    AEMON_KAFKA_GROUP_ID: `${n.group}.whole`,
    AEMON_KAFKA_ANOMALIES_TOPIC: `${n.anomalies}.whole`,
    AEMON_KAFKA_SCORES_TOPIC: `${n.scores}.whole`,
    AEMON_KAFKA_DLQ_TOPIC: `${n.dlq}.whole`,
    AEMON_MODEL_DIR: join(dir, 'model-whole'),
  });
  const uw = await whole.url;
  await until('the whole stream consumed once', async () => (await metric(uw, 'aemon_readings_total')) === total);
  whole.kill('SIGTERM');
  assert.equal((await whole.done).code, 0);

  // Every score record (the decision's score and anomaly flag with the raw score) and every
  // anomaly event is the uninterrupted run's; a window the killed run wrote after its last commit
  // is written again, identical.
  const records = (msgs: Array<{ value: Buffer }>, id: (v: { id: string; kind?: string }) => string) =>
    msgs.map((m) => {
      const text = m.value.toString();
      return [id(JSON.parse(text) as { id: string; kind?: string }), text] as const;
    });
  const expected = new Map(records(await readAll(kafka, admin, `${n.scores}.whole`), (v) => v.id));
  const got = new Map<string, string>();
  for (const [id, text] of records(await readAll(kafka, admin, n.scores), (v) => v.id)) {
    if (got.has(id)) assert.equal(text, got.get(id), `window ${id} re-emitted otherwise`);
    got.set(id, text);
  }
  assert.equal(
    expected.size,
    produced - 4 * 15,
    'the uninterrupted run scored every reading with a full window (model loaded)',
  );
  assert.deepEqual(
    [...expected.keys()].filter((id) => !got.has(id)),
    [],
    'windows lost by the kill',
  );
  const differs = [...expected].filter(([id, text]) => got.get(id) !== text);
  assert.deepEqual(differs.slice(0, 3), [], `${differs.length} windows differ from the uninterrupted run's`);
  const eventId = (v: { id: string; kind?: string }) => `${v.id}/${v.kind}`;
  const events = new Map(records(await readAll(kafka, admin, `${n.anomalies}.whole`), eventId));
  assert.ok(events.size > 0, 'the stream opens anomalies');
  const gotEvents = new Map(records(await readAll(kafka, admin, n.anomalies), eventId));
  assert.deepEqual(gotEvents, events);
  // Every bad record is dead-lettered once (a record the killed run dead-lettered past its last
  // commit is found in the DLQ by the next owner and not written again; the next test makes sure
  // that case happens).
  const dlq = await readAll(kafka, admin, n.dlq);
  assert.deepEqual(dlq.map((d) => d.value.toString()).sort(), ['bad 1', 'bad 2', 'bad 3']);
});

test('a record an earlier owner dead-lettered past its last commit is not dead-lettered again', async () => {
  await setup();
  const n = names();
  await admin.createTopics({
    topics: [
      { topic: n.topic, numPartitions: 1 },
      { topic: n.dlq, numPartitions: 1 },
    ],
    waitForLeaders: true,
  });
  const brokers = broker.brokers.join(',');
  // Offsets 0–2 are bad records, then a stream of good readings.
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({
    topic: n.topic,
    messages: ['bad 0', 'bad 1', 'bad 2'].map((v) => ({ key: 'sensor-1', value: v })),
    acks: -1,
  });
  const produced = await simulateTo(brokers, n.topic, [
    '--sensors',
    '1',
    '--rate',
    '10',
    '--duration',
    '30s',
    '--seed',
    '3',
  ]);

  // What an owner killed mid-stream leaves behind: offset 1 committed (with the time its oldest
  // in-flight record was read), and offset 1 dead-lettered after that but never committed.
  const dlqSince = Date.now() - 1_000;
  const previous = kafka.consumer({ groupId: n.group });
  await previous.connect();
  await previous.subscribe({ topics: [n.topic], fromBeginning: true });
  let committed!: () => void;
  const done = new Promise<void>((r) => (committed = r));
  await previous.run({
    autoCommit: false,
    eachBatch: async () => {
      await previous.commitOffsets([
        { topic: n.topic, partition: 0, offset: '1', metadata: JSON.stringify({ dlqSince }) },
      ]);
      committed();
    },
  });
  await done;
  await previous.disconnect();
  const headers = {
    'aemon.reason': 'not_json',
    'aemon.detail': 'not JSON',
    'aemon.source.topic': n.topic,
    'aemon.source.partition': '0',
    'aemon.source.offset': '1',
  };
  await producer.send({ topic: n.dlq, messages: [{ key: 'sensor-1', value: 'bad 1', headers }], acks: -1 });
  await producer.disconnect();

  const run = startRun({
    AEMON_KAFKA_BROKERS: brokers,
    AEMON_KAFKA_TOPICS: n.topic,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
    AEMON_KAFKA_DLQ_TOPIC: n.dlq,
  });
  const url = await run.url;
  await until(
    'the topic consumed (committed offsets reach the end offsets)',
    () => committedToEnd(admin, n.group, n.topic),
    90_000,
    [run],
  );
  // Offset 1 is read again but counted (and dead-lettered) by its earlier owner, like a record
  // read again to rebuild windows; offset 0 is not read again.
  assert.equal(await metric(url, 'aemon_readings_total'), produced + 1);
  assert.equal(await metric(url, 'aemon_readings_rejected_total'), 1);
  run.kill('SIGTERM');
  const r = await run.done;
  assert.equal(r.code, 0, r.log.slice(-2000));
  assert.match(r.log, /1 records past the committed offset 1 were dead-lettered already/);
  const dlq = await readAll(kafka, admin, n.dlq);
  assert.deepEqual(
    dlq.map((d) => `${d.value.toString()} @${d.headers['aemon.source.offset']}`),
    ['bad 1 @1', 'bad 2 @2'],
  );
});
