import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { aemon } from '../cli/run.js';
import { FAST, metric, modelInfoVersion, names, simulateTo, startRun, until, type RunningAemon } from './aemon.js';
import { sharedBroker } from './broker.js';
import { tempDir } from '../tempdir.js';

let admin: Admin | undefined;
after(async () => {
  await admin?.disconnect();
});

const TOKEN = 'kafka-test-admin-token';

/** The admin URL `aemon run` logs once its admin port listens. */
async function adminUrl(run: RunningAemon): Promise<string> {
  let url = '';
  await until(
    'the admin port',
    async () => {
      url = /admin port on (http:\/\/[\d.:]+)/.exec(run.log())?.[1] ?? '';
      return url !== '';
    },
    60_000,
    [run],
  );
  return url;
}

test('aemon run with the admin port: labels in, models listed, a rollback switches the running model, and a restart loads CURRENT', async () => {
  const broker = await sharedBroker();
  const brokers = broker.brokers.join(',');
  const kafka = new Kafka({ clientId: 'aemon-test-admin', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 1 }], waitForLeaders: true });
  await simulateTo(brokers, n.topic, ['--sensors', '2', '--rate', '10', '--duration', '10s', '--seed', '4']);

  // Two versions of the simulator's model group, trained the way an operator would.
  const dir = tempDir('aemon-kafka-admin-');
  const data = join(dir, 'normal.ndjson');
  const sim = await aemon(
    [
      'simulate',
      '--sensors',
      '2',
      '--rate',
      '10',
      '--duration',
      '60s',
      '--seed',
      '2',
      '--start',
      '2026-01-01T00:00:00Z',
      '--out',
      data,
    ],
    { env: FAST },
  );
  assert.equal(sim.code, 0, sim.stderr);
  const models = join(dir, 'models');
  const versions: string[] = [];
  for (const seed of ['1', '2']) {
    const r = await aemon(['train', data, '--out', models], {
      env: { ...FAST, AEMON_MODEL_SEED: seed, AEMON_MODEL_EPOCHS: '1' },
    });
    assert.equal(r.code, 0, r.stderr);
    versions.push(/^saved model (m-[0-9a-f]+)/m.exec(r.stdout)![1]!);
  }
  const [v1, v2] = versions as [string, string];

  const env = {
    AEMON_KAFKA_BROKERS: brokers,
    AEMON_KAFKA_TOPICS: n.topic,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
    AEMON_KAFKA_DLQ_TOPIC: n.dlq,
    AEMON_MODEL_DIR: models,
    AEMON_ADMIN_ENABLED: 'true',
    AEMON_ADMIN_PORT: '0',
    AEMON_ADMIN_TOKEN: TOKEN,
  };
  const run = startRun(env);
  const url = await run.url;
  const adm = await adminUrl(run);
  const auth = { authorization: `Bearer ${TOKEN}` };
  assert.equal(await modelInfoVersion(url), v2, 'the current version is loaded');

  assert.equal((await fetch(`${adm}/models`)).status, 401);
  const list = (await (await fetch(`${adm}/models`, { headers: auth })).json()) as Array<{
    version: string;
    current: boolean;
    dir: string;
  }>;
  assert.deepEqual(
    list.map((e) => [e.version, e.current]),
    [
      [v2, true],
      [v1, false],
    ],
  );
  const labelled = await fetch(`${adm}/labels`, {
    method: 'POST',
    headers: auth,
    body: '{"sensor":"sim-1","from":0,"to":1000,"label":"normal"}',
  });
  assert.deepEqual([labelled.status, await labelled.json()], [200, { added: 1 }]);

  const back = await fetch(`${adm}/models/rollback`, { method: 'POST', headers: auth, body: '{}' });
  assert.equal(back.status, 200, await back.clone().text());
  assert.equal(await modelInfoVersion(url), v1, 'aemon_model_info follows the rollback');
  assert.equal(readFileSync(join(dirname(list[0]!.dir), 'CURRENT'), 'utf8').trim(), v1, 'CURRENT moved');
  await until('the topic consumed', async () => (await metric(url, 'aemon_windows_scored_total')) > 0, 60_000, [run]);
  run.kill('SIGTERM');
  const stopped = await run.done;
  assert.equal(stopped.code, 0, stopped.log.slice(-2000));
  assert.doesNotMatch(stopped.log, new RegExp(TOKEN), 'the token is never logged');

  const restart = startRun({ ...env, AEMON_ADMIN_ENABLED: 'false' });
  const url2 = await restart.url;
  assert.equal(await modelInfoVersion(url2), v1, 'a restart loads the version CURRENT names');
  restart.kill('SIGTERM');
  assert.equal((await restart.done).code, 0);
});
