import { spawn, type ChildProcess } from 'node:child_process';
import { after } from 'node:test';
import { randomUUID } from 'node:crypto';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { Admin, ITopicConfig, Kafka } from 'kafkajs';
import { aemon, ROOT } from '../cli/run.js';
import { tempDir } from '../tempdir.js';

/** Small, fast settings for aemon processes in Kafka tests. */
export const FAST = {
  AEMON_WINDOWING_SIZE: '16',
  AEMON_TRAINING_BOOTSTRAP_READINGS: '200',
  AEMON_MODEL_EPOCHS: '6',
  AEMON_LOG_LEVEL: process.env.TEST_AEMON_LOG_LEVEL ?? 'info',
  KAFKAJS_NO_PARTITIONER_WARNING: '1',
};

export function names(): { topic: string; group: string; anomalies: string; scores: string; dlq: string } {
  const id = randomUUID().slice(0, 8);
  return {
    topic: `sensors.${id}`,
    group: `aemon.${id}`,
    anomalies: `anomalies.${id}`,
    scores: `scores.${id}`,
    dlq: `dlq.${id}`,
  };
}

export interface Msg {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

/** Every record of a topic, read by a throw-away consumer group. */
export async function readAll(kafka: Kafka, admin: Admin, topic: string): Promise<Msg[]> {
  const end = await admin.fetchTopicOffsets(topic);
  const total = end.reduce((s, p) => s + Number(p.high), 0);
  const out: Msg[] = [];
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

export interface RunningAemon {
  /** The process spawned: aemon itself (no wrapper in between). */
  pid: number;
  url: Promise<string>;
  done: Promise<{ code: number | null; log: string }>;
  log(): string;
  kill(signal: NodeJS.Signals): void;
}

// A test that fails before it stops its aemon processes must not leave them running: they would
// keep this test file's process (and so the whole run) alive.
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/**
 * Starts `aemon run` as a child process; `url` resolves once it serves /metrics. By default the
 * TypeScript entry through tsx; with `bin` (see installedAemonBin) the `aemon` command a user
 * starts, found on PATH.
 */
export function startRun(env: Record<string, string>, options: { bin?: string } = {}): RunningAemon {
  const runEnv = { ...process.env, ...FAST, AEMON_METRICS_PORT: '0', ...env };
  const child = options.bin
    ? spawn('aemon', ['run'], {
        cwd: ROOT,
        env: { ...runEnv, PATH: `${options.bin}:${process.env.PATH ?? ''}` },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    : spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/index.ts'), 'run'], {
        cwd: ROOT,
        env: runEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
  if (child.pid === undefined) throw new Error(`could not start aemon run${options.bin ? ` from ${options.bin}` : ''}`);
  children.add(child);
  child.on('close', () => children.delete(child));
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
  const done = new Promise<{ code: number | null; log: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, log })),
  );
  return {
    pid: child.pid,
    url: Promise.race([
      url,
      done.then((d) => Promise.reject(new Error(`aemon run exited (${d.code}): ${d.log.slice(-2000)}`))),
    ]),
    done,
    log: () => log,
    kill: (s) => child.kill(s),
  };
}

/** Sum of a metric's samples in a /metrics scrape. */
export async function metric(url: string, name: string): Promise<number> {
  const body = await (await fetch(`${url}/metrics`)).text();
  return [...body.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((s, m) => s + Number(m[1]), 0);
}

/** The value of one labelled sample in a /metrics scrape, e.g. `sample(url, 'aemon_model_records_total', 'result="applied"')`. */
export async function sample(url: string, name: string, label: string): Promise<number> {
  const body = await (await fetch(`${url}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The version `aemon_model_info` names. */
export async function modelInfoVersion(url: string): Promise<string | undefined> {
  const body = await (await fetch(`${url}/metrics`)).text();
  return /^aemon_model_info\{[^}]*version="([^"]+)"/m.exec(body)?.[1];
}

/** Whether consumer group `groupId` has committed the end offset of every partition of `topic`. */
export async function committedToEnd(admin: Admin, groupId: string, topic: string): Promise<boolean> {
  const end = await admin.fetchTopicOffsets(topic);
  const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions;
  // An empty partition has nothing committed (-1): that is its end.
  return end.every(
    (p) => Math.max(0, Number(committed.find((c) => c.partition === p.partition)?.offset ?? -1)) === Number(p.high),
  );
}

/**
 * Creates topics and waits for their leaders; on a broker that has just started, the wait can
 * answer UNKNOWN_TOPIC_OR_PARTITION for a moment, so that answer is tried again a few times.
 */
export async function createTopics(admin: Admin, topics: ITopicConfig[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t.topic));
      if (missing.length > 0) await admin.createTopics({ topics: missing, waitForLeaders: true });
      return;
    } catch (err) {
      if (attempt >= 5 || (err as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw err;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}

/** `wait`, failing at once (with the log's tail) if the aemon process exits first. */
export function alive<T>(run: RunningAemon, wait: Promise<T>): Promise<T> {
  return Promise.race([
    wait,
    run.done.then(({ code, log }) =>
      Promise.reject(new Error(`aemon run exited (${code}) while the test waited:\n${log.slice(-3000)}`)),
    ),
  ]);
}

/** Polls a condition until it holds (a wait with a deadline, not a sleep as synchronisation). */
export async function until(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 90_000,
  context?: RunningAemon[],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  const logs = (context ?? [])
    .map(
      (r, i) =>
        `--- aemon ${i + 1} (last lines) ---\n${r
          .log()
          .split('\n')
          .filter((l) => !l.includes('"level":30') || /rebuilding|joined|stopped|skipped|loaded|trained/.test(l))
          .slice(-40)
          .join('\n')}`,
    )
    .join('\n');
  throw new Error(`timed out waiting for ${what}${logs ? `\n${logs}` : ''}`);
}

/**
 * One model for several aemon processes, so their scores compare: `aemon simulate` with
 * `simulateArgs` into a training file, `aemon train` on it into `<dir>/<folders[0]>`, copied to
 * the other folders. Returns the scratch folder `dir`.
 */
export async function sharedModel(prefix: string, simulateArgs: string[], folders: string[]): Promise<string> {
  const dir = tempDir(prefix);
  const trainFile = join(dir, 'train.ndjson');
  const sim = await aemon(['simulate', ...simulateArgs, '--out', trainFile], { env: FAST });
  assert.equal(sim.code, 0, sim.stderr);
  const [first, ...copies] = folders;
  const trained = await aemon(['train', trainFile, '--out', join(dir, first!)], { env: FAST });
  assert.equal(trained.code, 0, trained.stderr);
  for (const copy of copies) cpSync(join(dir, first!), join(dir, copy), { recursive: true });
  return dir;
}

/** `aemon simulate --kafka-topic`; returns the number of readings it produced. */
export async function simulateTo(brokers: string, topic: string, args: string[]): Promise<number> {
  // Fixed event times, so ids and scores repeat (the harness broker keeps them: no retention).
  const start = args.includes('--start') ? [] : ['--start', '2026-01-01T00:00:00Z'];
  const r = await aemon(['simulate', '--kafka-topic', topic, ...start, ...args], {
    env: { AEMON_KAFKA_BROKERS: brokers, ...FAST },
  });
  assert.equal(r.code, 0, r.stderr);
  const m = /^(\d+) readings/m.exec(r.stderr);
  assert.ok(m, r.stderr);
  return Number(m[1]);
}
