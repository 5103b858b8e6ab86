// The real Apache Kafka broker the tests run against: Kafka 4.1.1 from .kafka/libs
// (npm run test:setup), single-node KRaft on free loopback ports, in a temp dir.
// Env: KAFKA_BROKERS (and KAFKA_SASL_BROKERS) use that cluster instead; KAFKA_HEAP (default 512m);
// KAFKA_KEEP_LOGS keeps the temp dir after stop(); KAFKA_VERBOSE prints start times; KAFKAJS_LOG
// makes the kafkajs clients of kafkaFor() log.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import type { Admin, KafkaConfig, SASLOptions } from 'kafkajs';

/** A Kafka cluster for tests: a real Apache Kafka broker started here, or the one in KAFKA_BROKERS. */
export interface Broker {
  /** PLAINTEXT bootstrap addresses, e.g. ['127.0.0.1:39211']. */
  brokers: string[];
  /** SASL_PLAINTEXT (SCRAM-SHA-256, user {@link SCRAM_USER}) bootstrap addresses, when started with `sasl`. */
  saslBrokers?: string[];
  /** SSL (mutual TLS: a client certificate is required) bootstrap addresses, when started with `tls`. */
  tlsBrokers?: string[];
  /** SASL_SSL (SCRAM-SHA-256 over TLS, no client certificate) bootstrap addresses, when started with `tls`. */
  saslTlsBrokers?: string[];
  /** The broker's own log (empty for an external cluster). */
  logFile: string;
  /** True when this is the KAFKA_BROKERS cluster: stop() does nothing and restart() rejects. */
  external: boolean;
  stop(): Promise<void>;
  /** Stops and starts the same broker on the same ports and log dir; resolves once it answers again. */
  restart(): Promise<void>;
  /** Sends the broker process a signal (SIGSTOP freezes it: connections stay open, nothing answers; SIGCONT thaws it). */
  signal(sig: NodeJS.Signals): void;
}

export interface BrokerOptions {
  /** Adds a SASL_PLAINTEXT listener with SCRAM-SHA-256 user aemon/secret. */
  sasl?: boolean;
  /** Fixed PLAINTEXT port (default: a free one). */
  port?: number | undefined;
  /** Fixed SASL port (default: a free one). */
  saslPort?: number | undefined;
  /** Extra server.properties entries, e.g. { 'message.max.bytes': '2000000' }. */
  config?: Record<string, string>;
  /**
   * Adds an SSL listener (client certificates required) and a SASL_SSL one (SCRAM user
   * {@link SCRAM_USER}): `keystore` is a PEM file with the broker's private key (PKCS#8, not
   * encrypted) and certificate chain, `truststore` the PEM of the CA that signs client certificates.
   */
  tls?: { keystore: string; truststore: string };
}

export const SCRAM_USER = { mechanism: 'scram-sha-256', username: 'aemon', password: 'secret' } as const;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const LIBS = join(ROOT, '.kafka/libs');
const READY_DEADLINE_MS = 60_000;
const STOP_DEADLINE_MS = 20_000;
const HEAP = process.env.KAFKA_HEAP ?? '512m';

/** Live brokers and the promise of their exit (the reason, for start-up errors). */
const running = new Map<ChildProcess, Promise<string>>();
const tempDirs = new Set<string>();
// Synchronous last resort: a java broker must never outlive the process that started it.
process.on('exit', () => {
  for (const child of running.keys()) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** The KAFKA_BROKERS cluster when that is set, else a new broker of our own (see {@link launchBroker}). */
export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const external = process.env.KAFKA_BROKERS?.trim();
  if (!external) return launchBroker(options);
  const split = (s: string): string[] =>
    s
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
  const sasl = process.env.KAFKA_SASL_BROKERS?.trim();
  return {
    brokers: split(external),
    ...(options.sasl && sasl ? { saslBrokers: split(sasl) } : {}),
    logFile: '',
    external: true,
    stop: async () => {},
    restart: () => Promise.reject(new Error('cannot restart the KAFKA_BROKERS cluster')),
    signal: () => {
      throw new Error('cannot signal the KAFKA_BROKERS cluster');
    },
  };
}

/** Starts a single-node KRaft broker from .kafka/libs on free loopback ports; resolves once it answers. */
export async function launchBroker(options: BrokerOptions = {}): Promise<Broker> {
  if (!existsSync(LIBS) || !readdirSync(LIBS).some((f) => /^kafka_2\.13-.*\.jar$/.test(f))) {
    throw new Error(`Kafka broker jars not found in ${LIBS}: run npm run test:setup`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'aemon-broker-'));
  tempDirs.add(dir);
  const logFile = join(dir, 'broker.log');
  const props = join(dir, 'server.properties');
  try {
    const [port, ctrl, saslPort, tlsPort, saslTlsPort] = await freePorts(5);
    const plain = `127.0.0.1:${options.port ?? port}`;
    const sasl = options.sasl ? `127.0.0.1:${options.saslPort ?? saslPort}` : undefined;
    const tls = options.tls
      ? { ssl: `127.0.0.1:${tlsPort}`, saslSsl: `127.0.0.1:${saslTlsPort}`, ...options.tls }
      : undefined;
    writeFileSync(props, serverProperties(dir, plain, `127.0.0.1:${ctrl}`, sasl, options.config ?? {}, tls));
    format(props, options.sasl === true || tls !== undefined, logFile);

    let child = await launch(props, logFile, plain, sasl);
    const halt = async (): Promise<void> => {
      await kill(child);
    };
    return {
      brokers: [plain],
      ...(sasl ? { saslBrokers: [sasl] } : {}),
      ...(tls ? { tlsBrokers: [tls.ssl], saslTlsBrokers: [tls.saslSsl] } : {}),
      logFile,
      external: false,
      signal(sig) {
        child.kill(sig);
      },
      async stop() {
        await halt();
        tempDirs.delete(dir);
        if (!process.env.KAFKA_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
      },
      async restart() {
        await halt();
        child = await launch(props, logFile, plain, sasl);
      },
    };
  } catch (err) {
    tempDirs.delete(dir);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

let shared: Promise<Broker> | undefined;

/**
 * One broker per test process, started on first use (with the SASL listener, so any test file can
 * use it) and killed when the process exits: each test file starts at most one broker.
 */
export function sharedBroker(): Promise<Broker> {
  shared ??= startBroker({ sasl: true });
  return shared;
}

/** Creates a uniquely named topic and returns its name. */
export async function freshTopic(admin: Admin, partitions = 3): Promise<string> {
  const topic = `test.${Date.now().toString(36)}.${randomBytes(4).toString('hex')}`;
  const created = await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  if (!created) throw new Error(`topic ${topic} already existed`);
  return topic;
}

/**
 * A kafkajs client for the broker: quiet (a new broker's first group join logs "The group
 * coordinator is not available" while kafkajs retries), and with retries that outlast a broker restart
 * (about a minute: a restart on a loaded 2-core machine took longer than the 20 s of 12 retries).
 */
export function kafkaFor(
  broker: Broker,
  clientId: string,
  extra: Partial<KafkaConfig> & { sasl?: SASLOptions } = {},
): Kafka {
  const brokers = extra.sasl ? broker.saslBrokers : broker.brokers;
  if (!brokers) throw new Error('this broker has no SASL listener: start it with { sasl: true }');
  return new Kafka({
    clientId,
    brokers,
    logLevel: process.env.KAFKAJS_LOG ? logLevel.INFO : logLevel.NOTHING,
    connectionTimeout: 3_000,
    retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 30 },
    ...extra,
  });
}

type TlsListeners = { ssl: string; saslSsl: string; keystore: string; truststore: string };

function serverProperties(
  dir: string,
  plain: string,
  ctrl: string,
  sasl: string | undefined,
  extra: Record<string, string>,
  tls?: TlsListeners,
): string {
  const more = `${sasl ? `,SASL_PLAINTEXT://${sasl}` : ''}${tls ? `,SSL://${tls.ssl},SASL_SSL://${tls.saslSsl}` : ''}`;
  const p: Record<string, string> = {
    'process.roles': 'broker,controller',
    'node.id': '1',
    'controller.quorum.voters': `1@${ctrl}`,
    listeners: `PLAINTEXT://${plain},CONTROLLER://${ctrl}${more}`,
    'advertised.listeners': `PLAINTEXT://${plain}${more}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': `CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${sasl ? ',SASL_PLAINTEXT:SASL_PLAINTEXT' : ''}${tls ? ',SSL:SSL,SASL_SSL:SASL_SSL' : ''}`,
    'log.dirs': join(dir, 'logs'),
    'offsets.topic.replication.factor': '1',
    // 50 partitions by default: fewer make the first group join (which creates the topic) faster.
    'offsets.topic.num.partitions': '10',
    'transaction.state.log.replication.factor': '1',
    'transaction.state.log.min.isr': '1',
    'share.coordinator.state.topic.replication.factor': '1',
    'share.coordinator.state.topic.min.isr': '1',
    'group.initial.rebalance.delay.ms': '0',
    // Tests write readings with fixed event times (2026-01-01…) as record timestamps; with the
    // default 7-day retention the broker deletes those segments within its 5-minute retention
    // check, which showed as random OFFSET_OUT_OF_RANGE resets, lost records and failed rebuilds.
    'log.retention.ms': '-1',
  };
  if (sasl || tls) p['sasl.enabled.mechanisms'] = 'SCRAM-SHA-256';
  if (sasl)
    p['listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config'] =
      'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  if (tls) {
    // Kafka reads PEM key stores itself (no keytool step): key and chain in one file.
    p['ssl.keystore.type'] = 'PEM';
    p['ssl.keystore.location'] = tls.keystore;
    p['ssl.truststore.type'] = 'PEM';
    p['ssl.truststore.location'] = tls.truststore;
    p['listener.name.ssl.ssl.client.auth'] = 'required';
    p['listener.name.sasl_ssl.ssl.client.auth'] = 'none';
    p['listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config'] =
      'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  }
  Object.assign(p, extra);
  return (
    Object.entries(p)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n'
  );
}

function java(args: string[], logFile: string): string {
  const r = spawnSync('java', ['-cp', `${LIBS}/*`, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`java ${args[0]} failed: ${r.error.message} (Java 17 is needed: npm run test:setup)`);
  writeFileSync(logFile, `$ java ${args.join(' ')}\n${r.stdout}${r.stderr}\n`, { flag: 'a' });
  if (r.status !== 0) throw new Error(`java ${args.join(' ')} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

function format(props: string, sasl: boolean, logFile: string): void {
  const uuid = /^[A-Za-z0-9_-]{22}/m.exec(java(['kafka.tools.StorageTool', 'random-uuid'], logFile))?.[0];
  if (!uuid) throw new Error(`StorageTool random-uuid printed no cluster id (see ${logFile})`);
  const scram = sasl
    ? ['--add-scram', `SCRAM-SHA-256=[name=${SCRAM_USER.username},password=${SCRAM_USER.password}]`]
    : [];
  java(['kafka.tools.StorageTool', 'format', '-t', uuid, '-c', props, ...scram], logFile);
}

async function launch(props: string, logFile: string, plain: string, sasl: string | undefined): Promise<ChildProcess> {
  const started = Date.now();
  const fd = openSync(logFile, 'a');
  const child = spawn(
    'java',
    [`-Xmx${HEAP}`, '-Xms128m', '-Dorg.slf4j.simpleLogger.showDateTime=true', '-cp', `${LIBS}/*`, 'kafka.Kafka', props],
    {
      stdio: ['ignore', fd, fd],
    },
  );
  closeSync(fd);
  // Killed by the exit hook, never waited for by the event loop: a forgotten broker cannot hang a test run.
  child.unref();
  const exited = new Promise<string>((res) => {
    child.once('error', (e) => res(`could not start java: ${e.message}`));
    child.once('exit', (code, signal) => res(`java exited (${signal ?? code}) before answering`));
  });
  running.set(child, exited);
  void exited.then(() => running.delete(child));
  guard(child, dirname(props));
  try {
    await waitUntilAnswers(plain, sasl, exited);
  } catch (err) {
    await kill(child);
    throw new Error(`Kafka broker ${plain} did not come up: ${(err as Error).message}\n${excerpt(logFile)}`);
  }
  if (process.env.KAFKA_VERBOSE) console.error(`kafka broker ${plain} ready in ${Date.now() - started} ms`);
  return child;
}

/**
 * A tiny shell that SIGKILLs the broker and removes its dir if this process dies without running
 * its exit hook (kill -9); it ends by itself when the broker exits first.
 */
function guard(child: ChildProcess, dir: string): void {
  const me = process.pid;
  const script = `while kill -0 ${me} && kill -0 ${child.pid}; do sleep 1; done 2>/dev/null
if ! kill -0 ${me} 2>/dev/null; then kill -9 ${child.pid} 2>/dev/null; sleep 1; rm -rf '${dir}'; fi`;
  spawn('sh', ['-c', script], { stdio: 'ignore', detached: true }).unref();
}

async function waitUntilAnswers(plain: string, sasl: string | undefined, exited: Promise<string>): Promise<void> {
  const deadline = Date.now() + READY_DEADLINE_MS;
  let dead: string | undefined;
  void exited.then((why) => (dead = why));
  let last = 'no answer yet';
  const probe = async (brokers: string[], extra: Partial<KafkaConfig>): Promise<void> => {
    const admin = new Kafka({
      clientId: 'broker-probe',
      brokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1_000,
      retry: { retries: 0 },
      ...extra,
    }).admin();
    try {
      await admin.connect();
      await admin.describeCluster();
      await admin.listTopics();
    } finally {
      await admin.disconnect().catch(() => {});
    }
  };
  for (;;) {
    if (dead) throw new Error(dead);
    try {
      await probe([plain], {});
      if (sasl) await probe([sasl], { sasl: { ...SCRAM_USER } });
      return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`no answer within ${READY_DEADLINE_MS / 1000} s (last error: ${last})`);
    // Back-off between probes; a broker that exits ends the wait at once.
    await Promise.race([exited, new Promise((r) => setTimeout(r, 250))]);
  }
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = running.get(child);
  if (!exited) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_DEADLINE_MS);
  await exited;
  clearTimeout(timer);
  running.delete(child);
}

async function freePorts(n: number): Promise<number[]> {
  // All servers stay open until every port is picked, so the n ports differ.
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((res, rej) => {
          const s = createServer();
          s.once('error', rej);
          s.listen(0, '127.0.0.1', () => res(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** The broker log's first errors (a failed bind, a bad config) and its last lines. */
function excerpt(file: string): string {
  let lines: string[];
  try {
    lines = readFileSync(file, 'utf8').split('\n');
  } catch {
    return `(no log at ${file})`;
  }
  const errors = lines.filter((l) => /\b(ERROR|FATAL)\b|Exception/.test(l)).slice(0, 8);
  return `--- broker log, first errors:\n${errors.join('\n') || '(none)'}\n--- broker log, last lines:\n${lines.slice(-25).join('\n')}`;
}
