// Rewrites the config reference table in docs/configuration.md from the schema
// (`npm run config-reference`); test/docs.test.ts fails when the page's table differs from this.
import { readFileSync, writeFileSync } from 'node:fs';
import { configReferenceTable } from '../src/config/reference.js';

const file = new URL('../docs/configuration.md', import.meta.url);
const page = readFileSync(file, 'utf8');
const next = page.replace(
  /(<!-- config-reference:start[^\n]*\n)[\s\S]*?(<!-- config-reference:end -->)/,
  (_m, start: string, end: string) => start + configReferenceTable() + '\n' + end,
);
if (next === page && !page.includes(configReferenceTable()))
  throw new Error('docs/configuration.md has no config-reference block');
writeFileSync(file, next);
