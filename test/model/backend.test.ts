import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { selectBackend } from '../../src/model/backend.js';
import { AemonError } from '../../src/errors.js';

// The assertions follow what is installed, so the file checks the right thing on any machine.
function tfjsNodeInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

const isBackendError = (pattern: RegExp) => (err: unknown) =>
  err instanceof AemonError && err.code === 'AEMON_BACKEND' && err.stage === 'startup' && pattern.test(err.message);

// Tests in this file share one process and run in order: the choice is memoised per process.
test(
  'an explicit "tensorflow" preference without tfjs-node fails with AEMON_BACKEND',
  { skip: tfjsNodeInstalled() },
  async () => {
    await assert.rejects(
      selectBackend('tensorflow'),
      isBackendError(/"tensorflow" is not available: tfjs-node not installed/),
    );
  },
);

test('auto picks tensorflow when tfjs-node is installed, else WASM from node_modules, and says why', async () => {
  const selection = await selectBackend('auto');
  if (tfjsNodeInstalled()) {
    assert.equal(selection.backend, 'tensorflow');
  } else {
    assert.equal(selection.backend, 'wasm');
    assert.equal(selection.note, 'tfjs-node not installed');
    assert.equal(selection.degraded, undefined, 'not installed is not broken');
  }
  assert.equal(selection.tf.getBackend(), selection.backend);
  const squared = selection.tf.square(selection.tf.tensor1d([1.5, -2]));
  assert.deepEqual(Array.from(await squared.data()), [2.25, 4]);
  squared.dispose();
});

test('the choice is made once per process', async () => {
  const first = await selectBackend('auto');
  assert.equal(await selectBackend('auto'), first);
  assert.equal(await selectBackend(first.backend), first);
});

test('asking for another backend than the chosen one fails instead of switching silently', async () => {
  const { backend } = await selectBackend('auto');
  const other = backend === 'cpu' ? 'wasm' : 'cpu';
  await assert.rejects(
    selectBackend(other),
    isBackendError(new RegExp(`"${other}" requested, but this process already runs on "${backend}"`)),
  );
  if (!tfjsNodeInstalled()) {
    await assert.rejects(selectBackend('tensorflow'), isBackendError(/tfjs-node not installed/));
  }
});

/** Runs selectBackend(preference) in a fresh process, where nothing has been chosen yet (with `nodeArgs` before it). */
async function selectInChild(
  preference: string,
  nodeArgs: string[] = [],
): Promise<{ backend: string; active: string; note: string | null; degraded: boolean }> {
  const backendModule = new URL('../../src/model/backend.ts', import.meta.url).href;
  const code = `import { selectBackend } from ${JSON.stringify(backendModule)};
const s = await selectBackend(${JSON.stringify(preference)});
console.log(JSON.stringify({ backend: s.backend, active: s.tf.getBackend(), note: s.note ?? null, degraded: s.degraded ?? false }));`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...nodeArgs, '--import', 'tsx', '--input-type=module', '-e', code],
    {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!) as {
    backend: string;
    active: string;
    note: string | null;
    degraded: boolean;
  };
}

test('explicit "wasm" and "cpu" preferences are honoured in a fresh process, with no fallback note', async () => {
  assert.deepEqual(await selectInChild('wasm'), { backend: 'wasm', active: 'wasm', note: null, degraded: false });
  assert.deepEqual(await selectInChild('cpu'), { backend: 'cpu', active: 'cpu', note: null, degraded: false });
});

test(
  'a tfjs-node that loads but fails its first op is not used: auto falls back to WASM saying why, an explicit "tensorflow" fails',
  { skip: !tfjsNodeInstalled() && 'tfjs-node is not installed' },
  async () => {
    // The failure Node 24 gave tfjs-node 4.22 (a util function it calls is gone), made on purpose:
    // every tfjs-node op checks its inputs with util.isNullOrUndefined first.
    const broken = [
      '--import',
      `data:text/javascript,${encodeURIComponent("import util from 'node:util'; util.isNullOrUndefined = () => { throw new TypeError('util.isNullOrUndefined is broken'); };")}`,
    ];
    const auto = await selectInChild('auto', broken);
    assert.equal(auto.backend, 'wasm');
    assert.equal(auto.active, 'wasm');
    assert.equal(auto.note, 'tfjs-node loaded, but its first operation failed (util.isNullOrUndefined is broken)');
    assert.equal(auto.degraded, true, 'installed but broken: a warning, not the quiet note of a backend not installed');
    await assert.rejects(selectInChild('tensorflow', broken), (err: Error & { stderr?: string }) =>
      /backend "tensorflow" is not available: tfjs-node loaded, but its first operation failed \(util\.isNullOrUndefined is broken\)/.test(
        err.stderr ?? '',
      ),
    );
    // Without the breakage the same child picks tensorflow: the fallback above was the failure's doing.
    assert.equal((await selectInChild('auto')).backend, 'tensorflow');
  },
);
