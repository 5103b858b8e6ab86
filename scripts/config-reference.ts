// Rewrites the config reference table in README.md from the schema (`npm run config-reference`);
// test/readme.test.ts fails when the README's table differs from this.
import { readFileSync, writeFileSync } from 'node:fs';
import { configReferenceTable } from '../src/config/reference.js';

const file = new URL('../README.md', import.meta.url);
const readme = readFileSync(file, 'utf8');
const next = readme.replace(
  /(<!-- config-reference:start[^\n]*\n)[\s\S]*?(\n<!-- config-reference:end -->)/,
  (_m, start: string, end: string) => start + configReferenceTable() + end,
);
writeFileSync(file, next);
