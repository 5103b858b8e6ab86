import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import {
  committedToEnd,
  metric,
  names,
  readAll,
  sharedModel,
  simulateTo,
  startRun,
  until,
  type RunningAemon,
} from './aemon.js';
import { sharedBroker } from './broker.js';

// A member of the group frozen (SIGSTOP) for longer than the session timeout, as a long GC pause
// or a starved VM freezes it: the group gives its partitions to the other member, which reads and
// commits past them; then it thaws (SIGCONT), still holding what it had read before.

let admin: Admin | undefined;
after(async () => {
  await admin?.disconnect();
});

const SESSION_MS = 6_000;

async function groupOf(a: Admin, group: string): Promise<{ state: string; members: number }> {
  const d = (await a.describeGroups([group])).groups[0];
  return { state: d?.state ?? '', members: d?.members.length ?? 0 };
}

/** `records` of a topic as id → value text, and the ids written more than once with other bytes. */
function byId(msgs: Array<{ value: Buffer }>, id: (v: { id: string; kind?: string }) => string) {
  const out = new Map<string, string>();
  const divergent: string[] = [];
  let copies = 0;
  for (const m of msgs) {
    const text = m.value.toString();
    const k = id(JSON.parse(text) as { id: string; kind?: string });
    const seen = out.get(k);
    if (seen !== undefined) {
      copies++;
      if (seen !== text) divergent.push(k);
      continue;
    }
    out.set(k, text);
  }
  return { out, divergent, copies };
}

const relevant = (r: RunningAemon): string =>
  r
    .log()
    .split('\n')
    .filter((l) => /joined|committed by another|void|rebuil|warn|error/i.test(l))
    .slice(-40)
    .join('\n');

test('a member frozen past its session and thawed: the outputs are what a fault-free run writes, and nothing read under its ended assignments is written', async () => {
  const broker = await sharedBroker();
  const kafka = new Kafka({ clientId: 'aemon-test-stall', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 4 }], waitForLeaders: true });
  const brokers = broker.brokers.join(',');
  const sensors = 8;
  const dir = await sharedModel(
    'aemon-stall-',
    ['--sensors', String(sensors), '--rate', '10', '--duration', '30s', '--seed', '9'],
    ['a', 'b', 'whole'],
  );
  const part = (start: string) =>
    simulateTo(brokers, n.topic, [
      '--sensors',
      String(sensors),
      '--rate',
      '10',
      '--duration',
      '40s',
      '--seed',
      '9',
      '--start',
      start,
    ]);
  const base = {
    AEMON_KAFKA_BROKERS: brokers,
    AEMON_KAFKA_TOPICS: n.topic,
    AEMON_KAFKA_COMMIT_INTERVAL_MS: '200',
    AEMON_KAFKA_SESSION_TIMEOUT_MS: String(SESSION_MS),
    AEMON_KAFKA_STATE_TOPIC: `${n.topic}.state`,
    AEMON_DETECTION_DYNAMIC_WARMUP: '20',
    AEMON_DETECTION_DYNAMIC_WINDOW: '200',
  };
  const group = {
    ...base,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_SCORES_TOPIC: n.scores,
    AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
    AEMON_KAFKA_DLQ_TOPIC: n.dlq,
  };
  const a = startRun({ ...group, AEMON_MODEL_DIR: join(dir, 'a') });
  const b = startRun({ ...group, AEMON_MODEL_DIR: join(dir, 'b') });
  await Promise.all([a.url, b.url]);
  const stableWith = (members: number) => async () => {
    const g = await groupOf(admin!, n.group);
    return g.state === 'Stable' && g.members === members;
  };
  await until('both instances in the group', stableWith(2), 60_000, [a, b]);

  let total = await part('2026-01-01T00:00:30Z');
  await until('the first part committed', () => committedToEnd(admin!, n.group, n.topic), 120_000, [a, b]);
  // A is frozen; the second part comes meanwhile, and B reads and commits it, A's partitions too.
  process.kill(a.pid, 'SIGSTOP');
  try {
    total += await part('2026-01-01T00:01:10Z');
    await until('B alone in the group', stableWith(1), 60_000, [b]);
    await until('B committed the second part', () => committedToEnd(admin!, n.group, n.topic), 120_000, [b]);
    // B leaves while A is still frozen, so that A, once back, is given its own partitions again
    // (as well as B's): partitions another member read and committed past while A held them.
    b.kill('SIGTERM');
    const db = await b.done;
    assert.equal(db.code, 0, db.log.slice(-2000));
  } finally {
    process.kill(a.pid, 'SIGCONT');
  }
  await until('A back in the group', stableWith(1), 60_000, [a]);
  total += await part('2026-01-01T00:01:50Z');
  await until('the third part committed', () => committedToEnd(admin!, n.group, n.topic), 120_000, [a]);
  a.kill('SIGTERM');
  const da = await a.done;
  assert.equal(da.code, 0, da.log.slice(-2000));
  // The group dropped A while it was frozen: it came back under a new member id and set up again
  // the partitions B had committed meanwhile.
  assert.match(da.log, /committed by another member while this one was out of the group/, relevant(a));

  const whole = startRun({
    ...base,
    AEMON_KAFKA_GROUP_ID: `${n.group}.whole`,
    AEMON_KAFKA_SCORES_TOPIC: `${n.scores}.whole`,
    AEMON_KAFKA_ANOMALIES_TOPIC: `${n.anomalies}.whole`,
    AEMON_KAFKA_DLQ_TOPIC: `${n.dlq}.whole`,
    AEMON_MODEL_DIR: join(dir, 'whole'),
  });
  const uw = await whole.url;
  await until(
    'the fault-free run read the whole stream',
    async () => (await metric(uw, 'aemon_readings_total')) === total,
  );
  whole.kill('SIGTERM');
  assert.equal((await whole.done).code, 0);

  const expected = byId(await readAll(kafka, admin, `${n.scores}.whole`), (v) => v.id).out;
  const got = byId(await readAll(kafka, admin, n.scores), (v) => v.id);
  assert.equal(expected.size, total - sensors * 15, 'the fault-free run scored every reading with a full window');
  assert.deepEqual(got.divergent.slice(0, 5), [], `${got.divergent.length} windows written again otherwise`);
  const missing = [...expected.keys()].filter((id) => !got.out.has(id));
  assert.deepEqual(missing.slice(0, 5), [], `${missing.length} windows missing\n${relevant(a)}`);
  const extra = [...got.out.keys()].filter((id) => !expected.has(id));
  assert.deepEqual(extra.slice(0, 5), [], `${extra.length} windows the fault-free run never wrote\n${relevant(a)}`);
  const differs = [...expected].filter(([id, text]) => got.out.get(id) !== text).map(([id]) => id);
  assert.deepEqual(differs.slice(0, 5), [], `${differs.length} windows differ from the fault-free run's`);

  const eventId = (v: { id: string; kind?: string }) => `${v.id}/${v.kind}`;
  const events = byId(await readAll(kafka, admin, `${n.anomalies}.whole`), eventId).out;
  const gotEvents = byId(await readAll(kafka, admin, n.anomalies), eventId);
  assert.deepEqual(gotEvents.divergent, []);
  assert.deepEqual(gotEvents.out, events);
});
