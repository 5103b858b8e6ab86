import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, extname, relative, sep } from 'node:path';
import { createInterface } from 'node:readline';
import type { Observable } from 'rxjs';
import { AemonError } from '../errors.js';
import type { FlowControl, SourceRecord } from '../pipeline/contracts.js';
import { csvLayout, csvRow } from './csv.js';
import type { CsvLayout } from './csv.js';
import { ackOnce, fromProducer } from './produce.js';
import { walkFiles } from '../shared/files.js';

/** File layouts; `lines` = one raw record per line with any extension (line protocol). */
export type FileFormat = 'auto' | 'nab' | 'skab' | 'ndjson' | 'csv' | 'lines';

export interface FileSourceOptions {
  format?: FileFormat;
  /** Awaited before each record. */
  flow?: FlowControl;
  /** Called by each record's ack (at most once per record). */
  onAck?: () => void;
  /** Clock for `arrivedAt` (default `Date.now`). */
  now?: () => number;
}

/** A data file of a replay, in output order. */
export interface DataFile {
  path: string;
  /** Sensor id of its rows when they name none: path relative to the folder given, without extension. */
  sensor: string;
  /** `ndjson` and `lines`: each line is one record's raw text, for the decoder to parse. */
  kind: 'csv' | 'ndjson' | 'lines';
}

const NDJSON_EXT = new Set(['.ndjson', '.jsonl']);
const LINES_EXT = new Set(['.lp', '.line', '.influx', '.txt']);

function inputError(message: string, cause?: unknown): AemonError {
  return new AemonError(
    'AEMON_INPUT_READ',
    message,
    cause === undefined ? { stage: 'source' } : { stage: 'source', cause },
  );
}

function wanted(file: string, format: FileFormat): boolean {
  const ext = extname(file).toLowerCase();
  if (format === 'ndjson') return NDJSON_EXT.has(ext);
  if (format === 'lines') return LINES_EXT.has(ext);
  return ext === '.csv' || (format === 'auto' && NDJSON_EXT.has(ext));
}

/** The data files a path stands for: the file itself, or every data file under a folder, sorted by relative path. */
export async function listDataFiles(path: string, format: FileFormat = 'auto'): Promise<DataFile[]> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file or folder' : (err as Error).message;
    throw inputError(`cannot read ${path}: ${why}`, err);
  }
  const kindOf = (file: string): DataFile['kind'] => {
    const ext = extname(file).toLowerCase();
    if (format === 'lines') return 'lines';
    return format === 'ndjson' || (format === 'auto' && NDJSON_EXT.has(ext)) ? 'ndjson' : 'csv';
  };
  if (!info.isDirectory()) {
    return [{ path, sensor: basename(path, extname(path)), kind: kindOf(path) }];
  }
  let found: string[];
  try {
    found = await walkFiles(path);
  } catch (err) {
    throw inputError(`cannot list ${path}: ${(err as Error).message}`, err);
  }
  const files = found
    .filter((f) => wanted(f, format))
    .map((f) => {
      const rel = relative(path, f).split(sep).join('/');
      return { path: f, rel, sensor: rel.slice(0, rel.length - extname(rel).length), kind: kindOf(f) };
    })
    .sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  if (files.length === 0) {
    const what =
      format === 'ndjson'
        ? '.ndjson or .jsonl'
        : format === 'lines'
          ? '.lp, .line, .influx or .txt'
          : format === 'auto'
            ? '.csv, .ndjson or .jsonl'
            : '.csv';
    throw inputError(`no ${what} files under ${path}`);
  }
  return files.map(({ path: p, sensor, kind }) => ({ path: p, sensor, kind }));
}

function lines(file: string): { lines: AsyncIterable<string>; close: () => void } {
  const input = createReadStream(file, { encoding: 'utf8' });
  const rl = createInterface({ input, crlfDelay: Infinity });
  return {
    lines: rl,
    close: () => {
      rl.close();
      input.destroy();
    },
  };
}

/** The first non-blank line (the header of a CSV file) and its 1-based number, or undefined for an empty file. */
async function firstLine(file: string): Promise<{ text: string; line: number } | undefined> {
  const src = lines(file);
  try {
    let n = 0;
    for await (const text of src.lines) {
      n++;
      const t = n === 1 ? stripBom(text) : text;
      if (t.trim() !== '') return { text: t, line: n };
    }
    return undefined;
  } finally {
    src.close();
  }
}

function stripBom(s: string): string {
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

interface Plan extends DataFile {
  /** For CSV: the layout and the header's line number (0 for NDJSON). */
  layout: CsvLayout | undefined;
  headerLine: number;
}

// Every CSV header is checked before the first record, so a bad file fails the run up front.
async function plan(path: string, format: FileFormat): Promise<Plan[]> {
  const plans: Plan[] = [];
  for (const f of await listDataFiles(path, format)) {
    let head: Awaited<ReturnType<typeof firstLine>>;
    try {
      head = await firstLine(f.path);
    } catch (err) {
      throw inputError(`cannot read ${f.path}: ${(err as Error).message}`, err);
    }
    let kind = f.kind;
    // A single file with another extension: JSON lines start with "{".
    if (
      format === 'auto' &&
      kind === 'csv' &&
      extname(f.path).toLowerCase() !== '.csv' &&
      head?.text.trimStart().startsWith('{')
    ) {
      kind = 'ndjson';
    }
    if (kind === 'ndjson' || kind === 'lines' || head === undefined) {
      plans.push({ ...f, kind, layout: undefined, headerLine: head === undefined ? Infinity : 0 });
      continue;
    }
    const layout = csvLayout(head.text, format === 'nab' || format === 'skab' || format === 'csv' ? format : 'auto');
    if (typeof layout === 'string') throw inputError(`${f.path}: ${layout}`);
    plans.push({ ...f, kind, layout, headerLine: head.line });
  }
  return plans;
}

/**
 * Replays a file or a folder (CSV: NAB, SKAB or generic; NDJSON; line protocol) line by line, in
 * order, one record per non-blank line. CSV rows are parsed here; other lines are left to decode.
 */
export function fileSource(path: string, options: FileSourceOptions = {}): Observable<SourceRecord> {
  const format = options.format ?? 'auto';
  const now = options.now ?? Date.now;
  const flow = options.flow;
  return fromProducer<SourceRecord>(async (out) => {
    const plans = await plan(path, format);
    let seq = 0;
    for (const p of plans) {
      if (p.headerLine === Infinity) continue;
      const src = lines(p.path);
      try {
        let n = 0;
        for await (const text of src.lines) {
          n++;
          if (n <= p.headerLine) continue;
          const line = n === 1 ? stripBom(text) : text;
          if (line.trim() === '') continue;
          const wait = flow?.ready();
          if (wait !== undefined) await wait;
          if (out.closed) return;
          const rec: SourceRecord = {
            raw: line,
            key: p.sensor,
            origin: { source: 'file', file: p.path, line: n },
            arrivedAt: now(),
            seq: seq++,
            ack: ackOnce(options.onAck),
          };
          if (p.layout !== undefined) Object.assign(rec, csvRow(p.layout, line));
          if (!out.next(rec)) return;
        }
      } catch (err) {
        if (err instanceof AemonError) throw err;
        throw inputError(`cannot read ${p.path}: ${(err as Error).message}`, err);
      } finally {
        src.close();
      }
    }
  });
}
