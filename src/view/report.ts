import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AemonError } from '../errors.js';
import { escapeHtml, viewAssets } from './assets.js';
import { flaggedSpans, minMaxDownsample } from './downsample.js';
import { htmlDocument } from './page.js';
import type { SensorSeries } from './series.js';

/** Pixel columns a report's charts are downsampled to (min and max each). */
export const REPORT_COLUMNS = 3000;

export interface ReportOptions {
  title: string;
  /** What was replayed, e.g. the file or folder. */
  source: string;
  backend: string;
  /** Labelled windows per sensor from the benchmark (e.g. NAB's), instead of the readings' labels. */
  labelled?: ReadonlyMap<string, ReadonlyArray<readonly [number, number]>>;
  columns?: number;
  /** Epoch ms shown as the generation time (tests pin it). */
  generated?: number;
  /** A link shown at the top, e.g. back to an evaluation's index. */
  back?: { href: string; text: string };
}

/** One sensor as the report page draws it (see browser/report.js). */
export interface ReportSensor {
  id: string;
  channels: readonly string[];
  from: number;
  to: number;
  points: number;
  x: number[];
  score: Array<number | null>;
  values: Array<Array<number | null>>;
  reconstruction: Array<Array<number | null>> | null;
  labelled: Array<readonly [number, number]>;
  detected: Array<[number, number]>;
  training: Array<[number, number]>;
  /** Suppressed spans (maintenance, machine off): neither alarmed on nor learnt from. */
  suppressed: Array<[number, number]>;
  events: Array<{ start: number; end: number | null; peak: number; top: string }>;
  stats: { readings: number; scored: number; anomalous: number; labelledRows: number };
}

// Six significant digits are plenty for a chart and keep the embedded JSON small.
const compact = (v: number | null): number | null => (v === null ? null : Number(v.toPrecision(6)));

/** A sensor's series downsampled for display, with its spans and detections. */
export function reportSensor(
  s: SensorSeries,
  columns: number,
  labelled?: ReadonlyArray<readonly [number, number]>,
): ReportSensor {
  const n = s.ts.length;
  const hasRecon = s.reconstruction.some((r) => r.some(Number.isFinite));
  const d = minMaxDownsample(s.ts, [s.score, ...s.values, ...(hasRecon ? s.reconstruction : [])], columns);
  const w = s.channels.length;
  let scored = 0;
  let anomalous = 0;
  let labelledRows = 0;
  for (let i = 0; i < n; i++) {
    if (Number.isFinite(s.score[i]!)) scored++;
    if (s.anomaly[i] === 1) anomalous++;
    if (s.label[i] === 1) labelledRows++;
  }
  return {
    id: s.id,
    channels: s.channels,
    from: s.ts[0] ?? 0,
    to: s.ts[n - 1] ?? 0,
    points: d.x.length,
    x: d.x,
    score: d.ys[0]!.map(compact),
    values: d.ys.slice(1, 1 + w).map((y) => y.map(compact)),
    reconstruction: hasRecon ? d.ys.slice(1 + w, 1 + 2 * w).map((y) => y.map(compact)) : null,
    labelled: labelled ? [...labelled] : flaggedSpans(s.ts, (i) => s.label[i] === 1),
    detected: flaggedSpans(s.ts, (i) => s.anomaly[i] === 1),
    training: flaggedSpans(s.ts, (i) => s.training[i] === 1),
    suppressed: flaggedSpans(s.ts, (i) => s.suppressed[i] === 1),
    events: s.events
      .filter((e) => e.kind === 'closed' || !s.events.some((c) => c.kind === 'closed' && c.id === e.id))
      .map((e) => ({
        start: e.start,
        end: e.end ?? null,
        peak: compact(e.peakScore)!,
        top: e.topChannels.map((c) => `${c.channel} ${Math.round(c.share * 100)} %`).join(', '),
      })),
    stats: { readings: n, scored, anomalous, labelledRows },
  };
}

/** A self-contained HTML report of a replay: data, styles and scripts inline, no network. */
export function reportHtml(series: readonly SensorSeries[], opts: ReportOptions): string {
  const columns = opts.columns ?? REPORT_COLUMNS;
  const sensors = series.map((s) => reportSensor(s, columns, opts.labelled?.get(s.id)));
  const nav =
    sensors.length > 1
      ? `<nav aria-label="Sensors"><ul>${sensors.map((s, i) => `<li><a href="#sensor-${i}">${escapeHtml(s.id)}</a></li>`).join('')}</ul></nav>`
      : '';
  const body =
    `<header><h1>${escapeHtml(opts.title)}</h1><span id="generated" class="muted"></span></header>\n` +
    `<main class="report">\n` +
    (opts.back ? `<p><a href="${escapeHtml(opts.back.href)}">${escapeHtml(opts.back.text)}</a></p>\n` : '') +
    `<p class="muted">Drag across a chart to zoom in (the other charts of the file follow); double-click to zoom out. ` +
    `Times are in your time zone; the legend shows UTC as well. Long series are drawn as the minimum and maximum of each pixel column.</p>\n` +
    (sensors.length === 0 ? '<p>No readings were scored.</p>\n' : '') +
    `${nav}<div id="files"></div>\n</main>`;
  return htmlDocument({
    title: opts.title,
    body,
    scripts: [viewAssets().reportJs],
    data: { source: opts.source, backend: opts.backend, generated: opts.generated ?? Date.now(), sensors },
    connect: "'none'",
  });
}

/** A table of per-file results linking to each file's report (`aemon evaluate --report`). */
export interface IndexOptions {
  title: string;
  /** A line under the title, e.g. the pooled scores. */
  summary: string;
  columns: readonly string[];
  rows: ReadonlyArray<{ href: string | null; cells: readonly string[] }>;
  generated?: number;
}

/** The evaluation's index page: per-file score table, the file names link to their plots. */
export function indexHtml(opts: IndexOptions): string {
  const head = opts.columns.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join('');
  const rows = opts.rows
    .map((r) => {
      const [first = '', ...rest] = r.cells;
      const name = r.href ? `<a href="${escapeHtml(r.href)}">${escapeHtml(first)}</a>` : escapeHtml(first);
      return `<tr><th scope="row">${name}</th>${rest.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`;
    })
    .join('\n');
  const body =
    `<header><h1>${escapeHtml(opts.title)}</h1><span class="muted">generated ${escapeHtml(new Date(opts.generated ?? Date.now()).toISOString())}</span></header>\n` +
    `<main class="report">\n<p>${escapeHtml(opts.summary)}</p>\n` +
    `<table class="scores"><thead><tr>${head}</tr></thead>\n<tbody>\n${rows}\n</tbody></table>\n</main>`;
  return htmlDocument({ title: opts.title, body, scripts: [], connect: "'none'", charts: false });
}

/** Writes a report file, creating its folder. */
export async function writeReport(path: string, html: string): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, html);
  } catch (err) {
    throw new AemonError('AEMON_SINK_WRITE', `cannot write the report ${path}: ${(err as Error).message}`, {
      stage: 'sink',
      cause: err,
    });
  }
}

/** A file name for a sensor or benchmark key: `valve1/1.csv` → `valve1__1.csv.html`. */
export function reportFileName(key: string): string {
  return `${key.replace(/[\\/]+/g, '__').replace(/[^\w.-]+/g, '_')}.html`;
}
