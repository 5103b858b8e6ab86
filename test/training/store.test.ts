import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelBundle, SensorCalibration } from '../../src/pipeline/model.js';
import { ModelStore } from '../../src/training/store.js';

const calibration: SensorCalibration = { mean: [0, 0], std: [1, 1], threshold: 1 };

/** A bundle as far as the store reads it: its group, channels and calibrated sensors. */
function bundle(version: string, sensors: string[]): ModelBundle {
  return {
    model: { dispose: () => {} },
    metadata: {
      version,
      group: 'a,b',
      channels: ['a', 'b'],
      sensors: Object.fromEntries(sensors.map((s) => [s, calibration])),
      fallback: calibration,
    },
  } as unknown as ModelBundle;
}

test("a sensor's model channels follow every put, swap and calibration, though they are remembered between them", () => {
  const store = new ModelStore();
  assert.equal(store.modelChannels('s1'), undefined);
  const first = bundle('m1', ['s1']);
  store.put(first);
  assert.deepEqual(store.modelChannels('s1'), ['a', 'b']);
  assert.equal(store.modelChannels('s2'), undefined);
  // Asked again: the remembered answer, until the model learns s2.
  assert.equal(store.modelChannels('s2'), undefined);
  store.calibrated(first, 's2', calibration);
  assert.deepEqual(store.modelChannels('s2'), ['a', 'b']);
  // A name Object.prototype has is no sensor of the model.
  assert.equal(store.modelChannels('constructor'), undefined);
  store.swap(bundle('m2', ['s3']));
  assert.equal(store.modelChannels('s1'), undefined);
  assert.deepEqual(store.modelChannels('s3'), ['a', 'b']);
});
