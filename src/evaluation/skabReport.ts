import type { SkabReport, SkabResult } from './skabRun.js';
import { SKAB_TRAIN_ROWS } from './skab.js';
import { fixed, formatTable } from './table.js';

/** SKAB leaderboard rows (all 34 files), as published with the benchmark (docs/evaluation.md#skab). */
export const SKAB_REFERENCE: ReadonlyArray<{ name: string; f1: number; far?: number; mar?: number }> = [
  { name: 'Conv-AE', f1: 0.78, far: 13.6, mar: 28.0 },
  { name: 'MSET', f1: 0.78, far: 39.7 },
  { name: 'PCA T²+Q', f1: 0.76 },
  { name: 'LSTM-AE', f1: 0.74, far: 30.0, mar: 25.9 },
  { name: 'LSTM-VAE', f1: 0.56 },
  { name: 'Isolation Forest', f1: 0.29 },
];

const scores = (r: SkabResult): string[] => [fixed(r.f1, 3), fixed(r.far, 1), fixed(r.mar, 1)];
const counts = (r: SkabResult): string[] => [String(r.tp), String(r.fp), String(r.fn), String(r.tn)];

/** The per-file table, the pooled total and the published rows beside it. */
export function skabText(report: SkabReport): string {
  const header = ['file', 'test rows', 'anomalous', 'TP', 'FP', 'FN', 'TN', 'F1', 'FAR %', 'MAR %'];
  const rows = report.files.map((f) => [
    f.key,
    String(f.testRows),
    String(f.anomalousRows),
    ...counts(f),
    ...scores(f),
  ]);
  const t = report.total;
  const footer = [
    ['aemon, pooled (anomaly state)', String(t.testRows), String(t.anomalousRows), ...counts(t), ...scores(t)],
    [
      'aemon, pooled (score > 1)',
      String(t.testRows),
      String(t.anomalousRows),
      ...counts(report.scoreAboveOne),
      ...scores(report.scoreAboveOne),
    ],
  ];
  const ref = formatTable(
    ['published (34 files)', 'F1', 'FAR %', 'MAR %'],
    SKAB_REFERENCE.map((r) => [r.name, fixed(r.f1, 2), fixed(r.far, 1), fixed(r.mar, 1)]),
    [['aemon (this run)', ...scores(t)]],
  );
  const skipped = report.skipped.map((s) => `skipped ${s.key}: ${s.reason}\n`).join('');
  return (
    `SKAB outlier detection: ${report.files.length} files, the first ${SKAB_TRAIN_ROWS} rows of each train a fresh model, ` +
    `the rest are scored causally and pooled; predicted anomalous = aemon's anomaly state (after hysteresis).\n\n` +
    formatTable(header, rows, footer) +
    '\n' +
    ref +
    (skipped ? '\n' + skipped : '') +
    `\n${report.seconds.toFixed(1)} s (backend ${report.backends.join(', ')})\n`
  );
}

/** `--json`: the keys of docs/evaluation.md#json-output (`f1`, `far`, `mar`, `files`, `seconds`) and the details. */
export function skabJson(report: SkabReport, config: unknown): Record<string, unknown> {
  const { total } = report;
  return {
    benchmark: 'skab',
    f1: total.f1,
    far: total.far,
    mar: total.mar,
    files: report.files.length,
    seconds: report.seconds,
    backend: report.backends.join(','),
    predicted: 'anomaly state after hysteresis',
    testRows: total.testRows,
    anomalousRows: total.anomalousRows,
    tp: total.tp,
    fp: total.fp,
    fn: total.fn,
    tn: total.tn,
    scoreAboveOne: report.scoreAboveOne,
    skipped: report.skipped,
    config,
    perFile: report.files,
  };
}
