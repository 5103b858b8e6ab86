import { configLeaves, parseConfig } from './load.js';

/** The config reference of docs/configuration.md: every setting, its environment variable and its default. */
export function configReferenceTable(): string {
  const defaults = parseConfig({}) as unknown as Record<string, unknown>;
  const valueAt = (path: string): unknown =>
    path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], defaults);
  const lines = ['| setting | environment variable | default |', '|---|---|---|'];
  for (const leaf of configLeaves()) {
    const v = valueAt(leaf.path);
    lines.push(`| \`${leaf.path}\` | \`${leaf.env}\` | ${v === undefined ? '—' : `\`${JSON.stringify(v)}\``} |`);
  }
  return lines.join('\n');
}
