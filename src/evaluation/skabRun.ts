import { join } from 'node:path';
import { findCsvFiles, inputError, maxGapFor, readText } from './files.js';
import { rowsByLine, type EvalProgress, type ReplayFile } from './replay.js';
import {
  addConfusion,
  binaryScores,
  count,
  emptyConfusion,
  parseSkab,
  SKAB_TRAIN_ROWS,
  type BinaryScores,
  type Confusion,
  type SkabRow,
} from './skab.js';

export interface SkabEvalOptions {
  /** A SKAB-layout folder: `;`-separated CSVs anywhere under it. */
  dir: string;
  /** The configured `windowing.maxGapMs` (raised for slow files, see {@link maxGapFor}). */
  maxGapMs: number;
  replay: ReplayFile;
  progress?: EvalProgress;
}

export interface SkabResult extends Confusion, BinaryScores {}

export interface SkabFileReport extends SkabResult {
  key: string;
  rows: number;
  testRows: number;
  anomalousRows: number;
  /** Test rows with no score (warming, rejected or no model): predicted normal. */
  unscored: number;
  rejected: number;
  /** `windowing.maxGapMs` the file ran with (see {@link maxGapFor}). */
  maxGapMs: number;
  seconds: number;
  trainingSeconds: number;
  /** The same rows with "score > 1" as the prediction (no hysteresis). */
  scoreAboveOne: SkabResult;
}

export interface SkabReport {
  files: SkabFileReport[];
  /** Pooled over the test rows of every file; predicted = aemon's anomaly state (after hysteresis). */
  total: SkabResult & { testRows: number; anomalousRows: number };
  /** Pooled with "score > 1" as the prediction. */
  scoreAboveOne: SkabResult;
  skipped: Array<{ key: string; reason: string }>;
  /** TensorFlow.js backends used. */
  backends: string[];
  seconds: number;
}

function result(c: Confusion): SkabResult {
  return { ...c, ...binaryScores(c) };
}

/**
 * The SKAB protocol: a fresh engine per file trains on its first 400 rows and scores the rest
 * causally; a test row is predicted anomalous when aemon's anomaly state (after hysteresis, what
 * it alerts on) is on for it. Files without an `anomaly` column are skipped.
 */
export async function evaluateSkab(opts: SkabEvalOptions): Promise<SkabReport> {
  const t0 = performance.now();
  const keys = await findCsvFiles(opts.dir);
  const skipped: SkabReport['skipped'] = [];
  const todo: Array<{ key: string; path: string; rows: SkabRow[] }> = [];
  for (const key of keys) {
    const path = join(opts.dir, ...key.split('/'));
    const rows = parseSkab(await readText(path));
    if (typeof rows === 'string') skipped.push({ key, reason: rows });
    else if (rows.length <= SKAB_TRAIN_ROWS)
      skipped.push({ key, reason: `only ${rows.length} rows (${SKAB_TRAIN_ROWS} train)` });
    else todo.push({ key, path, rows });
  }
  if (todo.length === 0)
    throw inputError(`${opts.dir}: no SKAB file with labels (an anomaly column) and more than ${SKAB_TRAIN_ROWS} rows`);

  const files: SkabFileReport[] = [];
  const backends = new Set<string>();
  for (const [i, { key, path, rows }] of todo.entries()) {
    opts.progress?.fileStart?.(i + 1, todo.length, key);
    const f0 = performance.now();
    const settings = {
      training: { bootstrapReadings: SKAB_TRAIN_ROWS },
      windowing: {
        maxGapMs: maxGapFor(
          rows.map((r) => r.ts),
          SKAB_TRAIN_ROWS,
          opts.maxGapMs,
        ),
      },
    };
    const replayed = await opts.replay(path, settings, key);
    backends.add(replayed.backend);
    const byLine = rowsByLine(replayed.rows);
    const byState = emptyConfusion();
    const byScore = emptyConfusion();
    let unscored = 0;
    for (const r of rows.slice(SKAB_TRAIN_ROWS)) {
      const out = byLine.get(r.line);
      const live = out !== undefined && !out.training;
      if (!live || out.score === null) unscored++;
      count(byState, live && out.anomaly, r.anomalous);
      count(byScore, live && out.score !== null && out.score > 1, r.anomalous);
    }
    const rejected = Object.values(replayed.rejected).reduce((a, b) => a + b, 0);
    const file: SkabFileReport = {
      key,
      rows: rows.length,
      testRows: rows.length - SKAB_TRAIN_ROWS,
      anomalousRows: byState.tp + byState.fn,
      unscored,
      rejected,
      maxGapMs: settings.windowing.maxGapMs,
      seconds: (performance.now() - f0) / 1000,
      trainingSeconds: replayed.trainingSeconds,
      ...result(byState),
      scoreAboveOne: result(byScore),
    };
    files.push(file);
    opts.progress?.fileDone?.(
      i + 1,
      todo.length,
      key,
      `${file.testRows} test rows (${file.anomalousRows} anomalous): F1 ${file.f1.toFixed(3)}, FAR ${file.far.toFixed(1)} %, ` +
        `MAR ${file.mar.toFixed(1)} %${rejected > 0 ? `, ${rejected} rejected` : ''}, ${file.seconds.toFixed(1)} s`,
    );
  }

  const pooled = files.reduce<Confusion>((c, f) => addConfusion(c, f), emptyConfusion());
  const pooledScore = files.reduce<Confusion>((c, f) => addConfusion(c, f.scoreAboveOne), emptyConfusion());
  return {
    files,
    total: {
      ...result(pooled),
      testRows: pooled.tp + pooled.fp + pooled.fn + pooled.tn,
      anomalousRows: pooled.tp + pooled.fn,
    },
    scoreAboveOne: result(pooledScore),
    skipped,
    backends: [...backends],
    seconds: (performance.now() - t0) / 1000,
  };
}
