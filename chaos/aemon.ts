// `aemon run` as a child process, started from the built bin (dist/cli/index.js) as a user runs it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './paths.js';

export const BIN = join(ROOT, 'dist/cli/index.js');

export interface AemonProcess {
  readonly name: string;
  readonly pid: number;
  /** The metrics server's base URL once it serves /metrics. */
  readonly url: Promise<string>;
  readonly exited: Promise<number | null>;
  alive(): boolean;
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null when killed). */
  stop(graceMs?: number): Promise<number | null>;
}

const live = new Set<ChildProcess>();
// No aemon outlives the chaos run, whatever ends it.
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** Starts `aemon run` with `env` on top of this process's; its output is appended to `logFile`. */
export function startAemon(name: string, env: Record<string, string>, logFile: string): AemonProcess {
  // CHAOS_AEMON_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`): node flags for every aemon
  // started, for profiling one under load (NODE_OPTIONS refuses --cpu-prof).
  const nodeArgs = (process.env.CHAOS_AEMON_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...nodeArgs, BIN, 'run'], {
    cwd: ROOT,
    env: { ...process.env, AEMON_METRICS_PORT: '0', KAFKAJS_NO_PARTITIONER_WARNING: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${BIN} run`);
  live.add(child);
  const log: WriteStream = createWriteStream(logFile, { flags: 'a' });
  log.write(`--- ${new Date().toISOString()} ${name} pid ${child.pid}\n`);
  let resolveUrl!: (u: string) => void;
  const url = new Promise<string>((r) => (resolveUrl = r));
  let tail = '';
  const onData = (d: Buffer): void => {
    log.write(d);
    tail = (tail + d.toString()).slice(-4000);
    const m = /metrics on (http:\/\/[\d.:]+)\/metrics/.exec(tail);
    if (m) resolveUrl(m[1]!);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      live.delete(child);
      log.end(`--- ${new Date().toISOString()} ${name} exited ${code ?? child.signalCode}\n`);
      resolve(code);
    }),
  );
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    name,
    pid: child.pid,
    url: Promise.race([
      url,
      exited.then((code) => Promise.reject(new Error(`${name} exited (${code}) before serving /metrics: ${tail}`))),
    ]),
    exited,
    alive,
    signal: (sig) => {
      if (alive()) child.kill(sig);
    },
    async stop(graceMs = 30_000) {
      if (!alive()) return exited;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** One /metrics scrape, or undefined when the process does not answer within `timeoutMs`. */
export async function scrape(url: string, timeoutMs = 5_000): Promise<string | undefined> {
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}
