// Generated blocks in the docs pages: `<!-- generated:NAME:start (COMMAND) -->` … `<!-- generated:NAME:end -->`.
// The figures inside are rendered from the JSON output of a real run under docs/data/, never typed.
import { readFileSync, readdirSync } from 'node:fs';

export const DOCS = new URL('../../docs/', import.meta.url);
export const DATA = new URL('../../docs/data/', import.meta.url);

/** Where and when a committed JSON output was produced (docs/data/runs.json, keyed by file name). */
export interface RunInfo {
  command: string;
  commit: string;
  date: string;
  machine: string;
}

export function runInfo(file: string): RunInfo {
  const runs = JSON.parse(readFileSync(new URL('runs.json', DATA), 'utf8')) as Record<string, RunInfo>;
  const info = runs[file];
  if (!info) throw new Error(`docs/data/runs.json says nothing about ${file}: how was it produced?`);
  return info;
}

/** The committed JSON outputs whose names start with `prefix` (`evaluate-`, `bench-`), sorted. */
export function dataFiles(prefix: string): string[] {
  return readdirSync(DATA)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
    .sort();
}

export function readData<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(file, DATA), 'utf8')) as T;
}

const blockRe = (name: string): RegExp =>
  new RegExp(
    `(<!-- generated:${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:start[^\\n]*-->\\n)([\\s\\S]*?)(<!-- generated:${name}:end -->)`,
  );

/** The text between a block's markers, or undefined when the page has no such block. */
export function readBlock(page: string, name: string): string | undefined {
  return blockRe(name).exec(page)?.[2];
}

/** `page` with the block's content replaced; throws when the page lacks the block's markers. */
export function replaceBlock(page: string, name: string, content: string): string {
  if (!blockRe(name).test(page))
    throw new Error(`no <!-- generated:${name}:start … --> … <!-- generated:${name}:end --> block`);
  return page.replace(blockRe(name), (_m, start: string, _old: string, end: string) => start + content + end);
}

/** A GitHub-flavoured markdown table. */
export function mdTable(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const line = (r: ReadonlyArray<string | number>): string => `| ${r.map(String).join(' | ')} |`;
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n') + '\n';
}

/** `1234567` → `1,234,567`. */
export function grouped(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function provenance(info: RunInfo): string {
  return `Measured with \`${info.command}\` at commit ${info.commit}, ${info.date}, on ${info.machine}.\n`;
}
