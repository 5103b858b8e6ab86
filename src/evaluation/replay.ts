import type { ConfigInput } from '../config/schema.js';

/** aemon's output for one line of a replayed file (the parts the benchmarks score). */
export interface ReplayedRow {
  /** 1-based line number in the file. */
  line: number;
  /** Part of the training (bootstrap) period: not scored by the benchmarks. */
  training: boolean;
  /** The decision's score (> 1 above the threshold in force); `null` while warming (no full window or no model). */
  score: number | null;
  /** Window error ÷ the calibrated threshold; `null` while warming. */
  rawScore: number | null;
  /** Sensor state after hysteresis. */
  anomaly: boolean;
}

export interface ReplayResult {
  /** One row per valid reading; rejected lines have none. */
  rows: ReplayedRow[];
  /** Lines aemon rejected (reason → count). */
  rejected: Record<string, number>;
  trainingSeconds: number;
  /** The TensorFlow.js backend that trained and scored (results can differ slightly between backends). */
  backend: string;
}

/**
 * Replays one file through a fresh engine in replay mode (as `aemon replay` does), with these
 * config settings over the user's config. The CLI wires it; evaluation only calls it. Rejects
 * (`AEMON_TRAINING`) when the file's model cannot be trained: an evaluation never scores a file
 * it could not score.
 */
export type ReplayFile = (path: string, settings: ConfigInput, label: string) => Promise<ReplayResult>;

/** Per-file progress, for a line (or a bar) on stderr. */
export interface EvalProgress {
  fileStart?(index: number, total: number, name: string): void;
  fileDone?(index: number, total: number, name: string, summary: string): void;
}

/** Row lookup by line number. */
export function rowsByLine(rows: readonly ReplayedRow[]): Map<number, ReplayedRow> {
  return new Map(rows.map((r) => [r.line, r]));
}
