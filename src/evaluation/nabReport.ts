import { NAB_PROFILES, type NabProfileName } from './nabCorpus.js';
import type { NabReport } from './nabRun.js';
import { fixed, formatTable } from './table.js';

/** NAB scoreboard, standard profile, all 58 files (as published with the benchmark, docs/evaluation.md#nab). */
export const NAB_REFERENCE: ReadonlyArray<{ name: string; standard: number }> = [
  { name: 'ARTime', standard: 74.9 },
  { name: 'Numenta HTM', standard: 70.5 },
  { name: 'CAD OSE', standard: 69.9 },
  { name: 'KNN CAD', standard: 58.0 },
  { name: 'Random Cut Forest', standard: 51.7 },
  { name: 'Twitter ADVec', standard: 47.1 },
  { name: 'Windowed Gaussian', standard: 39.6 },
  { name: 'random', standard: 11.0 },
];

/** JSON key of each profile (docs/evaluation.md#json-output). */
export const NAB_JSON_KEYS: Record<NabProfileName, string> = {
  standard: 'standard',
  reward_low_FP_rate: 'rewardLowFP',
  reward_low_FN_rate: 'rewardLowFN',
};

/** Per-file raw scores at the corpus thresholds, the normalised totals and the published rows. */
export function nabText(report: NabReport): string {
  const header = [
    'file',
    'records',
    'prob.',
    'scored',
    'windows',
    'detected',
    'FP records',
    'standard',
    'low FP',
    'low FN',
  ];
  const raw = (p: NabProfileName, s: { profiles: Record<NabProfileName, { score: number }> }): string =>
    fixed(s.profiles[p].score, 2);
  const rows = report.files.map((f) => [
    f.key,
    String(f.records),
    String(f.probation),
    String(f.scored),
    String(f.windows),
    `${f.profiles.standard.detectedWindows}/${f.profiles.standard.windows}`,
    String(f.profiles.standard.fp),
    ...NAB_PROFILES.map((p) => raw(p, f)),
  ]);
  const sum = (g: (f: NabReport['files'][number]) => number): number => report.files.reduce((a, f) => a + g(f), 0);
  const footer = [
    [
      'total (raw)',
      String(sum((f) => f.records)),
      String(sum((f) => f.probation)),
      String(sum((f) => f.scored)),
      String(sum((f) => f.windows)),
      `${sum((f) => f.profiles.standard.detectedWindows)}/${sum((f) => f.profiles.standard.windows)}`,
      String(sum((f) => f.profiles.standard.fp)),
      ...NAB_PROFILES.map((p) => fixed(report.profiles[p].raw, 2)),
    ],
  ];
  const profiles = formatTable(
    ['profile', 'threshold', 'raw', 'null (raw)', 'perfect (raw)', 'NAB score'],
    NAB_PROFILES.map((p) => {
      const r = report.profiles[p];
      return [
        p,
        r.threshold > 1 ? 'never' : fixed(r.threshold, 4),
        fixed(r.raw, 2),
        fixed(r.nullRaw, 2),
        fixed(r.perfect, 2),
        fixed(r.score, 1),
      ];
    }),
  );
  const ref = formatTable(
    ['published (58 files)', 'standard'],
    NAB_REFERENCE.map((r) => [r.name, fixed(r.standard, 1)]),
    [['aemon (this run, ' + report.files.length + ' files)', fixed(report.profiles.standard.score, 1)]],
  );
  const skipped = report.skipped.map((s) => `skipped ${s.key}: ${s.reason}\n`).join('');
  return (
    `NAB: ${report.files.length} files, each learnt from its probationary period (first 15 %, at most 750 records) by a fresh model ` +
    `and scored causally; anomaly score = s / (1 + s) of aemon's score s (error ÷ threshold) where an anomaly event opens, 0 elsewhere. Raw scores per file at the corpus threshold ` +
    `of each profile; "detected" and "FP records" for the standard profile.\n\n` +
    formatTable(header, rows, footer) +
    '\n' +
    profiles +
    '\n' +
    ref +
    (skipped ? '\n' + skipped : '') +
    `\n${report.seconds.toFixed(1)} s (backend ${report.backends.join(', ')})\n`
  );
}

/** `--json`: the keys of docs/evaluation.md#json-output (`standard`, `rewardLowFP`, `rewardLowFN`, `files`, `seconds`) and the details. */
export function nabJson(report: NabReport, config: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = { benchmark: 'nab' };
  for (const p of NAB_PROFILES) out[NAB_JSON_KEYS[p]] = report.profiles[p].score;
  return {
    ...out,
    files: report.files.length,
    seconds: report.seconds,
    backend: report.backends.join(','),
    anomalyScore:
      's / (1 + s) at the reading where an anomaly event opens (s = window error / threshold), 0 elsewhere, in the probationary period and while warming',
    profiles: Object.fromEntries(NAB_PROFILES.map((p) => [NAB_JSON_KEYS[p], report.profiles[p]])),
    skipped: report.skipped,
    config,
    perFile: report.files.map((f) => ({
      ...f,
      profiles: Object.fromEntries(NAB_PROFILES.map((p) => [NAB_JSON_KEYS[p], f.profiles[p]])),
    })),
  };
}
