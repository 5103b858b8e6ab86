import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { AemonError } from '../../src/errors.js';
import { createEngine } from '../../src/main.js';
import { createAutoencoder } from '../../src/model/autoencoder.js';
import type { Tf } from '../../src/model/backend.js';
import { exportArtifacts, modelVersion } from '../../src/model/io.js';
import { createLogger } from '../../src/observability/logger.js';
import type { PipelineOutput, Sink } from '../../src/pipeline/contracts.js';
import type { ModelBundle } from '../../src/pipeline/model.js';
import { fileSource } from '../../src/sources/file.js';
import { parseExposition, samplesOf } from '../observability/exposition.js';
import { selectTestBackend, SMALL, TEST_KERNEL } from '../model/fixtures.js';
import { tempDir } from '../tempdir.js';

const W = SMALL.windowSize;
const cfg = parseConfig({ windowing: { size: W }, scoring: { batchSize: 8, maxWaitMs: 0 } });

async function bundle(
  tf: Tf,
  backend: string,
  seed: number,
  channels = ['x', 'y'],
): Promise<ModelBundle & { disposed: () => boolean }> {
  const model = createAutoencoder(tf, backend, { ...SMALL, channels: channels.length, seed }, TEST_KERNEL);
  let disposed = false;
  const dispose = model.dispose.bind(model);
  model.dispose = () => {
    disposed = true;
    dispose();
  };
  const { weights, topology } = await exportArtifacts(model);
  const calibration = { mean: channels.map(() => 0), std: channels.map(() => 1), threshold: 1 };
  return {
    model,
    metadata: {
      version: modelVersion(weights, topology),
      createdAt: new Date(Date.UTC(2026, 0, seed)).toISOString(),
      group: channels.join(','),
      channels,
      params: model.params,
      dataFrom: null,
      dataTo: null,
      trainingWindows: 1,
      fit: null,
      sensors: { a: calibration, b: calibration },
      fallback: calibration,
    },
    disposed: () => disposed,
  };
}

test('swapModel: later batches score with the new model, the old one is disposed only after the batch in flight, aemon_model_info follows', async () => {
  const { tf, backend } = await selectTestBackend();
  const [a, b] = [await bundle(tf, backend, 1), await bundle(tf, backend, 2)];
  const dir = tempDir('aemon-swap-');
  const lines: string[] = [];
  for (let i = 0; i < 120; i++) {
    for (const sensor of ['a', 'b'])
      lines.push(
        JSON.stringify({
          sensor,
          ts: Date.UTC(2026, 0, 1) + i * 1000,
          values: { x: Math.sin(i / 4), y: Math.cos(i / 5) },
        }),
      );
  }
  writeFileSync(join(dir, 'stream.ndjson'), lines.join('\n') + '\n');

  const engine = await createEngine(cfg, { mode: 'replay', log: createLogger('silent'), bundles: [a] });
  const versions: string[] = [];
  let disposedAtSwap: boolean | undefined;
  const sink: Sink = {
    name: 'swap-midway',
    async write(outputs: readonly PipelineOutput[]) {
      for (const o of outputs) if (o.kind === 'scored' && o.window) versions.push(o.window.modelVersion);
      if (disposedAtSwap === undefined && versions.length >= 40) {
        engine.swapModel(b);
        disposedAtSwap = a.disposed();
      }
    },
    async close() {},
  };
  const stats = await engine.run(fileSource(join(dir, 'stream.ndjson'), { flow: engine.gate }), [sink]);
  assert.equal(stats.windowsScored, versions.length);
  assert.equal(disposedAtSwap, false, 'not disposed while a batch may hold it');
  assert.equal(a.disposed(), true, 'disposed once a batch settled after the swap');
  assert.equal(b.disposed(), false);
  const firstB = versions.indexOf(b.metadata.version);
  assert.ok(firstB >= 40, `the new model scores after the swap (first at ${firstB})`);
  assert.ok(versions.slice(0, firstB).every((v) => v === a.metadata.version));
  assert.ok(
    versions.slice(firstB).every((v) => v === b.metadata.version),
    'no window goes back to the old model',
  );
  assert.deepEqual(
    engine.trainer.models().map((m) => m.metadata.version),
    [b.metadata.version],
  );
  const info = samplesOf(parseExposition(await engine.registry.metrics()), 'aemon_model_info');
  assert.deepEqual(
    info.map((s) => s.labels.version),
    [b.metadata.version],
  );

  const other = await bundle(tf, backend, 3, ['p', 'q', 'r']);
  other.metadata.group = 'x,y';
  assert.throws(
    () => engine.trainer.replace(other),
    (err: unknown) => err instanceof AemonError && err.code === 'AEMON_MODEL_INVALID',
  );
  for (const m of [b, other]) m.model.dispose();
});
