import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { createAutoencoder } from '../../src/model/autoencoder.js';
import { selectBackend } from '../../src/model/backend.js';
import type { Reading, SensorWindow } from '../../src/pipeline/contracts.js';
import { channelValues, valueOf } from '../pipeline/fixtures.js';
import { BootstrapTrainer } from '../../src/training/bootstrap.js';
import { LabelStore } from '../../src/training/labels.js';
import { AemonError } from '../../src/errors.js';

const SIZE = 8;
const cfg = parseConfig({
  windowing: { size: SIZE },
  training: { bootstrapReadings: 60 },
  model: { units: 4, epochs: 3, batchSize: 16 },
});

function reading(sensor: string, i: number): Reading {
  return {
    sensor,
    ts: i * 1000,
    ...channelValues({ a: Math.sin(i / 3), b: Math.cos(i / 4) }),
    origin: { source: 'test' },
    arrivedAt: 0,
    seq: i,
    ack: () => {},
  };
}

/** Feeds readings 0..n-1 of a sensor the way the windowing stage releases them (stride 1). */
function feed(trainer: BootstrapTrainer, sensor: string, from: number, to: number): number[] {
  const history: Reading[] = [];
  const training: number[] = [];
  for (let i = 0; i < to; i++) {
    const r = reading(sensor, i);
    history.push(r);
    if (history.length > SIZE) history.shift();
    if (i < from) continue;
    let window: SensorWindow | null = null;
    if (history.length === SIZE) {
      const data = new Float32Array(SIZE * 2);
      history.forEach((h, k) => data.set([valueOf(h, 'a')!, valueOf(h, 'b')!], k * 2));
      window = {
        kind: 'window',
        id: `${sensor}@${r.ts}`,
        sensor,
        group: 'a,b',
        channels: ['a', 'b'],
        start: history[0]!.ts,
        end: r.ts,
        data,
        readings: [r],
      };
    }
    training.push(trainer.observe(sensor, 'a,b', [r], window));
  }
  return training;
}

async function trainer(labels?: LabelStore): Promise<{ t: BootstrapTrainer; trained: string[] }> {
  const { tf, backend } = await selectBackend('auto');
  const trained: string[] = [];
  const t = new BootstrapTrainer(
    { model: cfg.model, training: cfg.training, detection: cfg.detection, windowing: cfg.windowing },
    {
      createModel: async (params) => createAutoencoder(tf, backend, params),
      versionOf: async () => 'm-test',
      onTrained: (b) => trained.push(b.metadata.group),
      ...(labels ? { labels } : {}),
    },
  );
  return { t, trained };
}

test('the first bootstrapReadings readings of each sensor are training; the group trains once all known sensors have them', async () => {
  const { t, trained } = await trainer();
  const a = feed(t, 'a', 0, 60);
  assert.equal(a.filter((x) => x === 1).length, 60);
  // a is the only sensor known, so its 60th reading started training.
  assert.ok(t.pending('a', 'a,b') instanceof Promise);
  const t2 = await trainer();
  feed(t2.t, 'a', 0, 30);
  feed(t2.t, 'b', 0, 60);
  assert.equal(t2.t.pending('b', 'a,b'), undefined, 'a has not finished its bootstrap: no training yet');
  feed(t2.t, 'a', 30, 60);
  const pending = t2.t.pending('a', 'a,b');
  assert.ok(pending, 'training started when the last known sensor finished');
  await pending;
  assert.deepEqual(t2.trained, ['a,b']);
  const bundle = t2.t.models()[0]!;
  assert.deepEqual(Object.keys(bundle.metadata.sensors).sort(), ['a', 'b']);
  assert.equal(bundle.metadata.trainingWindows, 2 * (60 - SIZE + 1));
  assert.ok(t2.t.target('a', 'a,b'));
  await t.idle();
  assert.deepEqual(trained, ['a,b']);
  // After the bootstrap, readings are not training data.
  assert.deepEqual(feed(t2.t, 'a', 60, 65), [0, 0, 0, 0, 0]);
});

test('a sensor that appears after training is calibrated on its own bootstrap against the model', async () => {
  const { t } = await trainer();
  feed(t, 'a', 0, 60);
  await t.idle();
  assert.equal(t.target('c', 'a,b'), undefined);
  feed(t, 'c', 0, 60);
  await t.pending('c', 'a,b');
  const target = t.target('c', 'a,b');
  assert.ok(target);
  assert.ok(Number.isFinite(target.calibration.threshold) && target.calibration.threshold > 0);
  assert.equal(target.bundle, t.models()[0]);
});

test('windows an operator labelled anomalous are not learned from', async () => {
  const labels = new LabelStore();
  labels.add({ sensor: 'a', from: 20_000, to: 29_000, label: 'anomaly' });
  const { t } = await trainer(labels);
  feed(t, 'a', 0, 60);
  await t.idle();
  // Windows touching [20 s, 29 s] (ends 20..36 s) are left out: 17 of the 53 bootstrap windows.
  assert.equal(t.models()[0]!.metadata.trainingWindows, 60 - SIZE + 1 - 17);
});

test('a group whose model cannot be trained makes its waiting sensors and flush fail with AEMON_TRAINING, once and for good', async () => {
  const { tf, backend } = await selectBackend('auto');
  // A learning rate no fit survives: the first epoch's loss is not finite ("training diverged").
  const diverging = parseConfig({
    windowing: { size: SIZE },
    training: { bootstrapReadings: 60 },
    model: { units: 4, epochs: 3, batchSize: 16, learningRate: 1e30 },
  });
  const failed: string[] = [];
  const t = new BootstrapTrainer(
    {
      model: diverging.model,
      training: diverging.training,
      detection: diverging.detection,
      windowing: diverging.windowing,
    },
    {
      createModel: async (params) => createAutoencoder(tf, backend, params),
      versionOf: async () => 'm-test',
      onTrained: () => assert.fail('nothing can be trained'),
      onFailed: (group) => failed.push(group),
    },
  );
  feed(t, 'a', 0, 60);
  const isTrainingError = (err: unknown): boolean =>
    err instanceof AemonError &&
    err.code === 'AEMON_TRAINING' &&
    /^no model could be trained for channels \[a,b\]: training diverged: loss is /.test(err.message);
  await assert.rejects(t.pending('a', 'a,b')!, isTrainingError);
  assert.deepEqual(failed, ['a,b']);
  assert.equal(t.target('a', 'a,b'), undefined);
  assert.deepEqual(t.models(), []);
  // More readings do not start another training, and waiting still fails the same way.
  feed(t, 'a', 60, 70);
  await assert.rejects(t.pending('a', 'a,b')!, isTrainingError);
  await t.idle();
  await assert.rejects(t.flush(), isTrainingError);
  assert.deepEqual(failed, ['a,b']);
});
