import { maxGapFor } from './files.js';
import { probationaryLength, scoreProfile, type NabFile, type NabFileScore, type NabProfileResult } from './nab.js';
import { loadNabCorpus, NAB_PROFILES, writeNabResults, type NabProfileName } from './nabCorpus.js';
import { rowsByLine, type EvalProgress, type ReplayFile } from './replay.js';

export interface NabEvalOptions {
  /** A NAB-layout folder (see {@link loadNabCorpus}). */
  dir: string;
  /** Writes NAB's results layout under this folder when set. */
  out?: string;
  /** The configured `windowing.maxGapMs` (raised for slow files, see {@link maxGapFor}). */
  maxGapMs: number;
  replay: ReplayFile;
  progress?: EvalProgress;
}

export interface NabFileReport {
  key: string;
  records: number;
  /** Records of the probationary period: aemon's training (bootstrap) readings. */
  probation: number;
  windows: number;
  /** Records aemon scored (after the probationary period, with a full window). */
  scored: number;
  /** Records aemon's own decision marked anomalous (after hysteresis). */
  anomalous: number;
  rejected: number;
  /** `windowing.maxGapMs` the file ran with (see {@link maxGapFor}). */
  maxGapMs: number;
  seconds: number;
  trainingSeconds: number;
  /** Each profile's result for this file at the corpus threshold. */
  profiles: Record<NabProfileName, NabFileScore>;
  results?: string;
}

export interface NabReport {
  files: NabFileReport[];
  /** Per profile: the corpus threshold, raw, null and perfect scores, and the normalised score. */
  profiles: Record<NabProfileName, Omit<NabProfileResult, 'perFile'>>;
  skipped: Array<{ key: string; reason: string }>;
  /** TensorFlow.js backends used. */
  backends: string[];
  seconds: number;
}

/**
 * aemon's score (window error ÷ threshold, ≥ 0, 1 = at threshold) as NAB's anomaly score in
 * [0, 1): s / (1 + s). Monotone, so it leaves NAB's threshold sweep exactly as the raw score
 * would, and the alarm threshold 1 lands on 0.5. Unscored records get 0.
 */
export function anomalyScore(score: number | null): number {
  if (score === null || Number.isNaN(score) || score <= 0) return 0;
  if (score === Infinity) return 1;
  return score / (1 + score);
}

/**
 * The NAB protocol: a fresh engine per file learns from the probationary period (the first
 * 15 %, at most 750 records) and scores the rest causally; records of the probationary period
 * and unscored ones get anomaly score 0; then NAB's scoring over the whole corpus.
 */
export async function evaluateNab(opts: NabEvalOptions): Promise<NabReport> {
  const t0 = performance.now();
  const corpus = await loadNabCorpus(opts.dir);
  const scored: NabFile[] = [];
  const reports: Array<Omit<NabFileReport, 'profiles'>> = [];
  const total = corpus.files.length;
  const backends = new Set<string>();
  for (const [i, file] of corpus.files.entries()) {
    opts.progress?.fileStart?.(i + 1, total, file.key);
    const f0 = performance.now();
    const n = file.records.length;
    const probation = probationaryLength(n);
    const settings = {
      training: { bootstrapReadings: Math.max(1, probation) },
      windowing: {
        maxGapMs: maxGapFor(
          file.records.map((r) => r.ts),
          probation,
          opts.maxGapMs,
        ),
      },
    };
    const result = await opts.replay(file.path, settings, file.key);
    backends.add(result.backend);
    const byLine = rowsByLine(result.rows);
    let nScored = 0;
    let anomalous = 0;
    let wasAnomalous = false;
    // aemon's alarms are its anomaly events. NAB counts every record scored above its threshold
    // as a detection (each one outside a window costs a false positive), so a record carries
    // aemon's score where an anomaly opens and 0 elsewhere, as a live user would be alerted. The
    // raw score (error ÷ calibrated threshold) ranks the openings: it is comparable across files
    // and decision layers, which NAB's one threshold over the whole corpus needs.
    const scores = file.records.map((r, k) => {
      const row = byLine.get(r.line);
      if (k < probation || row === undefined || row.training) return 0;
      if (row.score !== null) nScored++;
      if (row.anomaly) anomalous++;
      const opened = row.anomaly && !wasAnomalous;
      wasAnomalous = row.anomaly;
      return opened ? anomalyScore(row.rawScore) : 0;
    });
    scored.push({ name: file.key, scores, windows: file.windows });
    const rejected = Object.values(result.rejected).reduce((a, b) => a + b, 0);
    const report: Omit<NabFileReport, 'profiles'> = {
      key: file.key,
      records: n,
      probation,
      windows: file.windows.length,
      scored: nScored,
      anomalous,
      rejected,
      maxGapMs: settings.windowing.maxGapMs,
      seconds: (performance.now() - f0) / 1000,
      trainingSeconds: result.trainingSeconds,
      ...(opts.out === undefined ? {} : { results: await writeNabResults(opts.out, file, scores) }),
    };
    reports.push(report);
    opts.progress?.fileDone?.(
      i + 1,
      total,
      file.key,
      `${n} records (${probation} probationary), ${file.windows.length} window(s), ${nScored} scored, ${anomalous} anomalous` +
        `${rejected > 0 ? `, ${rejected} rejected` : ''}, ${report.seconds.toFixed(1)} s (training ${result.trainingSeconds.toFixed(1)} s)`,
    );
  }

  const results = Object.fromEntries(NAB_PROFILES.map((p) => [p, scoreProfile(scored, corpus.profiles[p])])) as Record<
    NabProfileName,
    NabProfileResult
  >;
  const files = reports.map((r, i) => ({
    ...r,
    profiles: Object.fromEntries(NAB_PROFILES.map((p) => [p, results[p].perFile[i]!])) as Record<
      NabProfileName,
      NabFileScore
    >,
  }));
  const profiles = Object.fromEntries(
    NAB_PROFILES.map((p) => {
      const { threshold, raw, nullRaw, perfect, score } = results[p];
      return [p, { threshold, raw, nullRaw, perfect, score }];
    }),
  ) as NabReport['profiles'];
  return {
    files,
    profiles,
    skipped: corpus.skipped,
    backends: [...backends],
    seconds: (performance.now() - t0) / 1000,
  };
}
