import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners, type Admin } from 'kafkajs';
import {
  FAST,
  metric,
  names,
  readAll as readTopic,
  sharedModel,
  simulateTo as simulate,
  startRun,
  until,
} from './aemon.js';
import { aemon } from '../cli/run.js';
import { installedAemonBin } from '../cli/bin.js';
import { sharedBroker } from './broker.js';
import { prepareTopics } from '../../src/cli/kafka.js';
import { parseConfig } from '../../src/config/load.js';
import { tempDir } from '../tempdir.js';

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

const readAll = (topic: string) => readTopic(kafka, admin, topic);
const simulateTo = (topic: string, args: string[]) => simulate(brokers, topic, args);

// What `aemon run` does against a real broker: consume as a group, score, publish anomalies and
// scores, dead-letter bad records, commit only what was written, and rebuild windows on restart.

test('`aemon run` (the installed command) consumes a topic, publishes anomalies and scores, and on SIGTERM to it drains, commits the end offsets and exits 0', async () => {
  await setup();
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 3 }], waitForLeaders: true });
  const labelsFile = join(tempDir('aemon-kafka-'), 'labels.json');
  const produced = await simulateTo(n.topic, [
    '--sensors',
    '4',
    '--rate',
    '20',
    '--duration',
    '90s',
    '--seed',
    '3',
    '--labels',
    labelsFile,
  ]);
  // The process a user or a supervisor starts: `aemon` from PATH, as a global install links it.
  const bin = installedAemonBin();
  const run = startRun(
    {
      AEMON_KAFKA_BROKERS: brokers,
      AEMON_KAFKA_TOPICS: n.topic,
      AEMON_KAFKA_GROUP_ID: n.group,
      AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
      AEMON_KAFKA_SCORES_TOPIC: n.scores,
      AEMON_KAFKA_DLQ_TOPIC: n.dlq,
    },
    { bin },
  );
  const url = await run.url;
  // The pid the supervisor holds is node running aemon's bin itself: the signal reaches aemon.
  const argv = readFileSync(`/proc/${run.pid}/cmdline`, 'utf8').split('\0');
  assert.deepEqual(argv.slice(0, 3), ['node', join(bin, 'aemon'), 'run'], 'its #! line exec-ed node in place');
  assert.match(realpathSync(`/proc/${run.pid}/exe`), /\/node[^/]*$/);
  await until('every reading consumed', async () => (await metric(url, 'aemon_readings_total')) === produced);
  const scored = await metric(url, 'aemon_windows_scored_total');
  run.kill('SIGTERM');
  const { code, log } = await run.done;
  assert.equal(code, 0, log.slice(-2000));
  assert.match(log, /SIGTERM: draining in-flight readings, committing offsets and leaving the group/);
  assert.match(
    log,
    new RegExp(`stopped after ${produced} records \\(${scored} windows scored`),
    'every record read was through the pipeline before it stopped',
  );

  const end = await admin.fetchTopicOffsets(n.topic);
  const committed = (await admin.fetchOffsets({ groupId: n.group, topics: [n.topic] }))[0]!.partitions;
  for (const p of end) {
    const c = committed.find((x) => x.partition === p.partition)!;
    assert.equal(
      Number(c.offset) < 0 ? 0 : Number(c.offset),
      Number(p.high),
      `partition ${p.partition}: committed ${c.offset}, end ${p.high}`,
    );
  }
  // Every reading after each sensor's 200-reading bootstrap is scored: one window each.
  assert.equal(scored, produced - 4 * 200);
  const scores = await readAll(n.scores);
  assert.equal(scores.length, scored);
  assert.equal(
    new Set(scores.map((s) => (JSON.parse(s.value.toString()) as { id: string }).id)).size,
    scored,
    'window ids are unique',
  );

  const events = (await readAll(n.anomalies)).map(
    (m) => JSON.parse(m.value.toString()) as { kind: string; sensor: string; start: string },
  );
  const opened = events.filter((e) => e.kind === 'opened');
  const injected = JSON.parse(readFileSync(labelsFile, 'utf8')) as Array<{
    sensor: string;
    start: number;
    end: number;
  }>;
  const spanMs = (16 * 1000) / 20;
  const detected = injected.filter((i) =>
    opened.some(
      (e) => e.sensor === i.sensor && Date.parse(e.start) >= i.start && Date.parse(e.start) <= i.end + spanMs,
    ),
  );
  assert.ok(injected.length >= 3, `only ${injected.length} anomalies injected`);
  // How many are caught is detection quality (measured by `aemon evaluate`); here: events flow.
  assert.ok(detected.length >= 1, `detected ${detected.length} of ${injected.length} injected anomalies`);
  process.stderr.write(
    `# run: ${produced} readings, ${scored} windows, ${injected.length} injected, ${detected.length} detected, ${opened.length} opened\n`,
  );
});

test('a model that cannot be trained stops `aemon run` with AEMON_TRAINING and exit 1; the readings after the bootstrap stay uncommitted', async () => {
  await setup();
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 1 }], waitForLeaders: true });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const t0 = Date.UTC(2026, 0, 1);
  const messages = Array.from({ length: 400 }, (_, i) => ({
    key: 's1',
    value: JSON.stringify({ sensor: 's1', ts: t0 + i * 1000, values: { a: Math.sin(i / 5), b: Math.cos(i / 7) } }),
  }));
  for (let i = 0; i < messages.length; i += 100)
    await producer.send({ topic: n.topic, messages: messages.slice(i, i + 100), acks: -1 });
  await producer.disconnect();
  // A learning rate no fit survives: the first model's loss is not finite ("training diverged").
  const run = startRun({
    AEMON_KAFKA_BROKERS: brokers,
    AEMON_KAFKA_TOPICS: n.topic,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
    AEMON_KAFKA_SCORES_TOPIC: n.scores,
    AEMON_KAFKA_DLQ_TOPIC: n.dlq,
    AEMON_MODEL_LEARNING_RATE: '1e30',
  });
  await run.url;
  // It ends by itself: no signal is sent.
  const { code, log } = await run.done;
  assert.equal(code, 1, log.slice(-2000));
  assert.match(
    log,
    /^aemon: AEMON_TRAINING: no model could be trained for channels \[a,b\]: training diverged: loss is (NaN|-?Infinity) in epoch \d+$/m,
  );
  const committed = (await admin.fetchOffsets({ groupId: n.group, topics: [n.topic] }))[0]!.partitions[0]!;
  // At most the 200 bootstrap readings (learned from, so done with) are committed: none of the
  // readings that would have been scored, so a restarted aemon with a working config scores them.
  assert.ok(Number(committed.offset) <= 200, `committed ${committed.offset} of ${messages.length}`);
  assert.equal((await readAll(n.scores)).length, 0, 'no score was published');
});

test('poison messages land in the DLQ with their reason and origin; the good readings around them are all scored', async () => {
  await setup();
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 1 }], waitForLeaders: true });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const t0 = Date.UTC(2026, 0, 1);
  const good = (i: number) => ({
    key: 's1',
    value: JSON.stringify({ sensor: 's1', ts: t0 + i * 1000, values: { a: Math.sin(i / 5), b: Math.cos(i / 7) } }),
  });
  const poison = [
    { key: 's1', value: 'not json {', reason: 'not_json' },
    {
      key: 's1',
      value: JSON.stringify({ sensor: 's1', ts: t0 + 250_500, values: { a: 'NaN', b: 1 } }),
      reason: 'non_finite',
    },
    {
      key: 's1',
      value: JSON.stringify({ sensor: 's1', values: { a: 1, b: 1 }, ts: 'yesterday' }),
      reason: 'bad_timestamp',
    },
    {
      key: 's1',
      value: JSON.stringify({ sensor: 's1', ts: t0 + 250_700, values: { a: 1, c: 2 } }),
      reason: 'missing_channel',
    },
    // Over reading.maxBytes (256 KiB): rejected before it is parsed.
    {
      key: 's1',
      value: JSON.stringify({ sensor: 's1', ts: t0 + 250_800, values: { a: 1, b: 2, pad: 'x'.repeat(900_000) } }),
      reason: 'too_large',
    },
  ];
  const messages = [];
  for (let i = 0; i < 300; i++) {
    messages.push(good(i));
    if (i === 250) messages.push(...poison.map(({ key, value }) => ({ key, value })));
  }
  for (let i = 0; i < messages.length; i += 50)
    await producer.send({ topic: n.topic, messages: messages.slice(i, i + 50), acks: -1 });
  await producer.disconnect();

  const run = startRun({
    AEMON_KAFKA_BROKERS: brokers,
    AEMON_KAFKA_TOPICS: n.topic,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
    AEMON_KAFKA_SCORES_TOPIC: n.scores,
    AEMON_KAFKA_DLQ_TOPIC: n.dlq,
  });
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
    assert.ok(
      poison.some((p) => p.value === d.value.toString()),
      'the DLQ holds the original bytes',
    );
  }
  const offsets = dlq.map((d) => Number(d.headers['aemon.source.offset'])).sort((a, b) => a - b);
  assert.deepEqual(offsets, [251, 252, 253, 254, 255]);
});

test('a restart rebuilds windows from before the committed offset: no gap, no re-emission, the same raw scores as one uninterrupted run', async () => {
  await setup();
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 2 }], waitForLeaders: true });
  const models = tempDir('aemon-kafka-model-');
  const first = await simulateTo(n.topic, ['--sensors', '3', '--rate', '10', '--duration', '40s', '--seed', '5']);
  const base = {
    AEMON_KAFKA_BROKERS: brokers,
    AEMON_KAFKA_TOPICS: n.topic,
    AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
    AEMON_KAFKA_DLQ_TOPIC: n.dlq,
  };

  // Run 1 learns the model (saved in model.dir), scores the first part, stops.
  const r1 = startRun({
    ...base,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_SCORES_TOPIC: n.scores,
    AEMON_MODEL_DIR: join(models, 'a'),
  });
  const u1 = await r1.url;
  await until('first part consumed', async () => (await metric(u1, 'aemon_readings_total')) === first, undefined, [r1]);
  r1.kill('SIGTERM');
  assert.equal((await r1.done).code, 0);
  cpSync(join(models, 'a'), join(models, 'b'), { recursive: true });

  const second = await simulateTo(n.topic, [
    '--sensors',
    '3',
    '--rate',
    '10',
    '--duration',
    '20s',
    '--seed',
    '5',
    '--start',
    '2026-01-01T00:00:40Z',
  ]);
  // Run 2 (same group) resumes: it must score every new reading at once, with windows rebuilt.
  const r2 = startRun({
    ...base,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_SCORES_TOPIC: n.scores,
    AEMON_MODEL_DIR: join(models, 'a'),
  });
  const u2 = await r2.url;
  await until('second part consumed', async () => (await metric(u2, 'aemon_readings_total')) === second, undefined, [
    r2,
  ]);
  assert.equal(
    await metric(u2, 'aemon_windows_scored_total'),
    second,
    'every new reading scored: windows were rebuilt, not restarted',
  );
  r2.kill('SIGTERM');
  assert.equal((await r2.done).code, 0);

  // Run 3: one uninterrupted pass over everything with the same model, another group.
  const r3 = startRun({
    ...base,
    AEMON_KAFKA_GROUP_ID: `${n.group}.whole`,
    AEMON_KAFKA_SCORES_TOPIC: `${n.scores}.whole`,
    AEMON_MODEL_DIR: join(models, 'b'),
  });
  const u3 = await r3.url;
  await until(
    'whole topic consumed',
    async () => (await metric(u3, 'aemon_readings_total')) === first + second,
    undefined,
    [r3],
  );
  r3.kill('SIGTERM');
  assert.equal((await r3.done).code, 0);

  const byId = (msgs: Array<{ value: Buffer }>) =>
    new Map(
      msgs.map((m) => {
        const v = JSON.parse(m.value.toString()) as { id: string; rawScore: number };
        return [v.id, v.rawScore] as const;
      }),
    );
  // The model's score of a window (rawScore) is the same on any run; the decision's score is not
  // compared: a restarted instance's decision state starts afresh.
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

test('instances starting together all find or create the same output topics (none fails on the race)', async () => {
  await setup();
  const n = names();
  const cfg = { ...parseConfig({}).kafka, brokers: brokers.split(',') };
  const topics = [n.anomalies, n.dlq, n.scores];
  const results = await Promise.allSettled(
    Array.from({ length: 4 }, (_, i) =>
      prepareTopics(
        new Kafka({ clientId: `aemon-test-prepare-${i}`, brokers: cfg.brokers, logLevel: logLevel.NOTHING }),
        cfg,
        topics,
      ),
    ),
  );
  assert.deepEqual(
    results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok')),
    ['ok', 'ok', 'ok', 'ok'],
  );
  const existing = new Set(await admin.listTopics());
  for (const t of topics) assert.ok(existing.has(t), `${t} exists`);
});

test('a replay of a time range of the topic gives the same raw window scores as the live run gave those readings', async () => {
  await setup();
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 2 }], waitForLeaders: true });
  // One model for both, trained on a simulated file, so the scores are comparable.
  const dir = await sharedModel(
    'aemon-range-',
    ['--sensors', '3', '--rate', '10', '--duration', '30s', '--seed', '9'],
    ['model', 'model-replay'],
  );
  const produced = await simulateTo(n.topic, [
    '--sensors',
    '3',
    '--rate',
    '10',
    '--duration',
    '60s',
    '--seed',
    '9',
    '--start',
    '2026-01-01T00:00:30Z',
  ]);
  const run = startRun({
    AEMON_KAFKA_BROKERS: brokers,
    AEMON_KAFKA_TOPICS: n.topic,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
    AEMON_KAFKA_SCORES_TOPIC: n.scores,
    AEMON_MODEL_DIR: join(dir, 'model'),
  });
  const url = await run.url;
  await until('the topic consumed', async () => (await metric(url, 'aemon_readings_total')) === produced, undefined, [
    run,
  ]);
  run.kill('SIGTERM');
  assert.equal((await run.done).code, 0);
  const live = new Map(
    (await readAll(n.scores)).map((m) => {
      const v = JSON.parse(m.value.toString()) as { id: string; rawScore: number };
      return [v.id, v.rawScore] as const;
    }),
  );

  // The model's score of each window (rawScore) is compared: a replay of a range starts its
  // decision state afresh, so the decision's score differs while it warms up.
  const out = join(dir, 'range.ndjson');
  const replay = await aemon(
    [
      'replay',
      '--kafka-topic',
      n.topic,
      '--from',
      '2026-01-01T00:00:50Z',
      '--to',
      '2026-01-01T00:01:10Z',
      '--model',
      join(dir, 'model-replay'),
      '--out',
      out,
    ],
    { env: { ...FAST, AEMON_KAFKA_BROKERS: brokers } },
  );
  assert.equal(replay.code, 0, replay.stderr);
  const rows = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map(
      (l) =>
        JSON.parse(l) as {
          ts: string | number;
          sensor: string;
          score: number | null;
          rawScore: number | null;
          windowId: string | null;
        },
    );
  assert.equal(rows.length, 3 * 10 * 20, 'every reading of the range, once');
  const scored = rows.filter((r) => r.score !== null);
  // A replay of a range starts with empty windows: the first size - 1 readings per sensor warm up.
  assert.equal(scored.length, rows.length - 3 * 15);
  for (const r of scored) {
    assert.ok(live.has(r.windowId!), `window ${r.windowId} was scored live`);
    assert.ok(
      Math.abs(live.get(r.windowId!)! - r.rawScore!) <= 1e-6 * Math.max(1, Math.abs(r.rawScore!)),
      `window ${r.windowId}: live ${live.get(r.windowId!)}, replay ${r.rawScore}`,
    );
  }
});
