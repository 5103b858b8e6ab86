// Renders the tables of docs/evaluation.md from the committed `aemon evaluate … --json` outputs in
// docs/data/evaluate-*.json (`npm run docs:evaluation`); test/docs.test.ts fails when they differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { SKAB_REFERENCE } from '../src/evaluation/skabReport.js';
import { NAB_REFERENCE } from '../src/evaluation/nabReport.js';
import { DOCS, dataFiles, mdTable, provenance, readData, replaceBlock, runInfo } from './docs/blocks.js';
import type { AblationJson, AblationRun } from './ablation.js';

interface Confusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  f1: number;
  far: number;
  mar: number;
}

interface SkabJson extends Confusion {
  benchmark: 'skab';
  files: number;
  seconds: number;
  backend: string;
  testRows: number;
  anomalousRows: number;
  scoreAboveOne: Confusion;
  skipped: Array<{ key: string; reason: string }>;
  perFile: Array<Confusion & { key: string; testRows: number; anomalousRows: number }>;
}

interface NabProfile {
  score: number;
  raw: number;
  threshold: number;
}

interface NabJson {
  benchmark: 'nab';
  standard: number;
  rewardLowFP: number;
  rewardLowFN: number;
  files: number;
  seconds: number;
  backend: string;
  profiles: Record<'standard' | 'rewardLowFP' | 'rewardLowFN', NabProfile>;
  perFile: Array<{
    key: string;
    records: number;
    probation: number;
    windows: number;
    profiles: Record<
      'standard' | 'rewardLowFP' | 'rewardLowFN',
      { score: number; detectedWindows: number; windows: number; fp: number }
    >;
  }>;
}

const f1 = (x: number): string => x.toFixed(3);
const pct = (x: number | undefined): string => (x === undefined ? '—' : x.toFixed(1));

export function renderSkab(file: string, j: SkabJson): string {
  const summary = mdTable(
    ['', 'F1', 'FAR %', 'MAR %'],
    [
      [`**aemon** (anomaly state, ${j.files} files)`, `**${f1(j.f1)}**`, `**${pct(j.far)}**`, `**${pct(j.mar)}**`],
      ['aemon, score > 1 (no hysteresis)', f1(j.scoreAboveOne.f1), pct(j.scoreAboveOne.far), pct(j.scoreAboveOne.mar)],
      ...SKAB_REFERENCE.map((r) => [`${r.name} (published, 34 files)`, r.f1.toFixed(2), pct(r.far), pct(r.mar)]),
    ],
  );
  const perFile = mdTable(
    ['file', 'test rows', 'anomalous', 'TP', 'FP', 'FN', 'TN', 'F1', 'FAR %', 'MAR %'],
    [
      ...j.perFile.map((f) => [
        f.key,
        f.testRows,
        f.anomalousRows,
        f.tp,
        f.fp,
        f.fn,
        f.tn,
        f1(f.f1),
        pct(f.far),
        pct(f.mar),
      ]),
      ['**pooled**', j.testRows, j.anomalousRows, j.tp, j.fp, j.fn, j.tn, f1(j.f1), pct(j.far), pct(j.mar)],
    ],
  );
  const skipped = j.skipped.map((s) => `Skipped: ${s.key} (${s.reason}).\n`).join('');
  return `${provenance(runInfo(file))}Backend ${j.backend}, ${j.seconds.toFixed(1)} s.\n\n${summary}\n${perFile}${skipped ? '\n' + skipped : ''}`;
}

export function renderNab(file: string, j: NabJson): string {
  const summary = mdTable(
    ['', 'standard', 'reward low FP', 'reward low FN'],
    [
      [
        `**aemon** (${j.files} files)`,
        `**${j.standard.toFixed(1)}**`,
        `**${j.rewardLowFP.toFixed(1)}**`,
        `**${j.rewardLowFN.toFixed(1)}**`,
      ],
      ...NAB_REFERENCE.map((r) => [`${r.name} (published, 58 files)`, r.standard.toFixed(1), '', '']),
    ],
  );
  const perFile = mdTable(
    ['file', 'records', 'prob.', 'windows', 'detected', 'FP records', 'standard', 'low FP', 'low FN'],
    j.perFile.map((f) => [
      f.key,
      f.records,
      f.probation,
      f.windows,
      `${f.profiles.standard.detectedWindows}/${f.profiles.standard.windows}`,
      f.profiles.standard.fp,
      f.profiles.standard.score.toFixed(2),
      f.profiles.rewardLowFP.score.toFixed(2),
      f.profiles.rewardLowFN.score.toFixed(2),
    ]),
  );
  return `${provenance(runInfo(file))}Backend ${j.backend}, ${j.seconds.toFixed(1)} s.\n\n${summary}\n${perFile}`;
}

/** Mean ± sample standard deviation over the seeds that have the figure; — when none has it. */
function spread(runs: readonly AblationRun[], pick: (r: AblationRun) => number | undefined, digits: number): string {
  const xs = runs.map(pick).filter((x): x is number => x !== undefined && Number.isFinite(x));
  if (xs.length === 0) return '—';
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length === 1) return mean.toFixed(digits);
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
  return `${mean.toFixed(digits)} ± ${sd.toFixed(digits)}`;
}

/** The ablation table: a row per variant, each figure over its seeds. */
export function ablationTable(j: AblationJson): string {
  const settings = (s: Record<string, string>): string =>
    Object.keys(s).length === 0
      ? '—'
      : Object.entries(s)
          .map(([k, v]) => `\`${k}=${v}\``)
          .join(' ');
  return mdTable(
    [
      'variant',
      'settings',
      'seeds',
      'SKAB F1',
      'FAR %',
      'MAR %',
      'NAB standard',
      'low FP',
      'low FN',
      'simulator: detected',
      'false events / sensor-hour',
    ],
    j.variants.map((v) => {
      const r = v.runs;
      const bold = (x: string): string => (v.name === 'defaults' && x !== '—' ? `**${x}**` : x);
      return [
        bold(v.name),
        settings(v.settings),
        r.map((x) => x.seed).join(', '),
        bold(spread(r, (x) => x.skab?.f1, 3)),
        bold(spread(r, (x) => x.skab?.far, 1)),
        bold(spread(r, (x) => x.skab?.mar, 1)),
        bold(spread(r, (x) => x.nab?.standard, 1)),
        bold(spread(r, (x) => x.nab?.rewardLowFP, 1)),
        bold(spread(r, (x) => x.nab?.rewardLowFN, 1)),
        bold(r[0]?.sim === undefined ? '—' : `${spread(r, (x) => x.sim?.detected, 1)} of ${r[0].sim.injected}`),
        bold(spread(r, (x) => x.sim?.falseEventsPerSensorHour, 2)),
      ];
    }),
  );
}

export function renderAblation(file: string, j: AblationJson): string {
  const minutes = (pick: (r: AblationRun) => number | undefined): string => {
    const xs = j.variants.flatMap((v) => v.runs.map(pick)).filter((x): x is number => x !== undefined);
    return xs.length === 0 ? '—' : `${(Math.max(...xs) / 60).toFixed(1)} min`;
  };
  return (
    `${provenance(runInfo(file))}Backend ${j.backend}. Each figure is the mean ± the standard deviation over the model ` +
    `seeds listed (\`model.seed\`); the simulator columns are the injected anomalies detected and the false events, on ` +
    `${j.simulator}. Longest single evaluation: SKAB ${minutes((r) => r.skab?.seconds)}, NAB ` +
    `${minutes((r) => r.nab?.seconds)}, simulator ${minutes((r) => r.sim?.seconds)}.\n\n${ablationTable(j)}`
  );
}

/** Block name → rendered content, one block per docs/data/evaluate-*.json. */
export function evaluationBlocks(): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const file of dataFiles('evaluate-')) {
    const j = readData<SkabJson | NabJson | AblationJson>(file);
    const name = file.replace(/\.json$/, '');
    blocks.set(
      name,
      j.benchmark === 'skab'
        ? renderSkab(file, j)
        : j.benchmark === 'nab'
          ? renderNab(file, j)
          : renderAblation(file, j),
    );
  }
  return blocks;
}

export const EVALUATION_PAGE = new URL('evaluation.md', DOCS);

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let page = readFileSync(EVALUATION_PAGE, 'utf8');
  for (const [name, content] of evaluationBlocks()) page = replaceBlock(page, name, content);
  writeFileSync(EVALUATION_PAGE, page);
}
