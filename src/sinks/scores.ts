import { extname } from 'node:path';
import { AemonError } from '../errors.js';
import type { PipelineOutput, ScoredReading, Sink } from '../pipeline/contracts.js';
import type { LatentPoint } from '../pipeline/latent.js';
import { STDOUT, openTextWriter } from './fileWriter.js';

export type ScoreFileFormat = 'csv' | 'ndjson';

const FORMATS: Readonly<Record<string, ScoreFileFormat>> = { '.csv': 'csv', '.ndjson': 'ndjson', '.jsonl': 'ndjson' };

/** The format a score file's extension asks for (`.csv`, `.ndjson`, `.jsonl`); stdout (`-`) gets CSV. */
export function scoreFileFormat(path: string): ScoreFileFormat {
  if (path === STDOUT) return 'csv';
  const format = FORMATS[extname(path).toLowerCase()];
  if (format === undefined) {
    throw new AemonError('AEMON_USAGE', `score file ${path}: unknown extension (use .csv, .ndjson or .jsonl)`, {
      stage: 'startup',
    });
  }
  return format;
}

/** Six significant digits, then the shortest form: the same input always gives the same bytes. */
export function roundNumber(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(6)) : x;
}

function csvNumber(x: number | null): string {
  return x === null ? '' : String(roundNumber(x));
}

function csvCell(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The columns `scoring.latent` adds at the end of a CSV row. */
export const LATENT_COLUMNS = ['latent_x', 'latent_y', 'latent_distance'] as const;

/**
 * `timestamp,sensor,score,threshold,anomaly,error_<channel>…`, then with `latent`
 * `latent_x,latent_y,latent_distance` (docs/getting-started.md#replay-output).
 */
export function csvHeader(channels: readonly string[], latent = false): string {
  return (
    [
      'timestamp',
      'sensor',
      'score',
      'threshold',
      'anomaly',
      ...channels.map((c) => csvCell(`error_${c}`)),
      ...(latent ? LATENT_COLUMNS : []),
    ].join(',') + '\n'
  );
}

/** One CSV line; a channel column the row has no share for is left empty, and so are the latent columns of a reading that ended no window. */
export function csvRow(row: ScoredReading, channels: readonly string[], latent = false): string {
  const cells = [
    new Date(row.reading.ts).toISOString(),
    csvCell(row.reading.sensor),
    csvNumber(row.score),
    csvNumber(row.threshold),
    row.anomaly ? '1' : '0',
  ];
  const shares = row.channelShares;
  for (const channel of channels) {
    const i = shares === null ? -1 : row.channels.indexOf(channel);
    cells.push(i < 0 || shares === null ? '' : csvNumber(shares[i] ?? null));
  }
  if (latent) {
    const p = row.latent;
    cells.push(...(p ? [csvNumber(p.x), csvNumber(p.y), csvNumber(p.distance)] : ['', '', '']));
  }
  return cells.join(',') + '\n';
}

/**
 * One NDJSON line: `{ts, sensor, score, rawScore, threshold, anomaly, errors, windowId}`; `errors` is
 * null while warming. `rawScore` is the window's error ÷ its calibrated threshold. The reading
 * that ended a window has `latent: {x, y, distance, code}` with `scoring.latent`.
 */
export function ndjsonRow(row: ScoredReading): string {
  let errors: Record<string, number> | null = null;
  if (row.channelShares !== null) {
    errors = {};
    for (let i = 0; i < row.channels.length; i++) {
      errors[row.channels[i] as string] = roundNumber(row.channelShares[i] ?? NaN);
    }
  }
  const r = (x: number | null): number | null => (x === null ? null : roundNumber(x));
  return (
    JSON.stringify({
      ts: new Date(row.reading.ts).toISOString(),
      sensor: row.reading.sensor,
      score: r(row.score),
      rawScore: r(row.rawScore),
      threshold: r(row.threshold),
      anomaly: row.anomaly,
      errors,
      windowId: row.windowId,
      ...(row.latent ? { latent: latentJson(row.latent) } : {}),
    }) + '\n'
  );
}

/** A window's place in the latent space as JSON: projection, distance and code, six significant digits. */
export function latentJson(p: LatentPoint): { x: number; y: number; distance: number; code: number[] } {
  return {
    x: roundNumber(p.x),
    y: roundNumber(p.y),
    distance: roundNumber(p.distance),
    code: Array.from(p.code, roundNumber),
  };
}

function unionOfChannels(outputs: readonly PipelineOutput[]): string[] {
  const seen = new Set<string>();
  for (const out of outputs) {
    if (out.kind !== 'scored') continue;
    for (const row of out.rows) if (!row.training) for (const c of row.channels) seen.add(c);
  }
  return [...seen];
}

/**
 * Writes every {@link ScoredReading} to `path` (CSV or NDJSON by extension, `-` for CSV on
 * stdout), one row per reading in the order given, leaving out training rows (docs/getting-started.md#replay-output: "one
 * row per reading after the training rows"). A CSV header is fixed once written, so pass every
 * channel the run can see (e.g. the union over a replayed folder); without `channels` the header
 * takes the channels of the first rows written, and a later row's other channels are left out.
 */
export function scoreFileSink(path: string, channels?: readonly string[], options: { latent?: boolean } = {}): Sink {
  const latent = options.latent === true;
  const format = scoreFileFormat(path);
  const file = openTextWriter(path);
  let header: readonly string[] | undefined = channels === undefined ? undefined : [...new Set(channels)];
  let headerWritten = format !== 'csv';

  return {
    name: 'scores-file',
    async write(outputs) {
      let text = '';
      if (!headerWritten) {
        // Without channels given, the header waits for the first rows to name them.
        if (header === undefined && !outputs.some((o) => o.kind === 'scored' && o.rows.some((r) => !r.training)))
          return;
        header ??= unionOfChannels(outputs);
        text += csvHeader(header, latent);
        headerWritten = true;
      }
      for (const out of outputs) {
        if (out.kind !== 'scored') continue;
        for (const row of out.rows) {
          if (!row.training) text += format === 'csv' ? csvRow(row, header ?? [], latent) : ndjsonRow(row);
        }
      }
      await file.write(text);
    },
    async close() {
      if (!headerWritten) {
        headerWritten = true;
        await file.write(csvHeader(header ?? [], latent));
      }
      await file.close();
    },
  };
}
