import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

const ROOT = new URL('..', import.meta.url);

/** The folders the folder map of docs/architecture.md names (`src/<name>/` in its table). */
function mappedFolders(): string[] {
  const page = readFileSync(new URL('docs/architecture.md', ROOT), 'utf8');
  const section = /^## Folder map\n([\s\S]*?)(?=^## )/m.exec(page)?.[1];
  assert.ok(section, 'docs/architecture.md has no "## Folder map" section');
  const rows = section.split('\n').filter((l) => l.startsWith('| `src/'));
  return rows.map((l) => /^\| `src\/([^/`]+)\/`/.exec(l)?.[1] ?? `unreadable row: ${l}`).sort();
}

test("docs/architecture.md's folder map names every folder under src/ and no other", () => {
  const folders = readdirSync(new URL('src', ROOT), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const mapped = mappedFolders();
  assert.ok(folders.length > 0, 'src/ has no folders');
  const missing = folders.filter((f) => !mapped.includes(f));
  const stale = mapped.filter((f) => !folders.includes(f));
  assert.deepEqual(missing, [], `folders under src/ missing from the folder map: ${missing.join(', ')}`);
  assert.deepEqual(stale, [], `the folder map names folders src/ does not have: ${stale.join(', ')}`);
  assert.equal(new Set(mapped).size, mapped.length, 'the folder map names a folder twice');
});
