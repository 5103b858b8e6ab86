import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { modelPersistence } from '../../src/cli/run-wiring.js';
import { verifyModelFolder } from '../../src/model/io.js';
import { ModelRegistry } from '../../src/model/registry.js';
import { createLogger } from '../../src/observability/logger.js';
import type { ModelBundle } from '../../src/pipeline/model.js';
import { untrainedBundles } from '../model/fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'aemon-persist-'));
const models = untrainedBundles();

after(() => {
  rmSync(root, { recursive: true, force: true });
});

/** A logger whose lines are kept, parsed. */
function capturingLogger(): { log: ReturnType<typeof createLogger>; lines: Array<{ msg: string; sensors?: number }> } {
  const lines: Array<{ msg: string; sensors?: number }> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l));
      done();
    },
  });
  return { log: createLogger('info', { destination }), lines };
}

const calibrate = (b: ModelBundle, sensor: string): void => {
  b.metadata.sensors[sensor] = { mean: [0, 0, 0], std: [1, 1, 1], threshold: 0.5 };
};

test('calibrations that land while a save waits are saved by it: a fleet of new sensors costs a few saves, not one each', async () => {
  const registry = new ModelRegistry({ root: join(root, 'fleet'), keep: 3 });
  const bundle = await models.bundle(1, { group: 'a,b,c', channels: ['a', 'b', 'c'] });
  const { log, lines } = capturingLogger();
  let starts = 0;
  // A sensor calibrated while the first update runs (not waits) must get a save of its own.
  const p = modelPersistence(registry, log, () => {
    if (++starts === 2) {
      calibrate(bundle, 'late-sensor');
      void p.persist('a,b,c', 'update');
    }
    return bundle;
  });
  void p.persist('a,b,c', 'promote');
  for (let i = 0; i < 500; i++) {
    calibrate(bundle, `sensor-${i}`);
    void p.persist('a,b,c', 'update');
  }
  await p.saved();
  // The late sensor's update was asked for during the wait above.
  await p.saved();

  const saves = lines.filter((l) => l.msg.startsWith('saved model'));
  assert.equal(saves.length, 3, `a promotion, one update for the 500, one for the late sensor: ${saves.length} saves`);
  assert.equal(starts, 3, 'each save reads the model as it is when it starts');
  const metadata = await verifyModelFolder(join(registry.root, 'a_b_c', bundle.metadata.version));
  assert.equal(Object.keys(metadata.sensors).length, 502, 'every calibration is on disk (500, the late one, s-1)');
  assert.ok(metadata.sensors['late-sensor'], 'the one calibrated during a save is saved by the next');

  // Once idle, an update is saved again (nothing is left waiting for good).
  calibrate(bundle, 'after');
  await p.persist('a,b,c', 'update');
  assert.equal(lines.filter((l) => l.msg.startsWith('saved model')).length, 4);
  assert.ok((await verifyModelFolder(join(registry.root, 'a_b_c', bundle.metadata.version))).sensors['after']);
});
