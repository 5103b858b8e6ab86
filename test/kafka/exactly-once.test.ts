import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners, type Admin } from 'kafkajs';
import { installedAemonBin } from '../cli/bin.js';
import { committedToEnd, metric, names, sharedModel, simulateTo, startRun, until } from './aemon.js';
import { sharedBroker, type Broker } from './broker.js';

// kafka.exactlyOnce: outputs and offsets in one Kafka transaction, so a kill -9 leaves nothing
// twice for a consumer reading with isolation.level=read_committed (read here by kcat, i.e.
// librdkafka, not by the client aemon writes with).

let admin: Admin | undefined;
after(async () => {
  await admin?.disconnect();
});

/** Every value of a topic as kcat reads it with the given isolation level. */
function kcatValues(broker: Broker, topic: string, isolation: 'read_committed' | 'read_uncommitted'): string[] {
  const r = spawnSync(
    'kcat',
    [
      '-b',
      broker.brokers.join(','),
      '-C',
      '-t',
      topic,
      '-X',
      `isolation.level=${isolation}`,
      '-e',
      '-o',
      'beginning',
      '-q',
      '-f',
      '%s\n',
    ],
    { encoding: 'utf8', timeout: 60_000, maxBuffer: 256 * 1024 * 1024 },
  );
  if (r.error) assert.fail(`kcat could not run (${r.error.message}): run npm run test:setup`);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

test('exactlyOnce: `aemon run` killed with SIGKILL mid-stream and restarted leaves every window score, anomaly event and dead letter exactly once for read_committed, and the offsets at the end', async () => {
  const broker = await sharedBroker();
  const kafka = new Kafka({ clientId: 'aemon-test', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 2 }], waitForLeaders: true });
  const brokers = broker.brokers.join(',');
  const dir = await sharedModel(
    'aemon-eos-',
    ['--sensors', '4', '--rate', '10', '--duration', '30s', '--seed', '8'],
    ['model'],
  );
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
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });
  await producer.connect();
  const bad = ['bad 1', 'bad 2', 'bad 3', 'bad 4'];
  // Spread over the stream's two partitions by key, so both partitions have a dead letter.
  await producer.send({
    topic: n.topic,
    messages: bad.map((v, i) => ({ key: `sensor-${i}`, value: v })),
    acks: -1,
  });
  await producer.disconnect();
  const total = produced + bad.length;

  const env = {
    AEMON_KAFKA_BROKERS: brokers,
    AEMON_KAFKA_TOPICS: n.topic,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
    AEMON_KAFKA_SCORES_TOPIC: n.scores,
    AEMON_KAFKA_DLQ_TOPIC: n.dlq,
    AEMON_KAFKA_COMMIT_INTERVAL_MS: '200',
    AEMON_KAFKA_SESSION_TIMEOUT_MS: '6000',
    AEMON_KAFKA_EXACTLY_ONCE: 'true',
    // The same id across the restart: the new process's producer fences the killed one's and
    // aborts the transaction it left open.
    AEMON_KAFKA_TRANSACTIONAL_ID: `aemon-test-${n.group}`,
    AEMON_MODEL_DIR: join(dir, 'model'),
  };
  const bin = installedAemonBin();
  const r1 = startRun(env, { bin });
  const u1 = await r1.url;
  await until('about half consumed', async () => (await metric(u1, 'aemon_readings_total')) >= total / 2, 120_000, [
    r1,
  ]);
  r1.kill('SIGKILL');
  assert.equal((await r1.done).code, null, 'killed, not exited');
  const r2 = startRun(env, { bin });
  const u2 = await r2.url;
  await until(
    'the rest consumed (committed offsets reach the end)',
    () => committedToEnd(admin!, n.group, n.topic),
    180_000,
    [r2],
  );
  assert.ok((await metric(u2, 'aemon_readings_total')) > 0, 'the restarted run read the rest');
  r2.kill('SIGTERM');
  const end = await r2.done;
  assert.equal(end.code, 0, end.log.slice(-3000));
  assert.ok(await committedToEnd(admin, n.group, n.topic), 'offsets at the end after the drain');

  const scores = kcatValues(broker, n.scores, 'read_committed').map((v) => (JSON.parse(v) as { id: string }).id);
  const dupScores = scores.filter((id, i) => scores.indexOf(id) !== i);
  assert.deepEqual(dupScores, [], 'windows twice in the scores topic');
  // Every reading with a full window (16 readings per sensor) has its window scored.
  assert.equal(new Set(scores).size, produced - 4 * 15, 'every window scored');
  const events = kcatValues(broker, n.anomalies, 'read_committed').map(
    (v) => (JSON.parse(v) as { id: string; kind: string }).id + '/' + (JSON.parse(v) as { kind: string }).kind,
  );
  assert.equal(new Set(events).size, events.length, `anomaly events twice: ${events.join(' ')}`);
  assert.deepEqual(kcatValues(broker, n.dlq, 'read_committed').sort(), bad, 'each bad record dead-lettered once');
  // What the killed run had sent in its open transaction is in the log, aborted: a reader that
  // does not honour transactions would see it.
  const uncommitted = kcatValues(broker, n.scores, 'read_uncommitted').length;
  console.log(
    `# scores: ${scores.length} committed, ${uncommitted} in the log (read_uncommitted); anomaly events ${events.length}`,
  );
  assert.ok(uncommitted >= scores.length);
});
