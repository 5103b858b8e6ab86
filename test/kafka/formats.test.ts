import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { committedToEnd, FAST, metric, names, readAll as readTopic, sharedModel, startRun, until } from './aemon.js';
import { aemon } from '../cli/run.js';
import { sharedBroker } from './broker.js';

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

/** kcat as the independent producer: every `delimiter`-separated message of `file`. */
function kcat(topic: string, file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', ['-P', '-b', brokers, '-t', topic, ...args, '-l', file], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new Error(`kcat could not start: ${e.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`kcat exited ${code}: ${err}`))));
  });
}

interface Sim {
  sensor: string;
  ts: string;
  values: Record<string, number>;
}

test('line protocol produced by kcat, several lines per message, scores as the same stream in JSON does; malformed messages and lines are dead-lettered and everything is committed', async () => {
  await setup();
  const json = names();
  const lp = names();
  // JSON keyed by sensor over two partitions; line-protocol messages hold every sensor, so one
  // partition keeps each sensor's readings in order.
  await admin.createTopics({
    topics: [
      { topic: json.topic, numPartitions: 2 },
      { topic: lp.topic, numPartitions: 1 },
    ],
    waitForLeaders: true,
  });
  const dir = await sharedModel(
    'aemon-formats-kafka-',
    ['--sensors', '3', '--rate', '10', '--duration', '30s', '--seed', '5'],
    ['model-json', 'model-lp'],
  );
  const simFile = join(dir, 'stream.ndjson');
  const sim = await aemon(
    [
      'simulate',
      '--sensors',
      '3',
      '--rate',
      '10',
      '--duration',
      '30s',
      '--seed',
      '5',
      '--start',
      '2026-01-01T00:00:30Z',
      '--out',
      simFile,
    ],
    { env: FAST },
  );
  assert.equal(sim.code, 0, sim.stderr);
  const readings = readFileSync(simFile, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Sim);

  // JSON, keyed by sensor, one reading per message.
  writeFileSync(join(dir, 'json.txt'), readings.map((r) => `${r.sensor}|${JSON.stringify(r)}`).join('\n') + '\n');
  await kcat(json.topic, join(dir, 'json.txt'), ['-K', '|']);

  // Line protocol: one message per event time holding every sensor's line, as Telegraf batches.
  const byTs = new Map<string, string[]>();
  for (const r of readings) {
    const line = `plant,sensor=${r.sensor} ${Object.entries(r.values)
      .map(([k, v]) => `${k}=${v}`)
      .join(',')} ${Date.parse(r.ts)}000000`;
    byTs.set(r.ts, [...(byTs.get(r.ts) ?? []), line]);
  }
  const messages = [...byTs.values()].map((lines) => lines.join('\n'));
  const bad = [
    ['plant,sensor=sensor-1 temperature=hot 1767225630000000000\nplant,sensor=sensor-9', 'bad_record', 'bad_record'],
    ['\ufffd\u0000 not line protocol', 'bad_record'],
    [`plant,sensor=sensor-1 temperature=1 ${'1'.repeat(300_000)}`, 'too_large'],
  ] as const;
  messages.splice(150, 0, ...bad.map(([m]) => m));
  writeFileSync(join(dir, 'lp.txt'), messages.join('\x1e'));
  await kcat(lp.topic, join(dir, 'lp.txt'), ['-D', '\x1e']);

  const runs: Array<{ n: ReturnType<typeof names>; env: Record<string, string>; outputs: number }> = [
    { n: json, env: { AEMON_MODEL_DIR: join(dir, 'model-json') }, outputs: readings.length },
    // The sensor id from the tags, so both runs name the sensors alike (and find their calibration).
    {
      n: lp,
      env: {
        AEMON_MODEL_DIR: join(dir, 'model-lp'),
        AEMON_READING_FORMAT: 'influx',
        AEMON_READING_SENSOR_TEMPLATE: '{tags.sensor}',
      },
      outputs: readings.length + 4,
    },
  ];
  const scores: Array<Map<string, number>> = [];
  for (const { n, env, outputs } of runs) {
    const run = startRun({
      AEMON_KAFKA_BROKERS: brokers,
      AEMON_KAFKA_TOPICS: n.topic,
      AEMON_KAFKA_GROUP_ID: n.group,
      AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
      AEMON_KAFKA_SCORES_TOPIC: n.scores,
      AEMON_KAFKA_DLQ_TOPIC: n.dlq,
      ...env,
    });
    const url = await run.url;
    await until(`${n.topic} consumed`, async () => (await metric(url, 'aemon_readings_total')) === outputs, undefined, [
      run,
    ]);
    run.kill('SIGTERM');
    assert.equal((await run.done).code, 0);
    assert.ok(await committedToEnd(admin, n.group, n.topic), `${n.topic}: offsets committed to the end`);
    scores.push(
      new Map(
        (await readTopic(kafka, admin, n.scores)).map((m) => {
          const v = JSON.parse(m.value.toString()) as { id: string; score: number };
          return [v.id, v.score] as const;
        }),
      ),
    );
  }
  const [fromJson, fromLp] = scores as [Map<string, number>, Map<string, number>];
  assert.ok(fromJson.size > readings.length / 2, `only ${fromJson.size} windows scored`);
  assert.equal(fromLp.size, fromJson.size, 'the same windows scored');
  for (const [id, s] of fromJson) {
    assert.ok(fromLp.has(id), `window ${id} not scored from line protocol`);
    assert.ok(Math.abs(fromLp.get(id)! - s) <= 1e-6 * Math.max(1, Math.abs(s)), `${id}: ${fromLp.get(id)} vs ${s}`);
  }
  const dlq = await readTopic(kafka, admin, lp.dlq);
  assert.deepEqual(dlq.map((d) => d.headers['aemon.reason']).sort(), bad.flatMap(([, ...reasons]) => reasons).sort());
  assert.deepEqual((await readTopic(kafka, admin, json.dlq)).length, 0);
});
