import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configLeaves } from '../src/config/load.js';
import { ERROR_CODES } from '../src/errors.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

test('README documents every error code', () => {
  const missing = ERROR_CODES.filter((code) => !readme.includes(`\`${code}\``));
  assert.deepEqual(missing, []);
});

test('README documents every setting with its environment variable', () => {
  const missing = configLeaves().filter((l) => !readme.includes(`| \`${l.path}\` | \`${l.env}\` |`));
  assert.deepEqual(missing.map((l) => l.path), []);
});

test('README shows the two quick-start commands', () => {
  assert.match(readme, /npm install && npm start/);
  assert.match(readme, /npm test/);
});
