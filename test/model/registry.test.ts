import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveModelFolder } from '../../src/model/io.js';
import { groupFolderName, ModelRegistry } from '../../src/model/registry.js';
import { AemonError } from '../../src/errors.js';
import type { ModelBundle } from '../../src/pipeline/model.js';
import { TEST_KERNEL, untrainedBundles } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'aemon-registry-'));
const models = untrainedBundles();

after(() => {
  rmSync(root, { recursive: true, force: true });
});

/** An untrained model of `group` with a day's data range. */
const bundle = (seed: number, group = 'a,b,c'): Promise<ModelBundle> =>
  models.bundle(seed, {
    group,
    channels: group.split(','),
    dataFrom: '2026-01-01T00:00:00.000Z',
    dataTo: '2026-01-02T00:00:00.000Z',
  });

const fresh = (name: string, keep = 5): ModelRegistry => new ModelRegistry({ root: join(root, name), keep });
const currentFile = (reg: ModelRegistry, group = 'a,b,c'): string =>
  readFileSync(join(reg.root, groupFolderName(group), 'CURRENT'), 'utf8').trim();
const isError = (code: string, pattern: RegExp) => (err: unknown) =>
  err instanceof AemonError && err.code === code && pattern.test(err.message);

/** Flips bytes in the middle of a file, as a bad disk or a tamperer would. */
function tamper(file: string): void {
  const bytes = readFileSync(file);
  for (let i = 0; i < 4; i++) bytes[Math.floor(bytes.length / 2) + i]! ^= 0xff;
  writeFileSync(file, bytes);
}

test('promote writes <group>/<version>/ and CURRENT; keep=2 prunes the oldest; list is newest first', async () => {
  const reg = fresh('prune', 2);
  const [b1, b2, b3] = [await bundle(1), await bundle(2), await bundle(3)];
  await reg.promote(b1, { reason: 'bootstrap' });
  await reg.promote(b2, { reason: 'retrained', gate: { valLoss: 0.1, passed: true } });
  const e3 = await reg.promote(b3);
  assert.equal(e3.version, b3.metadata.version);
  assert.equal(e3.current, true);
  assert.equal(currentFile(reg), b3.metadata.version);
  const list = await reg.list();
  assert.deepEqual(
    list.map((e) => e.version),
    [b3.metadata.version, b2.metadata.version],
  );
  assert.deepEqual(
    list.map((e) => e.current),
    [true, false],
  );
  assert.equal(existsSync(join(reg.root, 'a_b_c', b1.metadata.version)), false, 'the oldest version is pruned');
  const e2 = list[1]!;
  assert.deepEqual(e2.gate, { valLoss: 0.1, passed: true });
  assert.equal(e2.reason, 'retrained');
  assert.equal(e2.trainingWindows, 102);
  assert.equal(e2.sensors, 1);
  assert.equal(e2.layout, 'registry');
  assert.ok(e2.promotedAt !== null && e2.promotedAt <= list[0]!.promotedAt!);
  assert.deepEqual(await reg.groups(), ['a,b,c']);
});

test('pruning never removes the current version or the one before it, even with keep=1', async () => {
  const reg = fresh('keep1', 1);
  const [b1, b2, b3] = [await bundle(4), await bundle(5), await bundle(6)];
  await reg.promote(b1);
  await reg.promote(b2);
  assert.deepEqual(
    (await reg.list()).map((e) => e.version),
    [b2.metadata.version, b1.metadata.version],
  );
  await reg.rollback('a,b,c');
  await reg.promote(b3);
  // b3 current, b2 the one before it in the registry's order; b1 goes.
  assert.deepEqual(
    (await reg.list()).map((e) => e.version),
    [b3.metadata.version, b2.metadata.version],
  );
});

test('rollback moves CURRENT to the previous version and loadCurrent returns it', async () => {
  const reg = fresh('rollback');
  const [b1, b2] = [await bundle(7), await bundle(8)];
  await reg.promote(b1);
  await reg.promote(b2);
  const back = await reg.rollback();
  assert.equal(back.version, b1.metadata.version);
  assert.equal(currentFile(reg), b1.metadata.version);
  const loaded = await reg.loadCurrent(models.tf, models.backend, TEST_KERNEL);
  try {
    assert.deepEqual(
      loaded.map((b) => b.metadata.version),
      [b1.metadata.version],
    );
  } finally {
    for (const b of loaded) b.model.dispose();
  }
  await assert.rejects(reg.rollback(), isError('AEMON_MODEL_ROLLBACK', /no version before/));
  // Forward again by naming the version (a unique prefix is enough).
  const forward = await reg.rollback('a,b,c', b2.metadata.version.slice(0, 7));
  assert.equal(forward.version, b2.metadata.version);
  await assert.rejects(
    reg.rollback('a,b,c', b2.metadata.version),
    isError('AEMON_MODEL_ROLLBACK', /already the current/),
  );
  await assert.rejects(reg.rollback('a,b,c', 'm-nope'), isError('AEMON_MODEL_NOT_FOUND', /no model version m-nope/));
  await assert.rejects(reg.rollback('x,y'), isError('AEMON_MODEL_NOT_FOUND', /no model group \[x,y\]/));
});

test('a tampered version is refused: rollback to it leaves CURRENT as it was; loading it as current fails clearly', async () => {
  const reg = fresh('tamper');
  const [b1, b2] = [await bundle(9), await bundle(10)];
  await reg.promote(b1);
  await reg.promote(b2);
  tamper(join(reg.root, 'a_b_c', b1.metadata.version, 'weights.bin'));
  await assert.rejects(
    reg.rollback(),
    isError(
      'AEMON_MODEL_CHECKSUM',
      new RegExp(`weights\\.bin .* does not match its checksum.*${b2.metadata.version} stays current`),
    ),
  );
  assert.equal(currentFile(reg), b2.metadata.version, 'CURRENT unchanged');
  assert.match((await reg.inspect(b1.metadata.version)).checksum, /weights\.bin .* does not match its checksum/);
  assert.equal((await reg.inspect(b2.metadata.version)).checksum, 'ok');

  tamper(join(reg.root, 'a_b_c', b2.metadata.version, 'weights.bin'));
  await assert.rejects(
    reg.loadCurrent(models.tf, models.backend, TEST_KERNEL),
    isError(
      'AEMON_MODEL_CHECKSUM',
      new RegExp(
        `current model of \\[a,b,c\\] \\(${b2.metadata.version} in .*\\) is refused: .*aemon models rollback --dir`,
      ),
    ),
  );
});

test('a truncated current version is refused on load, and rollback to a good one works', async () => {
  const reg = fresh('truncate');
  const [b1, b2] = [await bundle(11), await bundle(12)];
  await reg.promote(b1);
  await reg.promote(b2);
  const weights = join(reg.root, 'a_b_c', b2.metadata.version, 'weights.bin');
  truncateSync(weights, Math.floor(readFileSync(weights).length / 2));
  await assert.rejects(
    reg.loadCurrent(models.tf, models.backend, TEST_KERNEL),
    isError('AEMON_MODEL_CHECKSUM', /altered or truncated/),
  );
  await reg.rollback();
  const loaded = await reg.loadCurrent(models.tf, models.backend, TEST_KERNEL);
  assert.deepEqual(
    loaded.map((b) => b.metadata.version),
    [b1.metadata.version],
  );
  for (const b of loaded) b.model.dispose();
});

test('update re-saves the version in place (new sensors), keeps its promotion and CURRENT', async () => {
  const reg = fresh('update');
  const b1 = await bundle(13);
  const e1 = await reg.promote(b1, { reason: 'bootstrap' });
  b1.metadata.sensors['late-sensor'] = { mean: [1, 1, 1], std: [2, 2, 2], threshold: 0.7 };
  const e = await reg.update(b1);
  assert.equal(e.sensors, 2);
  assert.equal(e.promotedAt, e1.promotedAt);
  assert.equal(e.reason, 'bootstrap');
  assert.equal((await reg.list()).length, 1);
  const loaded = await reg.loadCurrent(models.tf, models.backend, TEST_KERNEL);
  assert.deepEqual(loaded[0]!.metadata.sensors['late-sensor']?.threshold, 0.7);
  for (const b of loaded) b.model.dispose();
});

test('update never moves CURRENT: a version pruned meanwhile is not saved again', async () => {
  const reg = fresh('update-pruned', 1);
  const [b1, b2, b3] = [await bundle(19), await bundle(20), await bundle(21)];
  await reg.promote(b1);
  await reg.promote(b2);
  await reg.promote(b3);
  assert.equal(existsSync(join(reg.root, 'a_b_c', b1.metadata.version)), false);
  await assert.rejects(reg.update(b1), isError('AEMON_MODEL_NOT_FOUND', /no longer in .* \(pruned\)/));
  assert.equal(currentFile(reg), b3.metadata.version);
  assert.equal(existsSync(join(reg.root, 'a_b_c', b1.metadata.version)), false);
});

test('a model folder at the root (the layout before the registry) is the current version, and is imported on the first promote', async () => {
  const reg = fresh('legacy-root');
  const [old, next] = [await bundle(14), await bundle(15)];
  await saveModelFolder(reg.root, old);
  const before = await reg.list();
  assert.deepEqual(
    before.map((e) => [e.version, e.current, e.layout, e.dir]),
    [[old.metadata.version, true, 'legacy', reg.root]],
  );
  const loaded = await reg.loadCurrent(models.tf, models.backend, TEST_KERNEL);
  assert.deepEqual(
    loaded.map((b) => b.metadata.version),
    [old.metadata.version],
  );
  for (const b of loaded) b.model.dispose();

  await reg.promote(next);
  assert.equal(existsSync(join(reg.root, 'metadata.json')), false, 'the old files moved into the registry');
  assert.deepEqual(
    readdirSync(join(reg.root, 'a_b_c')).sort(),
    ['CURRENT', next.metadata.version, old.metadata.version].sort(),
  );
  const after = await reg.list();
  assert.deepEqual(
    after.map((e) => [e.version, e.current, e.layout]),
    [
      [next.metadata.version, true, 'registry'],
      [old.metadata.version, false, 'registry'],
    ],
  );
  assert.equal((await reg.rollback()).version, old.metadata.version, 'the imported model can be rolled back to');
});

test('group subfolders holding model folders (aemon train with several channel sets, before the registry) load as current versions', async () => {
  const reg = fresh('legacy-groups');
  const [g1, g2] = [await bundle(16, 'a,b,c'), await bundle(17, 'x,y,z')];
  await saveModelFolder(join(reg.root, groupFolderName('a,b,c')), g1);
  await saveModelFolder(join(reg.root, groupFolderName('x,y,z')), g2);
  assert.deepEqual(await reg.groups(), ['a,b,c', 'x,y,z']);
  const loaded = await reg.loadCurrent(models.tf, models.backend, TEST_KERNEL);
  assert.deepEqual(
    loaded.map((b) => b.metadata.group),
    ['a,b,c', 'x,y,z'],
  );
  for (const b of loaded) b.model.dispose();
  await assert.rejects(reg.rollback(), isError('AEMON_MODEL_ROLLBACK', /2 model groups/));

  const g3 = await bundle(18, 'x,y,z');
  await reg.promote(g3);
  assert.equal(existsSync(join(reg.root, 'x_y_z', 'metadata.json')), false);
  assert.deepEqual(
    (await reg.list('x,y,z')).map((e) => e.version),
    [g3.metadata.version, g2.metadata.version],
  );
  assert.deepEqual(
    (await reg.list('a,b,c')).map((e) => e.layout),
    ['legacy'],
    'the other group is untouched',
  );
});

test('an empty or missing root lists nothing and loads nothing', async () => {
  const reg = fresh('nothing-here');
  assert.deepEqual(await reg.list(), []);
  assert.deepEqual(await reg.loadCurrent(models.tf, models.backend, TEST_KERNEL), []);
  await assert.rejects(reg.rollback(), isError('AEMON_MODEL_ROLLBACK', /holds no model/));
});
