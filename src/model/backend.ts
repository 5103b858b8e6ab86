import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import * as tfjs from '@tensorflow/tfjs';
import { AemonError } from '../errors.js';
import { restoreLegacyUtil } from './legacyUtil.js';

/** The TensorFlow.js namespace, as handed to the model code (tests can pass their own). */
export type Tf = typeof tfjs;
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export type BackendPreference = 'auto' | BackendName;

export interface BackendSelection {
  tf: Tf;
  backend: BackendName;
  /** Why `auto` fell back from a faster backend, e.g. `tfjs-node not installed`. */
  note?: string;
  /** A faster backend is installed but could not be used (worth a warning, unlike one not installed). */
  degraded?: boolean;
}

// In a variable so that tsc does not try to resolve the optional package.
const TFJS_NODE: string = '@tensorflow/tfjs-node';
const WASM_FILE = 'tfjs-backend-wasm.wasm';

type Attempt = { ok: true; tf: Tf } | { ok: false; reason: string; notInstalled?: boolean };

let chosen: Promise<BackendSelection> | undefined;

/**
 * Picks the TensorFlow.js backend once per process: `auto` tries tfjs-node, then WASM (loaded
 * from node_modules, no network), then the pure-JS CPU backend. An explicit preference that
 * cannot be met throws `AEMON_BACKEND`; asking later for another backend than the one chosen
 * throws too, because tfjs has one global backend and models made on it stay there.
 */
export async function selectBackend(preference: BackendPreference): Promise<BackendSelection> {
  if (chosen === undefined) {
    const attempt = choose(preference);
    chosen = attempt;
    attempt.catch(() => {
      if (chosen === attempt) chosen = undefined;
    });
    return attempt;
  }
  const current = await chosen;
  if (preference === 'auto' || preference === current.backend) return current;
  if (preference === 'tensorflow') {
    const attempt = await probeTensorflow();
    if (!attempt.ok) throw unavailable('tensorflow', attempt.reason);
  }
  throw new AemonError(
    'AEMON_BACKEND',
    `backend "${preference}" requested, but this process already runs on "${current.backend}" (one backend per process)`,
    { stage: 'startup' },
  );
}

async function choose(preference: BackendPreference): Promise<BackendSelection> {
  const notes: string[] = [];
  let degraded = false;
  const passOver = (attempt: { reason: string; notInstalled?: boolean }): void => {
    notes.push(attempt.reason);
    if (!attempt.notInstalled) degraded = true;
  };
  if (preference === 'auto' || preference === 'tensorflow') {
    const attempt = await loadTensorflow();
    if (attempt.ok) return { tf: attempt.tf, backend: 'tensorflow' };
    if (preference === 'tensorflow') throw unavailable('tensorflow', attempt.reason);
    passOver(attempt);
  }
  if (preference === 'auto' || preference === 'wasm') {
    const attempt = await loadWasm();
    if (attempt.ok) return withNote({ tf: attempt.tf, backend: 'wasm' }, notes, degraded);
    if (preference === 'wasm') throw unavailable('wasm', attempt.reason);
    passOver(attempt);
  }
  if (!(await tfjs.setBackend('cpu'))) throw unavailable('cpu', 'the cpu backend failed to initialise');
  return withNote({ tf: tfjs, backend: 'cpu' }, notes, degraded);
}

function withNote(selection: BackendSelection, notes: string[], degraded: boolean): BackendSelection {
  if (notes.length === 0) return selection;
  return { ...selection, note: notes.join('; '), ...(degraded ? { degraded } : {}) };
}

function unavailable(backend: BackendName, reason: string): AemonError {
  return new AemonError('AEMON_BACKEND', `backend "${backend}" is not available: ${reason}`, { stage: 'startup' });
}

async function probeTensorflow(): Promise<Attempt> {
  // aemon's models are small: one TensorFlow thread scores and trains them faster than the
  // default pools here (measured ~30 % on 2 cores), and leaves a core to the pipeline. Set
  // TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS to change it; they are read at load.
  process.env.TF_NUM_INTRAOP_THREADS ??= '1';
  process.env.TF_NUM_INTEROP_THREADS ??= '1';
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  // tfjs-node 4.22 calls util functions Node 23 removed; they must be back before it loads.
  restoreLegacyUtil();
  let mod: unknown;
  try {
    mod = await import(TFJS_NODE);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      return { ok: false, reason: 'tfjs-node not installed', notInstalled: true };
    }
    return { ok: false, reason: `tfjs-node failed to load (${firstLine(err)})` };
  }
  if (tfjs.findBackend('tensorflow') !== undefined) return { ok: true, tf: tfjs };
  // tfjs-node with its own copy of tfjs registers the backend there, not on ours: use its namespace.
  const ns = ((mod as { default?: unknown }).default ?? mod) as Partial<Tf>;
  if (typeof ns.findBackend === 'function' && ns.findBackend('tensorflow') !== undefined) {
    return { ok: true, tf: ns as Tf };
  }
  return { ok: false, reason: 'tfjs-node loaded but registered no "tensorflow" backend' };
}

async function loadTensorflow(): Promise<Attempt> {
  const attempt = await probeTensorflow();
  if (!attempt.ok) return attempt;
  if (!(await attempt.tf.setBackend('tensorflow'))) {
    return { ok: false, reason: 'the tensorflow backend failed to initialise' };
  }
  // The binding can load and still fail at its first op (a Node version it was not made for):
  // found now, `auto` falls back to WASM instead of failing at the first training.
  const failure = firstOpFailure(attempt.tf);
  if (failure !== undefined)
    return { ok: false, reason: `tfjs-node loaded, but its first operation failed (${failure})` };
  return attempt;
}

function firstOpFailure(tf: Tf): string | undefined {
  try {
    const sum = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])).dataSync());
    return sum[0] === 4 && sum[1] === 6 ? undefined : `1 + 3, 2 + 4 gave ${Array.from(sum).join(', ')}`;
  } catch (err) {
    return firstLine(err);
  }
}

async function loadWasm(): Promise<Attempt> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
    if (!existsSync(join(dir, WASM_FILE))) return { ok: false, reason: `${WASM_FILE} not found in ${dir}` };
    wasm.setWasmPaths(dir + sep);
    // One thread: reductions then run in a fixed order, so a seed gives bit-identical weights.
    wasm.setThreadsCount(1);
    if (!(await tfjs.setBackend('wasm'))) return { ok: false, reason: 'the wasm backend failed to initialise' };
    return { ok: true, tf: tfjs };
  } catch (err) {
    return { ok: false, reason: `the wasm backend failed to load (${firstLine(err)})` };
  }
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n', 1)[0] ?? text;
}
