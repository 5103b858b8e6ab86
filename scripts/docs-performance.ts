// Renders the tables of docs/performance.md from the committed `npm run bench -- --json` outputs in
// docs/data/bench-*.json (`npm run docs:performance`); test/docs.test.ts fails when they differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { Row } from '../bench/rows.js';
import { benchTables, NO_KAFKA_ROW } from '../bench/tables.js';
import { DOCS, dataFiles, grouped, mdTable, provenance, readData, replaceBlock, runInfo } from './docs/blocks.js';

/** One run's tables (the bench's own, bench/tables.ts) as markdown, counts grouped by thousands. */
export function renderBench(file: string, rows: Row[]): string {
  const parts: string[] = [provenance(runInfo(file))];
  for (const t of benchTables(rows, grouped)) {
    const notes = t.notes.length > 0 ? ` (${t.notes.join('; ')})` : '';
    parts.push(`\n**${t.title}**: ${t.detail}${notes}\n\n` + mdTable(t.headers, t.rows));
  }
  if (!rows.some((r) => r.name === 'kafka')) parts.push(`\n${NO_KAFKA_ROW}\n`);
  return parts.join('');
}

/** Block name → rendered content, one block per docs/data/bench-*.json. */
export function performanceBlocks(): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const file of dataFiles('bench-'))
    blocks.set(file.replace(/\.json$/, ''), renderBench(file, readData<{ rows: Row[] }>(file).rows));
  return blocks;
}

export const PERFORMANCE_PAGE = new URL('performance.md', DOCS);

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let page = readFileSync(PERFORMANCE_PAGE, 'utf8');
  for (const [name, content] of performanceBlocks()) page = replaceBlock(page, name, content);
  writeFileSync(PERFORMANCE_PAGE, page);
}
