// Prints the config reference table for README.md: every setting, its env variable and default.
// `npm run config-reference` regenerates it; test/readme.test.ts checks README lists them all.
import { configLeaves, parseConfig } from '../src/config/load.js';

const defaults = parseConfig({}) as unknown as Record<string, unknown>;
const valueAt = (path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], defaults);

const lines = ['| setting | environment variable | default |', '|---|---|---|'];
for (const leaf of configLeaves()) {
  const v = valueAt(leaf.path);
  lines.push(`| \`${leaf.path}\` | \`${leaf.env}\` | ${v === undefined ? '—' : `\`${JSON.stringify(v)}\``} |`);
}
process.stdout.write(lines.join('\n') + '\n');
