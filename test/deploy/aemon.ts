import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ROOT, stopProcess } from './tools.js';

const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));

interface After {
  after(fn: () => void | Promise<void>): void;
}

export interface RunningDemo {
  /** `http://127.0.0.1:<port>` of its /metrics server. */
  url: string;
  /** `127.0.0.1:<port>`, as a Prometheus target. */
  target: string;
  output(): string;
  /** Stops it (SIGTERM: it drains and writes its summary) and waits until it exited. */
  stop(): Promise<void>;
}

/**
 * A fast demo (as test/cli/demo.test.ts runs it): short bootstrap, few epochs, event time 40× the
 * wall clock and an injected anomaly every ~150 s of event time per sensor, so scores appear within
 * seconds and an anomaly is flagged well within a minute. Runs until stopped (or `duration`).
 */
export const FAST_DEMO_ENV: Readonly<Record<string, string>> = {
  AEMON_TRAINING_BOOTSTRAP_READINGS: '200',
  AEMON_MODEL_EPOCHS: '8',
  AEMON_SIMULATOR_SPEEDUP: '40',
  AEMON_SIMULATOR_QUIET_SECONDS: '400',
  AEMON_SIMULATOR_ANOMALY_EVERY_SECONDS: '150',
};

/** Spawns `aemon demo --port 0` and resolves once it printed its metrics URL; stopped when the test ends. */
export async function startDemo(
  t: After,
  options: { sensors?: number; seed?: number; duration?: string } = {},
): Promise<RunningDemo> {
  const args = [
    'demo',
    '--port',
    '0',
    '--sensors',
    String(options.sensors ?? 3),
    '--seed',
    String(options.seed ?? 3),
    '--duration',
    options.duration ?? '120s',
  ];
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...FAST_DEMO_ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => stopProcess(child, 20_000));
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (d: string): void => {
      out += d;
      const m = /metrics: (http:\/\/\S+)\/metrics/.exec(out);
      if (m) resolve(m[1]!);
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('exit', (code) =>
      reject(new Error(`aemon demo exited (code ${code}) before serving /metrics:\n${out}`)),
    );
    child.once('error', reject);
  });
  return { url, target: new URL(url).host, output: () => out, stop: () => stopProcess(child, 20_000) };
}
