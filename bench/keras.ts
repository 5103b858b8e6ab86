// The Keras peers, run by a Python with TensorFlow, for the `× Keras` column: model M0 from the
// peer script the bench is told about (it is not part of this repository, so the published M0
// figures stay comparable), the conv autoencoder from this repository's bench/keras_peer.py.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelRow } from './rows.js';

/** The repository root: bench/ sits at its top. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The repository's own peer: the conv rows' (`--architecture conv`); its default, M0, measures as keras_m0.py does. */
export const REPO_PEER = join(ROOT, 'bench/keras_peer.py');

/**
 * Where the M0 peer script is: `--keras-peer`, then BENCH_KERAS_PEER, then the checkout's sibling
 * `shared/bench/keras_m0.py`; a relative path is taken from the repository root, not the cwd.
 */
export function kerasPeerPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(ROOT, flag ?? env.BENCH_KERAS_PEER ?? '../shared/bench/keras_m0.py');
}

let python: { found: string | undefined } | undefined;

/** A Python that can import tensorflow: the checkout's .venv first, then python3 (looked for once). */
function findPython(): string | undefined {
  python ??= {
    found: [join(ROOT, '.venv/bin/python'), 'python3'].find(
      (py) =>
        (py === 'python3' || existsSync(py)) &&
        spawnSync(py, ['-c', 'import tensorflow'], { stdio: 'ignore', timeout: 60_000 }).status === 0,
    ),
  };
  return python.found;
}

/** What a peer prints, as one JSON line; `parameters` and `conv_layers` only from bench/keras_peer.py. */
interface PeerOutput {
  engine: string;
  infer_windows_per_s: number;
  train_windows_per_s: number;
  parameters?: number;
  conv_layers?: string[];
}

/** The score and train rows in a peer's last line of output; throws when it is not a peer's JSON line. */
export function peerRows(model: 'm0' | 'conv', channels: number, stdout: string): ModelRow[] {
  const j = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as PeerOutput;
  if (typeof j.infer_windows_per_s !== 'number' || typeof j.train_windows_per_s !== 'number')
    throw new Error(`not a peer's output: ${JSON.stringify(j)}`);
  const network = {
    ...(j.parameters === undefined ? {} : { parameters: j.parameters }),
    ...(model === 'conv' && j.conv_layers !== undefined ? { convLayers: j.conv_layers } : {}),
  };
  const row = (name: ModelRow['name'], windowsPerSecond: number): ModelRow => ({
    name,
    engine: 'keras',
    channels,
    windowsPerSecond,
    note: j.engine,
    ...network,
  });
  return [row(`score-${model}`, j.infer_windows_per_s), row(`train-${model}`, j.train_windows_per_s)];
}

/**
 * The peer's score and train rows of `model` for `channels`, or none (with a line saying why):
 * M0 from `peer`, the conv autoencoder from {@link REPO_PEER}.
 */
export function kerasRows(
  peer: string,
  channels: number,
  log: (s: string) => void,
  model: 'm0' | 'conv' = 'm0',
): ModelRow[] {
  const script = model === 'conv' ? REPO_PEER : peer;
  if (!existsSync(script)) {
    const how = model === 'm0' ? '; pass --keras-peer PATH or set BENCH_KERAS_PEER' : '';
    log(`keras peer: not run (${script} missing${how})\n`);
    return [];
  }
  const py = findPython();
  if (!py) {
    log(
      'keras peer: not run (no Python with tensorflow; python3 -m venv .venv && .venv/bin/pip install tensorflow-cpu)\n',
    );
    return [];
  }
  log(`keras peer: ${model}, ${channels} channel(s)…\n`);
  const args = [script, ...(model === 'conv' ? ['--architecture', 'conv'] : []), '--channels', String(channels)];
  const r = spawnSync(py, [...args, '--threads', '1'], { encoding: 'utf8', timeout: 600_000 });
  try {
    return peerRows(model, channels, r.stdout);
  } catch {
    log(`keras peer failed: ${r.stderr.slice(-500)}\n`);
    return [];
  }
}
