import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DEPLOY = join(ROOT, 'deploy');

interface After {
  after(fn: () => void | Promise<void>): void;
}

/**
 * The real binaries these tests need. A missing one fails the test with what to install: the tests
 * never pass without the tool they exist to exercise.
 */
export function requireTool(name: 'prometheus' | 'promtool' | 'docker-compose'): void {
  const probe = spawnSync(name, ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined) {
    throw new Error(
      `${name} is not installed (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message}): ` +
        'run `npm run test:setup` (Debian: apt-get install -y prometheus docker-compose)',
    );
  }
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws on a non-zero exit (the test asserts on it). */
export function run(
  cmd: string,
  args: readonly string[],
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function tempDir(t: After, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `aemon-${prefix}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A port nothing listens on right now (the kernel's pick for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `probe` until it returns a value (not undefined), or fails after `timeoutMs` saying what it waited for. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `; last error: ${String(last)}`}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** SIGTERM, then SIGKILL if the process has not exited within `graceMs`. Resolves once it exited. */
export function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface Prometheus {
  url: string;
  /** `GET /api/v1/<path>`; rejects unless the API answered `status: success`. */
  api<T>(path: string, params?: Record<string, string>): Promise<T>;
  /** An instant query (at `time`, Unix seconds, or now). */
  query(expr: string, time?: number): Promise<Sample[]>;
  log(): string;
}

/**
 * Starts the real Prometheus on a free loopback port with its own storage folder and the given
 * config, waits until it is ready, and stops it when the test ends.
 */
export async function startPrometheus(
  t: After,
  options: { config: string; storage?: string; args?: readonly string[] },
): Promise<Prometheus> {
  requireTool('prometheus');
  const dir = mkdtempSync(join(tmpdir(), 'aemon-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, options.config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${options.storage ?? join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (log += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
  t.after(async () => {
    await stopProcess(child);
    rmSync(dir, { recursive: true, force: true });
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`prometheus exited (code ${code}) before it was ready:\n${log}`))),
  );
  exited.catch(() => undefined);

  const api = async <T>(path: string, params: Record<string, string> = {}): Promise<T> => {
    const res = await fetch(`${url}/api/v1/${path}?${new URLSearchParams(params)}`);
    const body = (await res.json()) as { status: string; data: T; errorType?: string; error?: string };
    if (body.status !== 'success')
      throw new Error(`prometheus /api/v1/${path} ${JSON.stringify(params)}: ${body.errorType}: ${body.error}`);
    return body.data;
  };
  await Promise.race([
    exited,
    waitFor('prometheus to be ready', async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined), 30_000, 100),
  ]);
  return {
    url,
    api,
    query: async (expr, time) => {
      const data = await api<{ resultType: string; result: Sample[] }>('query', {
        query: expr,
        ...(time === undefined ? {} : { time: String(time) }),
      });
      if (data.resultType !== 'vector') throw new Error(`${expr}: expected a vector, got ${data.resultType}`);
      return data.result;
    },
    log: () => log,
  };
}
