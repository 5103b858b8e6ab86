import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Partitioners, type Admin } from 'kafkajs';
import {
  committedToEnd,
  metric,
  modelInfoVersion,
  names,
  readAll,
  sample,
  simulateTo,
  startRun,
  until,
  type RunningAemon,
} from './aemon.js';
import { kafkaFor, sharedBroker } from './broker.js';
import { tempDir } from '../tempdir.js';

let admin: Admin | undefined;
after(async () => {
  await admin?.disconnect();
});

const records = (url: string, result: string): Promise<number> =>
  sample(url, 'aemon_model_records_total', `result="${result}"`);
/** The version CURRENT names in a registry holding one model group. */
function currentIn(dir: string): string {
  const [group] = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  return readFileSync(join(dir, group!, 'CURRENT'), 'utf8').trim();
}
const count = (run: RunningAemon, pattern: RegExp): number =>
  run.log().match(new RegExp(pattern.source, 'g'))?.length ?? 0;
const TOKEN = 'kafka-test-models-token';
const iso = (seconds: number): string => new Date(Date.UTC(2026, 0, 1) + seconds * 1000).toISOString();

test("two instances, one trainer: a model promoted by A reaches B through the compacted models topic and B scores with it; rollbacks through A's admin port reach B too; a tampered record is refused", async () => {
  const broker = await sharedBroker();
  const kafka = kafkaFor(broker, 'aemon-test-models');
  admin = kafka.admin();
  await admin.connect();
  const brokers = broker.brokers.join(',');
  const n = names();
  const modelsTopic = `models.${n.group}`;
  // Two partitions: sensor-1/2 hash to one, sensor-3/4 to the other, so each instance owns sensors.
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 2 }], waitForLeaders: true });
  let produced = await simulateTo(brokers, n.topic, [
    '--sensors',
    '4',
    '--rate',
    '10',
    '--duration',
    '30s',
    '--seed',
    '6',
  ]);
  let at = 30;
  const dir = tempDir('aemon-kafka-models-');
  // A labels topic of its own: the shared aemon.labels holds other tests' (and other simulations')
  // anomalous spans for sensor-1…4 at these times, which would keep every window out of A's buffer.
  const base = {
    AEMON_KAFKA_BROKERS: brokers,
    AEMON_KAFKA_TOPICS: n.topic,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
    AEMON_KAFKA_DLQ_TOPIC: n.dlq,
    AEMON_KAFKA_MODELS_TOPIC: modelsTopic,
    AEMON_KAFKA_LABELS_TOPIC: `labels.${n.group}`,
    AEMON_KAFKA_SESSION_TIMEOUT_MS: '6000',
  };

  // A retrains every 20 s of event time, so it publishes its promotions (the bootstrap model first).
  const a = startRun({
    ...base,
    AEMON_KAFKA_SCORES_TOPIC: `${n.scores}.a`,
    AEMON_MODEL_DIR: join(dir, 'a'),
    AEMON_TRAINING_INTERVAL_MS: '20000',
    AEMON_TRAINING_MIN_WINDOWS: '32',
    AEMON_ADMIN_ENABLED: 'true',
    AEMON_ADMIN_PORT: '0',
    AEMON_ADMIN_TOKEN: TOKEN,
  });
  const ua = await a.url;
  await until('A published its bootstrap model', async () => (await records(ua, 'published')) === 1, 90_000, [a]);
  const v0 = await modelInfoVersion(ua);
  assert.match(v0 ?? '', /^m-[0-9a-f]+$/);
  const topicConfig = await admin.describeConfigs({
    resources: [{ type: 2, name: modelsTopic, configNames: ['cleanup.policy', 'max.message.bytes'] }],
    includeSynonyms: false,
  });
  assert.deepEqual(
    Object.fromEntries(topicConfig.resources[0]!.configEntries.map((e) => [e.configName, e.configValue])),
    { 'cleanup.policy': 'compact', 'max.message.bytes': String(16 * 1024 * 1024) },
  );

  // B does not retrain: it starts from the topic (no bootstrap period of its own) and joins A's group.
  const b = startRun({ ...base, AEMON_KAFKA_SCORES_TOPIC: `${n.scores}.b`, AEMON_MODEL_DIR: join(dir, 'b') });
  const ub = await b.url;
  assert.equal(await modelInfoVersion(ub), v0, 'B scores with the model A published before B started');
  assert.equal(await records(ub, 'applied'), 1);
  assert.equal(currentIn(join(dir, 'b')), v0, "it is B's registry's current version");

  // More readings until a retraining of A is promoted (the gate may reject a challenger).
  for (let chunk = 0; (await records(ua, 'published')) < 2; chunk++) {
    assert.ok(chunk < 5, `no retraining of A promoted after ${chunk} chunks of readings:\n${a.log().slice(-3000)}`);
    const runs = await metric(ua, 'aemon_training_runs_total');
    produced += await simulateTo(brokers, n.topic, [
      '--sensors',
      '4',
      '--rate',
      '10',
      '--duration',
      '60s',
      '--seed',
      '6',
      '--start',
      iso(at),
    ]);
    at += 60;
    await until(
      'a retraining run of A ended',
      async () => (await metric(ua, 'aemon_training_runs_total')) > runs,
      180_000,
      [a, b],
    );
  }
  // Settled: every reading consumed and no retraining run in progress on A.
  await until(
    'A idle and the topic consumed',
    async () =>
      (await committedToEnd(admin!, n.group, n.topic)) &&
      count(a, /retraining channels \[/) === count(a, /retraining of \[/),
    180_000,
    [a, b],
  );
  const promoted = await modelInfoVersion(ua);
  assert.notEqual(promoted, v0, 'A scores with its retrained model');
  assert.match(a.log(), new RegExp(`retraining of \\[[^\\]]+\\] promoted after [\\d.]+ s: model ${promoted}`));
  // B swaps the model in, then promotes it in its registry: wait for both, then check each.
  await until(
    `B scoring with A's promoted model ${promoted}, and it is B's current version`,
    async () => (await modelInfoVersion(ub)) === promoted && currentIn(join(dir, 'b')) === promoted,
    60_000,
    [a, b],
  );
  assert.equal(await modelInfoVersion(ub), promoted);
  assert.equal(currentIn(join(dir, 'b')), promoted);
  assert.match(b.log(), new RegExp(`now scoring \\[[^\\]]+\\] with model ${promoted} published by `));
  assert.equal(await records(ub, 'refused'), 0);

  // A rollback through A's admin port is published too: B follows it, and the roll forward.
  const adminA = /admin port on (http:\/\/[\d.:]+)/.exec(a.log())![1]!;
  // (A may have promoted more than one retraining by now: B applied each.)
  const appliedBefore = await records(ub, 'applied');
  const publishedBefore = await records(ua, 'published');
  assert.ok(
    appliedBefore >= 2 && publishedBefore === appliedBefore,
    `B applied ${appliedBefore} of the ${publishedBefore} models A published`,
  );
  for (const [to, applied] of [
    [v0, appliedBefore + 1],
    [promoted, appliedBefore + 2],
  ] as const) {
    const moved = await fetch(`${adminA}/models/rollback`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ version: to }),
    });
    assert.equal(moved.status, 200, await moved.clone().text());
    await until(
      `B scoring with ${to} after A's rollback, and it is B's current version`,
      async () => (await modelInfoVersion(ub)) === to && currentIn(join(dir, 'b')) === to,
      60_000,
      [a, b],
    );
    assert.equal(await records(ub, 'applied'), applied);
    assert.equal(currentIn(join(dir, 'b')), to);
  }
  assert.equal(await records(ua, 'published'), publishedBefore + 2);
  assert.equal(await records(ua, 'applied'), 0, 'A reads back only its own publications');

  // A tampered copy of the latest record: both refuse it and keep the model they score with.
  const latest = (await readAll(kafka, admin, modelsTopic)).at(-1)!;
  const doc = JSON.parse(latest.value.toString()) as { version: string; files: Record<string, string> };
  assert.equal(doc.version, promoted);
  const weights = Buffer.from(doc.files['weights.bin']!, 'base64');
  weights[weights.length >> 1]! ^= 0x10;
  doc.files['weights.bin'] = weights.toString('base64');
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({ topic: modelsTopic, messages: [{ key: latest.key, value: JSON.stringify(doc) }], acks: -1 });
  await producer.disconnect();
  await until('B refused the tampered record', async () => (await records(ub, 'refused')) === 1, 60_000, [b]);
  await until('A refused the tampered record', async () => (await records(ua, 'refused')) === 1, 60_000, [a]);
  assert.equal(await modelInfoVersion(ub), promoted);
  assert.equal(await modelInfoVersion(ua), promoted);
  assert.match(
    b.log(),
    new RegExp(
      `refused a record for \\[[^\\]]+\\]: weights\\.bin in the models topic record of ${promoted} .* does not match its checksum`,
    ),
  );

  // A leaves; B takes over its partitions and scores every new reading with A's model.
  a.kill('SIGTERM');
  assert.equal((await a.done).code, 0, a.log().slice(-2000));
  const phase3 = at;
  const last = await simulateTo(brokers, n.topic, [
    '--sensors',
    '4',
    '--rate',
    '10',
    '--duration',
    '10s',
    '--seed',
    '6',
    '--start',
    iso(at),
  ]);
  produced += last;
  await until('B consumed the last readings', () => committedToEnd(admin!, n.group, n.topic), 120_000, [b]);
  assert.equal(await metric(ub, 'aemon_training_runs_total'), 0, 'B never trained a model');
  b.kill('SIGTERM');
  assert.equal((await b.done).code, 0, b.log().slice(-2000));

  const scored = (await readAll(kafka, admin, `${n.scores}.b`))
    .map((m) => JSON.parse(m.value.toString()) as { end: string; modelVersion: string })
    .filter((s) => Date.parse(s.end) >= Date.parse(iso(phase3)));
  assert.equal(scored.length, last, "B scored every reading of the last part (A's sensors too)");
  assert.deepEqual([...new Set(scored.map((s) => s.modelVersion))], [promoted]);
  process.stderr.write(`# models: ${produced} readings; A published ${v0} then ${promoted}; B followed both\n`);
});
