import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { walkFiles } from '../../src/shared/files.js';
import { groupKey, sortedGroupKey } from '../../src/shared/group.js';
import { parseTimeColumn } from '../../src/shared/time.js';
import { tempDir } from '../tempdir.js';

test('walkFiles finds nested files, skips dot entries, follows a linked folder and keeps what keep accepts', async () => {
  const root = tempDir('aemon-walk-');
  mkdirSync(join(root, 'a/b'), { recursive: true });
  mkdirSync(join(root, '.hidden'));
  mkdirSync(join(root, 'elsewhere'));
  writeFileSync(join(root, 'top.csv'), '');
  writeFileSync(join(root, 'a/b/deep.csv'), '');
  writeFileSync(join(root, 'a/notes.txt'), '');
  writeFileSync(join(root, '.hidden/x.csv'), '');
  writeFileSync(join(root, '.dot.csv'), '');
  writeFileSync(join(root, 'elsewhere/linked.csv'), '');
  symlinkSync(join(root, 'elsewhere'), join(root, 'a/link'));
  const rel = (files: string[]): string[] => files.map((f) => relative(root, f)).sort();
  assert.deepEqual(rel(await walkFiles(root)), [
    'a/b/deep.csv',
    'a/link/linked.csv',
    'a/notes.txt',
    'elsewhere/linked.csv',
    'top.csv',
  ]);
  assert.deepEqual(rel(await walkFiles(root, (f) => f.endsWith('.csv'))), [
    'a/b/deep.csv',
    'a/link/linked.csv',
    'elsewhere/linked.csv',
    'top.csv',
  ]);
  await assert.rejects(walkFiles(join(root, 'missing')), /ENOENT/);
});

test('groupKey does not depend on the order of the channels, and sortedGroupKey agrees on sorted ones', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 6 }), (channels) => {
      const sorted = [...channels].sort();
      assert.equal(groupKey(channels), groupKey([...channels].reverse()));
      assert.equal(groupKey(channels), sortedGroupKey(sorted));
      assert.equal(groupKey(channels), sorted.join(','));
    }),
  );
});

test('parseTimeColumn reads the NAB and SKAB time column as UTC, to the millisecond', () => {
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  fc.assert(
    fc.property(
      fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }),
      fc.constantFrom(' ', 'T'),
      fc.constantFrom(0, 1, 2, 3),
      (d, sep, digits) => {
        const frac = digits === 0 ? '' : `.${pad(d.getUTCMilliseconds(), 3).slice(0, digits)}`;
        const text =
          `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
          `${sep}${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac}`;
        const ms = digits === 0 ? 0 : Number(frac.slice(1).padEnd(3, '0'));
        const want = Math.floor(d.getTime() / 1000) * 1000 + ms;
        assert.equal(parseTimeColumn(text), want, text);
      },
    ),
  );
  assert.ok(Number.isNaN(parseTimeColumn('not a time')));
  assert.ok(Number.isNaN(parseTimeColumn('')));
});
