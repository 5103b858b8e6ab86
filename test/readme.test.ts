import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configReferenceTable } from '../src/config/reference.js';
import { ERROR_CODES } from '../src/errors.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

test('README documents every error code', () => {
  const missing = ERROR_CODES.filter((code) => !readme.includes(`\`${code}\``));
  assert.deepEqual(missing, []);
});

test("README's config reference is the one the schema gives (npm run config-reference)", () => {
  const block = /<!-- config-reference:start[^\n]*\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(readme);
  assert.ok(block, 'README has no config-reference block');
  assert.equal(block[1], configReferenceTable());
});

test('README shows the two quick-start commands', () => {
  assert.match(readme, /npm install && npm start/);
  assert.match(readme, /npm test/);
});
