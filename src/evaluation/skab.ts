/**
 * SKAB's outlier-detection scoring, from the leaderboard's definition (Katser & Kozitsin 2020,
 * "Skoltech Anomaly Benchmark"): each row after a file's first 400 is a binary prediction,
 * pooled over all files; F1 of the anomalous class, FAR = false alarms ÷ normal rows (%),
 * MAR = missed ÷ anomalous rows (%).
 */
import { parseTimeColumn } from '../shared/time.js';
import { csvLines } from './files.js';

/** SKAB's training rows per file. */
export const SKAB_TRAIN_ROWS = 400;

export interface Confusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export interface BinaryScores {
  f1: number;
  /** False alarm rate, %: normal rows flagged. */
  far: number;
  /** Missing alarm rate, %: anomalous rows not flagged. */
  mar: number;
}

export function emptyConfusion(): Confusion {
  return { tp: 0, fp: 0, fn: 0, tn: 0 };
}

/** Adds one row's prediction and label to a confusion (in place). */
export function count(c: Confusion, predicted: boolean, anomalous: boolean): void {
  if (predicted) {
    if (anomalous) c.tp++;
    else c.fp++;
  } else if (anomalous) c.fn++;
  else c.tn++;
}

export function addConfusion(a: Confusion, b: Confusion): Confusion {
  return { tp: a.tp + b.tp, fp: a.fp + b.fp, fn: a.fn + b.fn, tn: a.tn + b.tn };
}

/** F1, FAR % and MAR %; a ratio with nothing to count (e.g. no anomalous rows) is 0. */
export function binaryScores(c: Confusion): BinaryScores {
  const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);
  return {
    f1: ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
    far: 100 * ratio(c.fp, c.fp + c.tn),
    mar: 100 * ratio(c.fn, c.fn + c.tp),
  };
}

export interface SkabRow {
  line: number;
  ts: number;
  anomalous: boolean;
}

/**
 * The rows of a SKAB-layout file (`;`-separated, `datetime` first, an `anomaly` column of 0/1),
 * or why it cannot be scored (no `anomaly` column: e.g. the anomaly-free run).
 */
export function parseSkab(text: string): SkabRow[] | string {
  const csv = csvLines(text);
  if (csv === undefined) return 'empty file';
  const cols = csv.header.split(';').map((c) => c.trim());
  const ai = cols.indexOf('anomaly');
  if (ai < 0) return 'no anomaly column (no labels)';
  const ti = cols.indexOf('datetime');
  return csv.lines.map(({ line, text: t }) => {
    const f = t.split(';');
    return { line, ts: ti < 0 ? Number.NaN : parseTimeColumn(f[ti] ?? ''), anomalous: Number(f[ai]) === 1 };
  });
}
