import { readFile } from 'node:fs/promises';
import { extname, relative, sep } from 'node:path';
import { AemonError } from '../errors.js';
import { walkFiles } from '../shared/files.js';

export function inputError(message: string, cause?: unknown): AemonError {
  return new AemonError(
    'AEMON_INPUT_READ',
    message,
    cause === undefined ? { stage: 'source' } : { stage: 'source', cause },
  );
}

/** Every `.csv` under a folder, recursively, as paths relative to it (with `/`), in natural order. */
export async function findCsvFiles(dir: string): Promise<string[]> {
  let found: string[];
  try {
    found = await walkFiles(dir, (f) => extname(f).toLowerCase() === '.csv');
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
