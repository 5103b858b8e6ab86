import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AemonError } from '../errors.js';
import type { LatentSpace } from '../pipeline/latent.js';
import { escapeHtml, viewAssets } from './assets.js';
import { flaggedSpans, minMaxDownsample, sampleByClass } from './downsample.js';
import type { LatentState } from './latent.js';
import { htmlDocument } from './page.js';
import type { SensorSeries } from './series.js';

/** Pixel columns a report's charts are downsampled to (min and max each). */
export const REPORT_COLUMNS = 3000;

/** Windows a report's latent-space scatter draws at most per sensor. */
export const REPORT_LATENT_POINTS = 1000;

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
  /** The latent space of a model version (the models held at the end of the run), for the scatter's training sample. */
  latentSpace?: (modelVersion: string) => LatentSpace | undefined;
  /** Windows drawn per sensor in the latent-space scatter at most. */
  latentPoints?: number;
}

/**
 * A sensor's windows in the latent space of the last model that scored it, as the report's
 * scatter draws them: at most {@link REPORT_LATENT_POINTS}, every state kept (see
 * {@link sampleByClass}), in time order.
 */
export interface ReportLatent {
  modelVersion: string;
  /** Windows that model placed, drawn or not. */
  windows: number;
  /** Windows placed by earlier models (another space): not drawn. */
  earlier: number;
  ts: number[];
  x: number[];
  y: number[];
  distance: number[];
  state: LatentState[];
  /** 1 where the window ended inside a labelled anomaly; `null` when the report has no labels. */
  labelled: number[] | null;
  /** The model's training windows, projected; `null` when that model's space was not given. */
  sample: Array<[number, number]> | null;
  explained: [number, number] | null;
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
  /** With `scoring.latent`: the latent-space scatter's windows. */
  latent?: ReportLatent;
}

// Six significant digits are plenty for a chart and keep the embedded JSON small.
const compact = (v: number | null): number | null => (v === null ? null : Number(v.toPrecision(6)));

const STATE_CODE: Record<LatentState, number> = { normal: 0, anomalous: 1, suppressed: 2 };

/** The sensor's windows placed by its last model, sampled for the scatter; undefined without any. */
export function reportLatent(
  s: SensorSeries,
  labelled: ReadonlyArray<readonly [number, number]> | undefined,
  opts: Pick<ReportOptions, 'latentSpace' | 'latentPoints'> = {},
): ReportLatent | undefined {
  const l = s.latent;
  if (!l || l.at.length === 0) return undefined;
  const model = l.model[l.model.length - 1]!;
  const mine: number[] = [];
  for (let k = 0; k < l.at.length; k++) if (l.model[k] === model) mine.push(k);
  const hasLabels = labelled !== undefined || s.label.some((v) => v >= 0);
  const state = (k: number): LatentState => {
    const at = l.at[k]!;
    if (s.suppressed[at] === 1) return 'suppressed';
    return s.anomaly[at] === 1 ? 'anomalous' : 'normal';
  };
  const isLabelled = (k: number): number => {
    const at = l.at[k]!;
    if (labelled === undefined) return s.label[at] === 1 ? 1 : 0;
    const t = s.ts[at]!;
    return labelled.some(([a, b]) => t >= a && t <= b) ? 1 : 0;
  };
  const classes = Int8Array.from(mine, (k) => STATE_CODE[state(k)] + (hasLabels ? 3 * isLabelled(k) : 0));
  const drawn = sampleByClass(classes, opts.latentPoints ?? REPORT_LATENT_POINTS).map((j) => mine[j]!);
  const version = l.versions[model]!;
  const space = opts.latentSpace?.(version);
  const digits = (v: number, p: number): number => Number(v.toPrecision(p));
  return {
    modelVersion: version,
    windows: mine.length,
    earlier: l.at.length - mine.length,
    ts: drawn.map((k) => s.ts[l.at[k]!]!),
    x: drawn.map((k) => digits(l.x[k]!, 5)),
    y: drawn.map((k) => digits(l.y[k]!, 5)),
    distance: drawn.map((k) => digits(l.distance[k]!, 4)),
    state: drawn.map(state),
    labelled: hasLabels ? drawn.map(isLabelled) : null,
    sample: space ? space.sample : null,
    explained: space ? space.explained : null,
  };
}

/** A sensor's series downsampled for display, with its spans and detections. */
export function reportSensor(
  s: SensorSeries,
  columns: number,
  labelled?: ReadonlyArray<readonly [number, number]>,
  latentOpts: Pick<ReportOptions, 'latentSpace' | 'latentPoints'> = {},
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
  const latent = reportLatent(s, labelled, latentOpts);
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
    ...(latent ? { latent } : {}),
  };
}

/** A self-contained HTML report of a replay: data, styles and scripts inline, no network. */
export function reportHtml(series: readonly SensorSeries[], opts: ReportOptions): string {
  const columns = opts.columns ?? REPORT_COLUMNS;
  const sensors = series.map((s) => reportSensor(s, columns, opts.labelled?.get(s.id), opts));
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
