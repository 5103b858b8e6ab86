import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelSync } from '../../src/model/sync.js';
import { parseConfig } from '../../src/config/load.js';
import { createEngine, type Engine } from '../../src/main.js';
import { createAutoencoder } from '../../src/model/autoencoder.js';
import type { Tf } from '../../src/model/backend.js';
import { encodeModelRecord, loadModelRecord, type ModelMessage } from '../../src/model/record.js';
import { groupFolderName, ModelRegistry } from '../../src/model/registry.js';
import { createLogger } from '../../src/observability/logger.js';
import type { ModelBundle, SensorCalibration } from '../../src/pipeline/model.js';
import { parseExposition, samplesOf } from '../observability/exposition.js';
import { bundleFor, selectTestBackend, SMALL, TEST_KERNEL } from '../model/fixtures.js';

// The models topic's two ends without a broker: what a follower does with each record it reads
// (test/kafka/models.test.ts runs the same through a real broker, between two `aemon run`).
const root = mkdtempSync(join(tmpdir(), 'aemon-model-sync-'));
after(() => rmSync(root, { recursive: true, force: true }));

const GROUP = 'a,b,c';
const cal = (threshold: number): SensorCalibration => ({ mean: [0, 0, 0], std: [1, 1, 1], threshold });

async function model(tf: Tf, backend: string, seed: number, sensors: string[]): Promise<ModelBundle> {
  const m = createAutoencoder(tf, backend, { ...SMALL, seed }, TEST_KERNEL);
  return bundleFor(m, { sensors: Object.fromEntries(sensors.map((s) => [s, cal(1)])), fallback: cal(seed) });
}

interface Harness {
  engine: Engine;
  registry: ModelRegistry;
  sync: ModelSync;
  sent: ModelMessage[];
  lines: Array<{ msg: string }>;
  current(): string | undefined;
  currentFile(): string;
  counted(result: string): Promise<number>;
}

async function harness(name: string, first: ModelBundle, publishing: boolean): Promise<Harness> {
  const log = { lines: [] as Array<{ msg: string }> };
  const logger = createLogger('info', {
    destination: { write: (s: string) => void log.lines.push(JSON.parse(s) as { msg: string }) },
  });
  const engine = await createEngine(parseConfig({ windowing: { size: SMALL.windowSize } }), {
    mode: 'live',
    log: logger,
    bundles: [first],
  });
  const registry = new ModelRegistry({ root: join(root, name) });
  await registry.promote(first, { reason: 'bootstrap' });
  const sent: ModelMessage[] = [];
  const sync = new ModelSync({
    topic: 'aemon.models',
    log: logger,
    publishing,
    origin: `test/${name}`,
    current: (group) => engine.trainer.models().find((b) => b.metadata.group === group),
    load: (record) => loadModelRecord(record, engine.tf, engine.backend, TEST_KERNEL),
    // As `aemon run` does: the engine's swap, then a promotion into the registry.
    adopt: async (bundle) => {
      engine.swapModel(bundle);
      await registry.promote(bundle, { reason: 'published' });
    },
    send: async (message) => void sent.push(message),
    count: (result) => engine.metrics.modelRecord(result),
  });
  return {
    engine,
    registry,
    sync,
    sent,
    lines: log.lines,
    current: () => engine.trainer.models().find((b) => b.metadata.group === GROUP)?.metadata.version,
    currentFile: () => readFileSync(join(registry.root, groupFolderName(GROUP), 'CURRENT'), 'utf8').trim(),
    counted: async (result) =>
      samplesOf(parseExposition(await engine.registry.metrics()), 'aemon_model_records_total').find(
        (s) => s.labels.result === result,
      )?.value ?? Number.NaN,
  };
}

/** The record with a byte of weights.bin flipped (base64 re-encoded: only its checksum tells). */
function tamper(message: ModelMessage): Buffer {
  const doc = JSON.parse(message.value.toString('utf8')) as { files: Record<string, string> };
  const weights = Buffer.from(doc.files['weights.bin']!, 'base64');
  weights[weights.length >> 1]! ^= 0x10;
  doc.files['weights.bin'] = weights.toString('base64');
  return Buffer.from(JSON.stringify(doc));
}

test('a follower refuses a tampered record and keeps its model; it applies a published one (engine and registry), skips its repeat and anything older', async () => {
  const { tf, backend } = await selectTestBackend();
  const mine = await model(tf, backend, 1, ['pump-1', 'pump-2']);
  const h = await harness('follower', mine, false);
  const theirs = await model(tf, backend, 2, ['pump-3']);
  const published = await encodeModelRecord(theirs, Date.UTC(2026, 0, 2), 'trainer/1');

  assert.equal(await h.sync.receive(tamper(published), published.key), 'refused');
  assert.equal(h.current(), mine.metadata.version, 'the engine keeps its model');
  assert.equal(h.currentFile(), mine.metadata.version, 'CURRENT is not moved');
  assert.equal(await h.counted('refused'), 1);
  const refusal = h.lines.find((l) => l.msg.includes('refused'))?.msg ?? '';
  assert.match(
    refusal,
    new RegExp(
      `refused a record for \\[a,b,c\\]: weights\\.bin in the models topic record of ${theirs.metadata.version} \\[a,b,c\\] does not match its checksum .*; model ${mine.metadata.version} stays in use`,
    ),
  );

  assert.equal(await h.sync.receive(published.value, published.key), 'applied');
  assert.equal(h.current(), theirs.metadata.version, 'the engine scores with the published model');
  assert.equal(h.currentFile(), theirs.metadata.version, "it is the registry's current version");
  const scoring = h.engine.trainer.models()[0]!;
  assert.deepEqual(
    Object.keys(scoring.metadata.sensors).sort(),
    ['pump-1', 'pump-2', 'pump-3'],
    "the follower's own sensors keep scoring",
  );
  assert.equal(scoring.metadata.sensors['pump-1']!.threshold, 2, "with the published model's pooled threshold");
  assert.equal(h.engine.trainer.target('pump-1', GROUP)?.bundle.metadata.version, theirs.metadata.version);

  assert.equal(await h.sync.receive(published.value, published.key), 'skipped', 'the same version again');
  const stale = await model(tf, backend, 3, []);
  const older = await encodeModelRecord(stale, Date.UTC(2026, 0, 1), 'trainer/2');
  assert.equal(await h.sync.receive(older.value, older.key), 'skipped', 'published before the record applied');
  assert.equal(h.current(), theirs.metadata.version);
  assert.deepEqual([await h.counted('applied'), await h.counted('skipped'), await h.counted('refused')], [1, 2, 1]);
  assert.deepEqual(h.sent, [], 'a follower publishes nothing');
  await h.sync.publish(theirs);
  assert.deepEqual(h.sent, [], 'not even when asked to');
  // The engine disposes what it scored with; these it never took.
  for (const b of [theirs, stale]) b.model.dispose();
  h.engine.trainer.dispose();
});

test('a publishing instance publishes its promotions and what the topic lacks at start, skips its own echo and records older than its promotion, and applies newer ones', async () => {
  const { tf, backend } = await selectTestBackend();
  const mine = await model(tf, backend, 4, ['pump-1']);
  const promotedAt = Date.UTC(2026, 0, 10);
  // A version loaded from the registry carries when it was promoted.
  mine.metadata.promotion = { promotedAt: new Date(promotedAt).toISOString(), seq: 1 };
  const h = await harness('publisher', mine, true);
  const earlier = await model(tf, backend, 5, []);
  const before = await encodeModelRecord(earlier, promotedAt - 60_000, 'other/1');
  assert.equal(
    await h.sync.receive(before.value, before.key),
    'skipped',
    'published before this instance promoted its model',
  );
  assert.equal(h.current(), mine.metadata.version);
  await h.sync.announce(h.engine.trainer.models());
  assert.deepEqual(
    h.sent.map((m) => m.headers['aemon.model.version']),
    [mine.metadata.version],
    'a model the topic does not end with is published',
  );
  h.sent.length = 0;

  const retrained = await model(tf, backend, 6, ['pump-1']);
  h.engine.swapModel(retrained);
  await h.sync.publish(retrained);
  assert.equal(h.sent.length, 1);
  assert.equal(h.sent[0]!.key, GROUP);
  assert.equal(h.sent[0]!.headers['aemon.model.version'], retrained.metadata.version);
  assert.equal(await h.sync.receive(h.sent[0]!.value, h.sent[0]!.key), 'skipped', 'its own publication read back');
  assert.equal(await h.counted('published'), 2);
  await h.sync.announce(h.engine.trainer.models());
  assert.equal(h.sent.length, 1, 'nothing published again: the topic ends with the model in use');

  const later = await model(tf, backend, 7, []);
  const after = await encodeModelRecord(later, Date.now() + 60_000, 'other/1');
  assert.equal(await h.sync.receive(after.value, after.key), 'applied');
  assert.equal(h.current(), later.metadata.version);
  for (const b of [earlier, later]) b.model.dispose();
  h.engine.trainer.dispose();
});
