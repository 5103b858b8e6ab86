import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { AemonError } from '../errors.js';

export function inputError(message: string, cause?: unknown): AemonError {
  return new AemonError(
    'AEMON_INPUT_READ',
    message,
    cause === undefined ? { stage: 'source' } : { stage: 'source', cause },
  );
}

async function walk(dir: string, into: string[]): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    const isDir = entry.isSymbolicLink() ? (await stat(full)).isDirectory() : entry.isDirectory();
    if (isDir) await walk(full, into);
    else if (extname(entry.name).toLowerCase() === '.csv') into.push(full);
  }
}

/** Every `.csv` under a folder, recursively, as paths relative to it (with `/`), in natural order. */
export async function findCsvFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  try {
    await walk(dir, found);
  } catch (err) {
    throw inputError(`cannot list ${dir}: ${(err as Error).message}`, err);
  }
  // Numeric-aware, so valve1/2.csv comes before valve1/10.csv.
  return found
    .map((f) => relative(dir, f).split(sep).join('/'))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

export async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw inputError(`cannot read ${path}: ${(err as Error).message}`, err);
  }
}

/** The data lines of a CSV file after its header: 1-based line numbers and the text. */
export function csvLines(
  text: string,
): { header: string; headerLine: number; lines: Array<{ line: number; text: string }> } | undefined {
  const all = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const h = all.findIndex((l) => l.trim() !== '');
  if (h < 0) return undefined;
  const lines: Array<{ line: number; text: string }> = [];
  for (let i = h + 1; i < all.length; i++) if (all[i]!.trim() !== '') lines.push({ line: i + 1, text: all[i]! });
  return { header: all[h]!, headerLine: h + 1, lines };
}

/** `YYYY-MM-DD HH:MM:SS[.ffffff]` (or ISO with `T`), read as UTC → epoch ms; NaN if not a time. */
export function parseTime(text: string): number {
  const m = /^\s*(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d+))?\s*Z?\s*$/.exec(text);
  if (!m) return Date.parse(text);
  const ms = m[7] ? Math.round(Number(`0.${m[7]}`) * 1000) : 0;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
}

/**
 * `windowing.maxGapMs` for a file: the configured value, raised to 10 × the median step of the
 * training rows when the data is slower (NAB's ad-exchange files are hourly; with the 10-minute
 * default every reading would restart its window). Only training rows are looked at (causal).
 */
export function maxGapFor(times: readonly number[], trainRows: number, configured: number): number {
  const steps: number[] = [];
  for (let i = 1; i < Math.min(times.length, trainRows); i++) {
    const d = times[i]! - times[i - 1]!;
    if (d > 0) steps.push(d);
  }
  if (steps.length === 0) return configured;
  steps.sort((a, b) => a - b);
  return Math.max(configured, 10 * steps[Math.floor(steps.length / 2)]!);
}
