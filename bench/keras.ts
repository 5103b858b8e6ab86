// The Keras peer: the same model M0 in Keras, run by a Python with TensorFlow, for the `× Keras`
// column. The peer script is not part of this repository; the bench is told where it is.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelRow } from './rows.js';

/** The repository root: bench/ sits at its top. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Where the peer script is: `--keras-peer`, then BENCH_KERAS_PEER, then the checkout's sibling
 * `shared/bench/keras_m0.py`; a relative path is taken from the repository root, not the cwd.
 */
export function kerasPeerPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(ROOT, flag ?? env.BENCH_KERAS_PEER ?? '../shared/bench/keras_m0.py');
}

/** A Python that can import tensorflow: the checkout's .venv first, then python3. */
function findPython(): string | undefined {
  for (const py of [join(ROOT, '.venv/bin/python'), 'python3']) {
    if (py !== 'python3' && !existsSync(py)) continue;
    const r = spawnSync(py, ['-c', 'import tensorflow'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return py;
  }
  return undefined;
}

/** The peer's score-m0 and train-m0 rows for `channels`, or none (with a line saying why). */
export function kerasRows(peer: string, channels: number, log: (s: string) => void): ModelRow[] {
  if (!existsSync(peer)) {
    log(`keras peer: not run (${peer} missing; pass --keras-peer PATH or set BENCH_KERAS_PEER)\n`);
    return [];
  }
  const py = findPython();
  if (!py) {
    log(
      'keras peer: not run (no Python with tensorflow; python3 -m venv .venv && .venv/bin/pip install tensorflow-cpu)\n',
    );
    return [];
  }
  const r = spawnSync(py, [peer, '--channels', String(channels), '--threads', '1'], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    const j = JSON.parse(line) as { engine: string; infer_windows_per_s: number; train_windows_per_s: number };
    return [
      { name: 'score-m0', engine: 'keras', channels, windowsPerSecond: j.infer_windows_per_s, note: j.engine },
      { name: 'train-m0', engine: 'keras', channels, windowsPerSecond: j.train_windows_per_s, note: j.engine },
    ];
  } catch {
    log(`keras peer failed: ${r.stderr.slice(-500)}\n`);
    return [];
  }
}
