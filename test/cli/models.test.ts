import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aemon, DATASETS } from './run.js';
import { tempDir } from '../tempdir.js';

const SKAB_1 = join(DATASETS, 'skab/valve1/1.csv');
/** Small and quick: the tests are about the registry, not the model. */
const SMALL = { AEMON_MODEL_EPOCHS: '1', AEMON_WINDOWING_SIZE: '8', AEMON_MODEL_UNITS: '4' };

interface Entry {
  group: string;
  version: string;
  dir: string;
  current: boolean;
  trainingWindows: number;
  reason?: string;
}

/** `aemon train` twice into `dir` (different seeds, so different versions); newest last. */
async function trainTwice(dir: string): Promise<string[]> {
  const versions: string[] = [];
  for (const seed of ['1', '2']) {
    const run = await aemon(['train', SKAB_1, '--out', dir], { env: { ...SMALL, AEMON_MODEL_SEED: seed } });
    assert.equal(run.code, 0, run.stderr);
    const m = /^saved model (m-[0-9a-f]+) \(channels .*\) to (.*); current in /m.exec(run.stdout);
    assert.ok(m, run.stdout);
    versions.push(m[1]!);
  }
  assert.notEqual(versions[0], versions[1]);
  return versions;
}

async function listJson(dir: string): Promise<Entry[]> {
  const run = await aemon(['models', 'list', '--dir', dir, '--json']);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as Entry[];
}

test('train --out writes registry versions; models list and show describe them', async () => {
  const dir = join(tempDir('aemon-models-'), 'models');
  const [v1, v2] = await trainTwice(dir);
  const entries = await listJson(dir);
  assert.deepEqual(
    entries.map((e) => [e.version, e.current]),
    [
      [v2, true],
      [v1, false],
    ],
  );
  assert.match(entries[0]!.reason ?? '', /^aemon train .*1\.csv$/);
  assert.ok(entries[0]!.trainingWindows > 0);

  const table = await aemon(['models', 'list', '--dir', dir]);
  assert.equal(table.code, 0, table.stderr);
  const rows = table.stdout.split('\n');
  assert.match(rows[0]!, /group\s+version\s+created\s+promoted\s+windows\s+data/);
  assert.match(
    rows[2]!,
    new RegExp(`^\\*\\s+Accelerometer1RMS,.*\\s${v2}\\s.*2020-03-09 \\d\\d:\\d\\d:\\d\\d – 2020-03-09`),
  );
  assert.match(rows[3]!, new RegExp(`^\\s+Accelerometer1RMS,.*\\s${v1}\\s`));

  const show = await aemon(['models', 'show', v1!.slice(0, 6), '--dir', dir]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`^version\\s+${v1}\\n`));
  assert.match(show.stdout, /\nchecksums\s+ok\n/);
  assert.match(show.stdout, /\nsensors\s+1\n/);
  assert.match(show.stdout, /\nloss\s+[\d.e+-]+ \(train\), [\d.e+-]+ \(validation\)\n/);
  assert.match(show.stdout, /\nmodel\s+window 8 × 8 channels, 4 units/);
});

test('models rollback makes the previous version current, and replay --model scores with the registry', async () => {
  const dir = join(tempDir('aemon-models-'), 'models');
  const [v1, v2] = await trainTwice(dir);
  const back = await aemon(['models', 'rollback'], { env: { AEMON_MODEL_DIR: dir } });
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, new RegExp(`now at ${v1} \\(was ${v2}\\)`));
  assert.deepEqual(
    (await listJson(dir)).map((e) => [e.version, e.current]),
    [
      [v2, false],
      [v1, true],
    ],
  );

  const replay = await aemon(['replay', SKAB_1, '--model', dir, '--out', join(dir, '..', 'scores.csv')], {
    env: SMALL,
  });
  assert.equal(replay.code, 0, replay.stderr);
  assert.doesNotMatch(replay.stderr, /training on the first/, 'the registry model is used, nothing is trained');

  const again = await aemon(['models', 'rollback', '--dir', dir]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^aemon: AEMON_MODEL_ROLLBACK: .* has no version before/);
  const unknown = await aemon(['models', 'rollback', '--dir', dir, '--to', 'm-nope']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /AEMON_MODEL_NOT_FOUND: no model version m-nope/);
});

test('a tampered version: rollback to it is refused and CURRENT stays; a tampered current one stops replay with the rollback hint', async () => {
  const dir = join(tempDir('aemon-models-'), 'models');
  const [v1, v2] = await trainTwice(dir);
  const entries = await listJson(dir);
  const flip = (version: string): void => {
    const file = join(entries.find((e) => e.version === version)!.dir, 'weights.bin');
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1]! ^= 0xff;
    writeFileSync(file, bytes);
  };
  flip(v1!);
  const refused = await aemon(['models', 'rollback', '--dir', dir]);
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    new RegExp(
      `AEMON_MODEL_CHECKSUM: refusing to roll .* back to ${v1}: weights\\.bin .* does not match its checksum.*${v2} stays current`,
    ),
  );
  assert.deepEqual(
    (await listJson(dir)).map((e) => e.current),
    [true, false],
  );
  const show = await aemon(['models', 'show', v1!, '--dir', dir]);
  assert.match(show.stdout, /\nchecksums\s+weights\.bin in .* does not match its checksum/);

  flip(v2!);
  const replay = await aemon(['replay', SKAB_1, '--model', dir, '--out', join(dir, '..', 'scores.csv')], {
    env: SMALL,
  });
  assert.equal(replay.code, 1);
  assert.match(
    replay.stderr,
    new RegExp(
      `AEMON_MODEL_CHECKSUM: the current model of \\[.*\\] \\(${v2} in .*\\) is refused: weights\\.bin .*aemon models rollback --dir`,
    ),
  );
});

test('models without a registry is a usage error; --help explains the layout and the commands', async () => {
  const none = await aemon(['models', 'list']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /AEMON_USAGE: no model registry: pass --dir DIR or set model\.dir \(AEMON_MODEL_DIR\)/);
  const empty = await aemon(['replay', SKAB_1, '--model', tempDir('aemon-models-')]);
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /AEMON_MODEL_IO: .* holds no model/);
  const help = await aemon(['models', '--help']);
  assert.match(help.stdout, /DIR\/<group>\/CURRENT/);
  for (const cmd of ['list', 'show', 'rollback']) assert.match(help.stdout, new RegExp(`\\n  ${cmd}`));
  const rb = await aemon(['models', 'rollback', '--help']);
  assert.match(rb.stdout, /--to <version>/);
  assert.match(rb.stdout, /refused and CURRENT stays as it was/);
});
