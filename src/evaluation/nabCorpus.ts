import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { AemonError } from '../errors.js';
import type { CostMatrix } from './nab.js';
import { parseTimeColumn } from '../shared/time.js';
import { csvLines, findCsvFiles, inputError, readText } from './files.js';

/** NAB's three profiles, by their names in `profiles.json`. */
export const NAB_PROFILES = ['standard', 'reward_low_FP_rate', 'reward_low_FN_rate'] as const;
export type NabProfileName = (typeof NAB_PROFILES)[number];

// NAB's published cost matrices, used when the folder has no profiles.json.
const DEFAULT_PROFILES: Record<NabProfileName, CostMatrix> = {
  standard: { tpWeight: 1, fpWeight: 0.11, fnWeight: 1 },
  reward_low_FP_rate: { tpWeight: 1, fpWeight: 0.22, fnWeight: 1 },
  reward_low_FN_rate: { tpWeight: 1, fpWeight: 0.11, fnWeight: 2 },
};

export interface NabRecord {
  line: number;
  /** As written in the file (the results file repeats it). */
  timestamp: string;
  value: string;
  ts: number;
}

export interface NabDataFile {
  /** Path under `data/` with `/`, e.g. `realTweets/Twitter_volume_AAPL.csv`: the key of combined_windows.json. */
  key: string;
  path: string;
  records: NabRecord[];
  /** Labelled windows as inclusive record indices. */
  windows: Array<[number, number]>;
}

export interface NabCorpus {
  files: NabDataFile[];
  profiles: Record<NabProfileName, CostMatrix>;
  /** Files found but not scored, with the reason. */
  skipped: Array<{ key: string; reason: string }>;
}

function firstExisting(paths: string[]): string | undefined {
  return paths.find((p) => existsSync(p));
}

async function readJson(path: string): Promise<unknown> {
  const text = await readText(path);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw inputError(`${path}: not valid JSON: ${(err as Error).message}`, err);
  }
}

async function loadProfiles(dir: string): Promise<Record<NabProfileName, CostMatrix>> {
  const path = firstExisting([join(dir, 'profiles.json'), join(dir, 'config', 'profiles.json')]);
  if (path === undefined) return DEFAULT_PROFILES;
  const json = (await readJson(path)) as Record<string, { CostMatrix?: Partial<CostMatrix> }>;
  const out = {} as Record<NabProfileName, CostMatrix>;
  for (const name of NAB_PROFILES) {
    const m = json[name]?.CostMatrix;
    const ok = m && [m.tpWeight, m.fpWeight, m.fnWeight].every((w) => typeof w === 'number' && Number.isFinite(w));
    if (!ok) throw inputError(`${path}: profile "${name}" has no CostMatrix with tpWeight, fpWeight and fnWeight`);
    out[name] = { tpWeight: m.tpWeight!, fpWeight: m.fpWeight!, fnWeight: m.fnWeight! };
  }
  return out;
}

function parseRecords(text: string): NabRecord[] | string {
  const csv = csvLines(text);
  if (csv === undefined) return 'empty file';
  const cols = csv.header.split(',').map((c) => c.trim());
  const ti = cols.indexOf('timestamp');
  const vi = cols.indexOf('value');
  if (ti < 0 || vi < 0) return `no timestamp and value columns (header: ${csv.header})`;
  return csv.lines.map(({ line, text: t }) => {
    const f = t.split(',');
    const timestamp = (f[ti] ?? '').trim();
    return { line, timestamp, value: (f[vi] ?? '').trim(), ts: parseTimeColumn(timestamp) };
  });
}

// Window limits are matched to the first record with that time, as NAB's labeler does.
function resolveWindows(key: string, records: readonly NabRecord[], limits: unknown): Array<[number, number]> {
  if (!Array.isArray(limits)) throw inputError(`combined_windows.json: "${key}" is not a list of windows`);
  const index = new Map<number, number>();
  records.forEach((r, i) => {
    if (!index.has(r.ts)) index.set(r.ts, i);
  });
  const windows = limits.map((w: unknown): [number, number] => {
    if (!Array.isArray(w) || w.length !== 2)
      throw inputError(`combined_windows.json: "${key}" has a window that is not [start, end]`);
    const [a, b] = (w as unknown[]).map((t) => {
      const i = index.get(parseTimeColumn(String(t)));
      if (i === undefined)
        throw inputError(`combined_windows.json: window limit ${String(t)} of "${key}" is no timestamp of the file`);
      return i;
    }) as [number, number];
    if (b < a) throw inputError(`combined_windows.json: "${key}" has a window that ends before it starts`);
    return [a, b];
  });
  windows.sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < windows.length; i++) {
    if (windows[i]![0] <= windows[i - 1]![1]) throw inputError(`combined_windows.json: windows of "${key}" overlap`);
  }
  return windows;
}

/**
 * A NAB-layout folder: `data/<category>/<file>.csv` (or the CSVs directly under it),
 * `combined_windows.json` (or `labels/combined_windows.json`) and `profiles.json` (or
 * `config/profiles.json`; NAB's published profiles without one). A CSV with no entry in the
 * windows file is skipped (NAB cannot score it).
 */
export async function loadNabCorpus(dir: string): Promise<NabCorpus> {
  const windowsPath = firstExisting([join(dir, 'combined_windows.json'), join(dir, 'labels', 'combined_windows.json')]);
  if (windowsPath === undefined)
    throw inputError(`${dir}: no combined_windows.json (NAB layout: data/, combined_windows.json, profiles.json)`);
  const allWindows = (await readJson(windowsPath)) as Record<string, unknown>;
  const dataDir = existsSync(join(dir, 'data')) ? join(dir, 'data') : dir;
  const files: NabDataFile[] = [];
  const skipped: NabCorpus['skipped'] = [];
  for (const key of await findCsvFiles(dataDir)) {
    if (!(key in allWindows)) {
      skipped.push({ key, reason: 'no entry in combined_windows.json' });
      continue;
    }
    const path = join(dataDir, ...key.split('/'));
    const records = parseRecords(await readText(path));
    if (typeof records === 'string') {
      skipped.push({ key, reason: records });
      continue;
    }
    files.push({ key, path, records, windows: resolveWindows(key, records, allWindows[key]) });
  }
  if (files.length === 0) throw inputError(`${dir}: no NAB data file with labelled windows under ${dataDir}`);
  return { files, profiles: await loadProfiles(dir), skipped };
}

/** NAB's results layout: `<out>/aemon/<category>/aemon_<file>.csv`. */
export function nabResultsPath(out: string, key: string, detector = 'aemon'): string {
  return join(
    out,
    detector,
    ...posix
      .dirname(key)
      .split('/')
      .filter((p) => p !== '.'),
    `${detector}_${posix.basename(key)}`,
  );
}

/** Writes a file's results as NAB's scorer reads them: `timestamp,value,anomaly_score,label`. */
export async function writeNabResults(out: string, file: NabDataFile, scores: readonly number[]): Promise<string> {
  const path = nabResultsPath(out, file.key);
  const inWindow = new Uint8Array(file.records.length);
  for (const [a, b] of file.windows) inWindow.fill(1, a, b + 1);
  const lines = ['timestamp,value,anomaly_score,label'];
  // String(x) is the shortest text that reads back as the same double: NAB scores exactly these.
  file.records.forEach((r, i) => lines.push(`${r.timestamp},${r.value},${String(scores[i])},${inWindow[i]}`));
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, lines.join('\n') + '\n');
  } catch (err) {
    throw new AemonError('AEMON_SINK_WRITE', `cannot write ${path}: ${(err as Error).message}`, {
      stage: 'sink',
      cause: err,
    });
  }
  return path;
}
