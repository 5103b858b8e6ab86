import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { aemon } from '../cli/run.js';
import { tempDir } from '../tempdir.js';
import { alive, FAST, metric, names, simulateTo, startRun, until, type RunningAemon } from './aemon.js';
import { launchBroker, SCRAM_USER, type Broker } from './broker.js';
import { keyMaterial, makeCerts, type TestCerts } from './certs.js';

// A broker with an SSL listener (client certificates required) and a SASL_SSL one, its
// certificates made here with openssl; aemon connects with the right CA, refuses a wrong one at
// start-up with one clear line, and never logs key material or the SASL password.

let broker: Broker;
let certs: TestCerts;
let admin: Admin;

before(async () => {
  certs = makeCerts(tempDir('aemon-tls-'));
  broker = await launchBroker({ tls: { keystore: certs.brokerKeystore, truststore: certs.ca } });
  admin = new Kafka({ clientId: 'aemon-test-tls', brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
});
after(async () => {
  await admin?.disconnect();
  await broker?.stop();
});

function assertNoSecrets(log: string): void {
  for (const line of [...keyMaterial(certs.clientKey), ...keyMaterial(certs.brokerKeystore)])
    assert.ok(!log.includes(line), 'a line of a private key reached the log');
  assert.ok(!log.includes('PRIVATE KEY'), 'a PEM key reached the log');
  assert.ok(
    !log.includes(`"${SCRAM_USER.password}"`) && !log.includes(`password=${SCRAM_USER.password}`),
    'the SASL password reached the log',
  );
}

async function consumes(run: RunningAemon, produced: number): Promise<string> {
  const url = await run.url;
  await alive(
    run,
    until(
      'every reading consumed over TLS',
      async () => (await metric(url, 'aemon_readings_total')) === produced,
      90_000,
      [run],
    ),
  );
  run.kill('SIGTERM');
  const { code, log } = await run.done;
  assert.equal(code, 0, log.slice(-2000));
  return log;
}

test('mutual TLS: aemon run with the CA, a client certificate and its key consumes the topic; no key material in its log', async () => {
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 2 }], waitForLeaders: true });
  const produced = await simulateTo(broker.brokers.join(','), n.topic, [
    '--sensors',
    '2',
    '--rate',
    '10',
    '--duration',
    '25s',
    '--seed',
    '4',
  ]);
  const run = startRun({
    AEMON_KAFKA_BROKERS: broker.tlsBrokers!.join(','),
    AEMON_KAFKA_TLS_ENABLED: 'true',
    AEMON_KAFKA_TLS_CA: certs.ca,
    AEMON_KAFKA_TLS_CERT: certs.clientCert,
    AEMON_KAFKA_TLS_KEY: certs.clientKey,
    AEMON_KAFKA_TOPICS: n.topic,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
    AEMON_KAFKA_DLQ_TOPIC: n.dlq,
    AEMON_LOG_LEVEL: 'debug',
  });
  assertNoSecrets(await consumes(run, produced));
});

test('SASL (SCRAM-SHA-256) over TLS: aemon run with the CA and the user consumes the topic; the password is never logged', async () => {
  const n = names();
  await admin.createTopics({ topics: [{ topic: n.topic, numPartitions: 1 }], waitForLeaders: true });
  const produced = await simulateTo(broker.brokers.join(','), n.topic, [
    '--sensors',
    '1',
    '--rate',
    '10',
    '--duration',
    '25s',
    '--seed',
    '6',
  ]);
  const run = startRun({
    AEMON_KAFKA_BROKERS: broker.saslTlsBrokers!.join(','),
    AEMON_KAFKA_TLS_ENABLED: 'true',
    AEMON_KAFKA_TLS_CA: certs.ca,
    AEMON_KAFKA_SASL_MECHANISM: SCRAM_USER.mechanism,
    AEMON_KAFKA_SASL_USERNAME: SCRAM_USER.username,
    AEMON_KAFKA_SASL_PASSWORD: SCRAM_USER.password,
    AEMON_KAFKA_TOPICS: n.topic,
    AEMON_KAFKA_GROUP_ID: n.group,
    AEMON_KAFKA_ANOMALIES_TOPIC: n.anomalies,
    AEMON_KAFKA_DLQ_TOPIC: n.dlq,
    AEMON_LOG_LEVEL: 'debug',
  });
  assertNoSecrets(await consumes(run, produced));
});

/** stderr lines that are aemon's own fatal line (`aemon: CODE: …`), not JSON log lines. */
const fatalLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.startsWith('aemon: '));

test('a wrong CA is refused at start-up: exit non-zero at once, one clear line naming kafka.tls.ca, no key material', async () => {
  const n = names();
  for (const brokers of [broker.tlsBrokers!, broker.saslTlsBrokers!]) {
    const started = Date.now();
    const r = await aemon(['run'], {
      env: {
        ...FAST,
        AEMON_METRICS_PORT: '0',
        AEMON_KAFKA_BROKERS: brokers.join(','),
        AEMON_KAFKA_TLS_ENABLED: 'true',
        AEMON_KAFKA_TLS_CA: certs.otherCa,
        AEMON_KAFKA_TLS_CERT: certs.clientCert,
        AEMON_KAFKA_TLS_KEY: certs.clientKey,
        AEMON_KAFKA_SASL_MECHANISM: SCRAM_USER.mechanism,
        AEMON_KAFKA_SASL_USERNAME: SCRAM_USER.username,
        AEMON_KAFKA_SASL_PASSWORD: SCRAM_USER.password,
        AEMON_KAFKA_TOPICS: n.topic,
        AEMON_LOG_LEVEL: 'debug',
      },
    });
    assert.notEqual(r.code, 0);
    const fatal = fatalLines(r.stderr);
    assert.equal(fatal.length, 1, r.stderr.slice(-2000));
    assert.match(
      fatal[0]!,
      /^aemon: AEMON_KAFKA: TLS: the certificate of broker 127\.0\.0\.1:\d+ is not trusted \(.+\): check kafka\.tls\.ca/,
    );
    assert.ok(Date.now() - started < 30_000, `refused after ${Date.now() - started} ms`);
    assertNoSecrets(r.stdout + r.stderr);
  }
});

test('mutual TLS without a client certificate is refused at start-up with one clear line', async () => {
  const r = await aemon(['run'], {
    env: {
      ...FAST,
      AEMON_METRICS_PORT: '0',
      AEMON_KAFKA_BROKERS: broker.tlsBrokers!.join(','),
      AEMON_KAFKA_TLS_ENABLED: 'true',
      AEMON_KAFKA_TLS_CA: certs.ca,
      AEMON_KAFKA_TOPICS: names().topic,
    },
  });
  assert.notEqual(r.code, 0);
  const fatal = fatalLines(r.stderr);
  assert.equal(fatal.length, 1, r.stderr.slice(-2000));
  assert.match(
    fatal[0]!,
    /^aemon: AEMON_KAFKA: TLS: broker 127\.0\.0\.1:\d+ refused the connection \(TLS alert: [a-z ]+\): check kafka\.tls\.cert and kafka\.tls\.key/,
  );
  process.stderr.write(`# without a client certificate: ${fatal[0]}\n`);
});
