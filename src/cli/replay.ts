import { readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { AemonError } from '../errors.js';
import { createEngine, type EngineHooks } from '../main.js';
import type { AnomalyEvent, PipelineOutput, Sink } from '../pipeline/contracts.js';
import type { RunStats } from '../pipeline/runner.js';
import type { Injection } from '../sources/simulator.js';
import { dlqFileSink } from '../sinks/dlq.js';
import { openMetricsSink } from '../sinks/openmetrics.js';
import { scoreFileSink } from '../sinks/scores.js';
import { fileSource, type FileFormat } from '../sources/file.js';
import { READING_FORMATS, type Config, type ReadingFormat } from '../config/schema.js';
import { kafkaRangeSource } from '../sources/kafka-range.js';
import { reportHtml, writeReport } from '../view/report.js';
import { SeriesCollector } from '../view/series.js';
import { createKafka } from './kafka.js';
import { commandConfig, commandLogger, defined, detectorSettings, parseDuration, parsePositiveInt } from './common.js';
import { matchEvents } from './demo.js';
import { registryWithModels } from './models.js';
import { TrainingProgress } from './progress.js';

interface ReplayFlags {
  config?: string;
  verbose?: boolean;
  format?: string;
  trainFirst?: string;
  model?: string;
  out?: string;
  openmetrics?: string;
  dlq?: string;
  kafkaTopic?: string;
  from?: string;
  to?: string;
  report?: string;
  labels?: string;
  retrainEvery?: string;
  summary?: string;
  latent?: boolean;
}

/** Reports each rejected record on stderr with its reason and origin, as it happens. */
function rejectionReporter(stream: NodeJS.WritableStream): Sink {
  return {
    name: 'rejections',
    async write(outputs: readonly PipelineOutput[]) {
      for (const o of outputs) {
        if (o.kind !== 'rejected') continue;
        const where = o.origin.file ? `${o.origin.file}:${o.origin.line ?? '?'}` : o.origin.source;
        stream.write(`rejected ${where}: ${o.reason}: ${o.detail}\n`);
      }
    },
    async close() {},
  };
}

const FILE_LAYOUTS = ['auto', 'nab', 'skab', 'csv', 'ndjson'] as const;

/** `--format`: a file layout, or a `reading.format` whose records are one per line (NDJSON, line protocol). */
export function replayFormat(name: string | undefined): { file: FileFormat; reading?: ReadingFormat } {
  if (name === undefined) return { file: 'auto' };
  if ((FILE_LAYOUTS as readonly string[]).includes(name)) return { file: name as FileFormat };
  if ((READING_FORMATS as readonly string[]).includes(name))
    return { file: name === 'influx' ? 'lines' : 'ndjson', reading: name as ReadingFormat };
  throw new AemonError(
    'AEMON_USAGE',
    `--format must be one of ${[...FILE_LAYOUTS, ...READING_FORMATS].join(', ')}; got ${JSON.stringify(name)}`,
    { stage: 'cli' },
  );
}

function parseTime(text: string | undefined, flag: string): number {
  const ms = text === undefined ? Number.NaN : Date.parse(text);
  if (!Number.isFinite(ms))
    throw new AemonError('AEMON_USAGE', `${flag} needs an ISO-8601 time, got ${JSON.stringify(text ?? '')}`, {
      stage: 'cli',
    });
  return ms;
}

/** What the flags ask for, checked: the input (a path or a Kafka range), the labels and the config. */
interface ReplayPlan {
  input: string | undefined;
  range: { topic: string; fromMs: number; toMs: number } | undefined;
  trainFirst: number | undefined;
  injections: Injection[] | undefined;
  format: { file: FileFormat; reading?: ReadingFormat };
  cfg: Readonly<Config>;
}

function replayPlan(input: string | undefined, flags: ReplayFlags): ReplayPlan {
  if ((input === undefined) === (flags.kafkaTopic === undefined)) {
    throw new AemonError('AEMON_USAGE', 'give a file or folder, or --kafka-topic with --from and --to (not both)', {
      stage: 'cli',
    });
  }
  if (input !== undefined) {
    try {
      statSync(input);
    } catch {
      throw new AemonError('AEMON_INPUT_READ', `no such file or folder: ${input}`, { stage: 'cli' });
    }
  }
  const range = flags.kafkaTopic
    ? { topic: flags.kafkaTopic, fromMs: parseTime(flags.from, '--from'), toMs: parseTime(flags.to, '--to') }
    : undefined;
  const trainFirst = flags.trainFirst === undefined ? undefined : parsePositiveInt(flags.trainFirst, '--train-first');
  const injections = flags.labels ? readInjections(flags.labels) : undefined;
  const format = replayFormat(flags.format);
  const cfg = commandConfig(flags.config, {
    ...(format.reading ? { reading: { format: format.reading } } : {}),
    training: defined({
      bootstrapReadings: trainFirst,
      intervalMs: flags.retrainEvery === undefined ? undefined : parseDuration(flags.retrainEvery),
    }),
    model: defined({ dir: flags.model }),
    ...(flags.latent ? { scoring: { latent: true } } : {}),
  });
  return { input, range, trainFirst, injections, format, cfg };
}

/** Training and retraining as they happen: progress and one line per retraining on stderr, and their tally. */
class TrainingTally {
  seconds = 0;
  firstPromotion: number | undefined;
  readonly runs = { promoted: 0, rejected: 0, failed: 0 };
  private readonly progress = new TrainingProgress(process.stderr);

  hooks(): EngineHooks {
    return {
      onEpoch: (_group, p) => this.progress.epoch('training', p),
      onFailed: () => this.progress.abandon(),
      onRetrained: (_group, result, seconds, version, why, at) => {
        this.runs[result]++;
        if (result === 'promoted') this.firstPromotion ??= at;
        process.stderr.write(
          `retrained at ${new Date(at).toISOString()} in ${seconds.toFixed(1)} s: ${result}${version ? ` ${version}` : ''} — ${why}\n`,
        );
      },
      onTrained: (bundle, seconds) => {
        this.seconds += seconds;
        this.progress.done(
          `model ${bundle.metadata.version} trained in ${seconds.toFixed(1)} s on ${bundle.metadata.trainingWindows} windows`,
        );
      },
    };
  }
}

/** With --labels: the anomalies opened and every written (scored, not training) reading's sensor, time and state, for the false-alarm rate. */
class LabelledRun implements Sink {
  readonly name = 'events';
  readonly opened: AnomalyEvent[] = [];
  readonly rows = { sensor: [] as string[], ts: [] as number[], anomaly: [] as boolean[] };
  // The readings' spacing, from the first sensor's first two readings.
  private stepSensor: string | undefined;
  private stepFrom = Number.NaN;
  stepMs = Number.NaN;

  async write(outputs: readonly PipelineOutput[]): Promise<void> {
    for (const o of outputs) {
      if (o.kind === 'event' && o.event.kind === 'opened') this.opened.push(o.event);
      if (o.kind === 'scored') {
        for (const r of o.rows) {
          // Training rows are not written, and they are not normal readings the model was asked about.
          if (r.training) continue;
          if (this.stepSensor === undefined) {
            this.stepSensor = r.reading.sensor;
            this.stepFrom = r.reading.ts;
          } else if (Number.isNaN(this.stepMs) && r.reading.sensor === this.stepSensor)
            this.stepMs = r.reading.ts - this.stepFrom;
          this.rows.sensor.push(r.reading.sensor);
          this.rows.ts.push(r.reading.ts);
          this.rows.anomaly.push(r.anomaly);
        }
      }
    }
  }

  async close(): Promise<void> {}
}

/** The closing line on stderr: counts, time, rejections by reason and where the outputs went. */
function replaySummary(
  stats: RunStats,
  seconds: number,
  trainingSeconds: number,
  backend: string,
  flags: ReplayFlags,
): string {
  const rejected = Object.entries(stats.rejected);
  const nRejected = rejected.reduce((a, [, n]) => a + (n ?? 0), 0);
  return (
    `replayed ${stats.records} records in ${seconds.toFixed(1)} s (training ${trainingSeconds.toFixed(1)} s, backend ${backend}): ` +
    `${stats.trainingRows} training rows, ${stats.readings - stats.trainingRows} rows written (${stats.scoredRows} scored), ` +
    `${stats.windowsScored} windows scored, ${stats.anomaliesOpened} anomalies opened, ` +
    `${nRejected} rejected${nRejected > 0 ? ` (${rejected.map(([r, n]) => `${r} ${n}`).join(', ')})` : ''}` +
    `${flags.out ? ` → ${flags.out}` : ''}${flags.openmetrics ? `, OpenMetrics → ${flags.openmetrics}` : ''}` +
    `${flags.report ? `, report → ${flags.report}` : ''}\n`
  );
}

async function replay(inputArg: string | undefined, flags: ReplayFlags): Promise<void> {
  const { input, range, trainFirst, injections, format, cfg } = replayPlan(inputArg, flags);
  const log = commandLogger(cfg, flags.verbose);
  const tally = new TrainingTally();
  const t0 = performance.now();
  const engine = await createEngine(cfg, {
    mode: 'replay',
    log,
    ...(cfg.model.dir ? { models: await registryWithModels(cfg.model.dir, cfg.model.keep, log) } : {}),
    hooks: tally.hooks(),
  });
  if (!cfg.model.dir) {
    process.stderr.write(
      `training on the first ${cfg.training.bootstrapReadings} readings of each sensor` +
        `${trainFirst === undefined ? ' (training.bootstrapReadings; set --train-first N)' : ''}; their rows are not written\n`,
    );
  }
  const sinks: Sink[] = [
    scoreFileSink(flags.out ?? '-', undefined, { latent: cfg.scoring.latent }),
    rejectionReporter(process.stderr),
  ];
  if (flags.dlq) sinks.push(dlqFileSink(flags.dlq));
  if (flags.openmetrics) sinks.push(openMetricsSink(flags.openmetrics));
  const labelled = injections ? new LabelledRun() : undefined;
  if (labelled) sinks.push(labelled);
  const collector = flags.report ? new SeriesCollector() : undefined;
  if (collector) sinks.push(collector);
  const records$ = range
    ? kafkaRangeSource({ kafka: createKafka(cfg.kafka, log, '-replay'), ...range, flow: engine.gate })
    : fileSource(input!, { format: format.file, flow: engine.gate });
  const stats = await engine.run(records$, sinks);
  if (flags.report && collector) {
    const source = range ? `${range.topic} ${flags.from} – ${flags.to}` : input!;
    // The models held at the end: each sensor's scatter is drawn in its last model's space.
    const spaces = new Map(engine.trainer.models().map((b) => [b.metadata.version, b.metadata.latent]));
    await writeReport(
      flags.report,
      reportHtml(collector.series(), {
        title: `aemon replay: ${source}`,
        source,
        backend: engine.backend,
        latentSpace: (version) => spaces.get(version),
      }),
    );
  }
  const seconds = (performance.now() - t0) / 1000;
  process.stderr.write(replaySummary(stats, seconds, tally.seconds, engine.backend, flags));
  let figures: LabelledFigures | undefined;
  if (injections && labelled) {
    // A window's event-time span: an alarm up to one span after a labelled anomaly ended is its detection.
    const spanMs = cfg.windowing.size * (Number.isFinite(labelled.stepMs) ? labelled.stepMs : 1000);
    figures = labelledFigures(injections, labelled.opened, labelled.rows, spanMs, tally.firstPromotion);
    process.stderr.write(falseAlarmSummary(figures, tally.runs, cfg.training.intervalMs > 0));
  }
  if (flags.summary) {
    const summary = {
      records: stats.records,
      trainingRows: stats.trainingRows,
      scoredRows: stats.scoredRows,
      windowsScored: stats.windowsScored,
      anomaliesOpened: stats.anomaliesOpened,
      rejected: stats.rejected,
      seconds,
      trainingSeconds: tally.seconds,
      backend: engine.backend,
      retraining: tally.runs,
      ...(figures === undefined ? {} : { labels: figures }),
      config: detectorSettings(cfg),
    };
    try {
      await writeFile(flags.summary, `${JSON.stringify(summary, null, 2)}\n`);
    } catch (err) {
      throw new AemonError('AEMON_SINK_WRITE', `cannot write ${flags.summary}: ${(err as Error).message}`, {
        stage: 'sink',
        cause: err,
      });
    }
  }
  if (stats.acked !== stats.decoded) {
    throw new AemonError('AEMON_INTERNAL', `${stats.decoded - stats.acked} readings were neither scored nor rejected`, {
      stage: 'cli',
    });
  }
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description(
      'score a historical file or folder (CSV: NAB, SKAB, generic; NDJSON; line protocol) at full speed, through the live pipeline',
    )
    .argument('[path]', 'a file or a folder (every .csv, .ndjson, .jsonl under it)')
    .option('-c, --config <file>', 'config file (YAML or JSON)')
    .option('--verbose', 'JSON logs on stderr at the configured level (default: warnings only)')
    .option(
      '--format <format>',
      'auto | nab | skab | csv | ndjson, or a reading.format read one record per line: json | telegraf-json | narrow (NDJSON) | influx (line protocol) (default auto: by extension and header)',
    )
    .option('--train-first <n>', 'train on the first N readings of each sensor; no rows are written for them')
    .option(
      '--model <dir>',
      'score with the current models of a registry or model folder (from `aemon train`) instead of training',
    )
    .option(
      '--out <file>',
      'scores file: .csv (timestamp,sensor,score,threshold,anomaly,error_<channel>…) or .ndjson; default stdout as CSV',
    )
    .option(
      '--kafka-topic <topic>',
      'replay a time range of this topic instead (kafka.* / AEMON_KAFKA_BROKERS); never commits',
    )
    .option('--from <time>', 'with --kafka-topic: start of the range (ISO-8601, by record timestamp)')
    .option('--to <time>', 'with --kafka-topic: end of the range, exclusive')
    .option('--dlq <file>', 'write rejected records (with reason and origin) as NDJSON')
    .option(
      '--labels <file>',
      'the injected anomalies `aemon simulate --labels` wrote: print detections and false alarms (before and after the first promoted retraining)',
    )
    .option(
      '--retrain-every <time>',
      'retrain every this much event time (e.g. 1h) on windows scored normal; a challenger replaces the model only if the gate finds it no worse',
    )
    .option(
      '--report <file>',
      'also write a self-contained HTML report: per sensor the signal, score and threshold, detections and labelled anomalies, with zoom',
    )
    .option(
      '--summary <file>',
      'write the closing figures as JSON (records, windows, anomalies opened, rejections, seconds, backend, config; with --labels detections, false events per sensor-hour and the false-alarm rates)',
    )
    .option(
      '--latent',
      "also write each window's place in the model's latent space (scoring.latent): CSV columns latent_x, latent_y, latent_distance; NDJSON latent {x, y, distance, code}",
    )
    .option(
      '--openmetrics <file>',
      'also write the scores with their event times as OpenMetrics, for `promtool tsdb create-blocks-from openmetrics` (backfill)',
    )
    .addHelpText(
      'after',
      '\nOne row per reading after the training rows. Rejected lines are reported on stderr with their reason,\n' +
        'counted in the summary, and the replay goes on (exit code 0). A model that cannot be trained ends the\n' +
        'replay with AEMON_TRAINING and exit code 1: no rows are written unscored.\n\nExample:\n' +
        '  aemon replay ../shared/datasets/skab/valve1/1.csv --train-first 400 --out s.csv\n' +
        '  aemon replay history/ --model models/ --out scores.csv --openmetrics scores.om\n' +
        '  aemon replay ../shared/datasets/skab/valve1/1.csv --train-first 400 --out s.csv --report report.html\n' +
        '  aemon replay --kafka-topic demo.sensors --from 2026-01-01T00:00:00Z --to 2026-01-01T01:00:00Z --model models/ --out range.csv\n',
    )
    .action(async (input: string | undefined, flags: ReplayFlags) => replay(input, flags));
}

/** The injected anomalies of `aemon simulate --labels` (sensor, start, end in epoch ms or ISO). */
function readInjections(file: string): Injection[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new AemonError('AEMON_INPUT_READ', `cannot read labels ${file}: ${(cause as Error).message}`, {
      stage: 'cli',
      cause,
    });
  }
  if (!Array.isArray(doc))
    throw new AemonError('AEMON_INPUT_READ', `labels ${file}: expected a JSON array of {sensor, start, end}`, {
      stage: 'cli',
    });
  return doc.map((d: { sensor?: unknown; start?: unknown; end?: unknown }, i) => {
    const start = typeof d.start === 'string' ? Date.parse(d.start) : Number(d.start);
    const end = typeof d.end === 'string' ? Date.parse(d.end) : Number(d.end);
    if (typeof d.sensor !== 'string' || !Number.isFinite(start) || !Number.isFinite(end)) {
      throw new AemonError('AEMON_INPUT_READ', `labels ${file}: entry ${i} needs sensor, start and end`, {
        stage: 'cli',
      });
    }
    return { ...(d as Injection), sensor: d.sensor, start, end };
  });
}

/** What `--labels` measures: detections, false events and the false-alarm rate, overall, around the first promotion and by quarter. */
export interface LabelledFigures {
  injected: number;
  detected: number;
  /** Anomalies opened outside every labelled one (and its span). */
  falseEvents: number;
  /** Event time scored, summed over the sensors (each from its first to its last written reading). */
  sensorHours: number;
  falseEventsPerSensorHour: number | null;
  /** Normal readings (outside every labelled anomaly and its span) and those of them in the anomaly state. */
  normalReadings: number;
  flaggedReadings: number;
  /** flagged ÷ normal, 0–1; null without normal readings. */
  falseAlarmRate: number | null;
  byQuarter: Array<number | null>;
  beforeFirstPromotion: number | null;
  afterFirstPromotion: number | null;
}

/**
 * Detections (an anomaly opened within a labelled one, or up to a window span after it) and the
 * false-alarm rate: the share of readings outside every labelled anomaly (and its span) that
 * were in the anomaly state, as SKAB's FAR counts it — before and after the first promoted
 * retraining, and by quarter of the replay. Undefined when no reading was written.
 */
export function labelledFigures(
  injections: readonly Injection[],
  opened: readonly AnomalyEvent[],
  rows: { sensor: readonly string[]; ts: readonly number[]; anomaly: readonly boolean[] },
  spanMs: number,
  firstPromotion: number | undefined,
): LabelledFigures | undefined {
  const n = rows.ts.length;
  if (n === 0) return undefined;
  let firstTs = Infinity;
  let lastTs = -Infinity;
  const span = new Map<string, { from: number; to: number }>();
  for (let k = 0; k < n; k++) {
    const t = rows.ts[k]!;
    if (t < firstTs) firstTs = t;
    if (t > lastTs) lastTs = t;
    const s = span.get(rows.sensor[k]!);
    if (s === undefined) span.set(rows.sensor[k]!, { from: t, to: t });
    else {
      if (t < s.from) s.from = t;
      if (t > s.to) s.to = t;
    }
  }
  const inRange = injections.filter((i) => i.end >= firstTs && i.start <= lastTs);
  const bySensor = new Map<string, Injection[]>();
  for (const i of inRange) bySensor.set(i.sensor, [...(bySensor.get(i.sensor) ?? []), i]);
  const { detected } = matchEvents(inRange, opened, spanMs);
  const falseEvents = opened.filter(
    (ev) => !inRange.some((inj) => inj.sensor === ev.sensor && ev.start >= inj.start && ev.start <= inj.end + spanMs),
  ).length;
  const q = (lastTs + 1 - firstTs) / 4;
  const normal = { before: 0, after: 0, quarter: [0, 0, 0, 0] };
  const flagged = { before: 0, after: 0, quarter: [0, 0, 0, 0] };
  for (let k = 0; k < n; k++) {
    const t = rows.ts[k]!;
    if ((bySensor.get(rows.sensor[k]!) ?? []).some((i) => t >= i.start && t <= i.end + spanMs)) continue;
    const side = firstPromotion !== undefined && t >= firstPromotion ? 'after' : 'before';
    const quarter = Math.min(3, Math.floor((t - firstTs) / q));
    normal[side]++;
    normal.quarter[quarter]!++;
    if (rows.anomaly[k]) {
      flagged[side]++;
      flagged.quarter[quarter]!++;
    }
  }
  const rate = (f: number, of: number): number | null => (of > 0 ? f / of : null);
  let sensorHours = 0;
  for (const { from, to } of span.values()) sensorHours += (to - from) / 3_600_000;
  return {
    injected: inRange.length,
    detected: detected.filter(Boolean).length,
    falseEvents,
    sensorHours,
    falseEventsPerSensorHour: sensorHours > 0 ? falseEvents / sensorHours : null,
    normalReadings: normal.before + normal.after,
    flaggedReadings: flagged.before + flagged.after,
    falseAlarmRate: rate(flagged.before + flagged.after, normal.before + normal.after),
    byQuarter: [0, 1, 2, 3].map((k) => rate(flagged.quarter[k]!, normal.quarter[k]!)),
    beforeFirstPromotion: firstPromotion === undefined ? null : rate(flagged.before, normal.before),
    afterFirstPromotion: firstPromotion === undefined ? null : rate(flagged.after, normal.after),
  };
}

/** {@link labelledFigures} as the lines `--labels` prints. */
export function falseAlarmSummary(
  fig: LabelledFigures | undefined,
  runs: { promoted: number; rejected: number; failed: number },
  retraining: boolean,
): string {
  if (fig === undefined) return 'labels: no readings were written\n';
  const pct = (r: number | null): string => (r === null ? '—' : `${(100 * r).toFixed(1)} %`);
  let line =
    `labels: ${fig.injected} injected anomalies, ${fig.detected} detected, ${fig.falseEvents} anomalies opened outside them` +
    (fig.falseEventsPerSensorHour === null
      ? ''
      : ` (${fig.falseEventsPerSensorHour.toFixed(2)} per sensor-hour of event time)`) +
    `; false-alarm rate (normal readings in the anomaly state) ${pct(fig.falseAlarmRate)}`;
  if (retraining) {
    line += `; retraining: ${runs.promoted} promoted, ${runs.rejected} rejected, ${runs.failed} failed`;
    line +=
      fig.beforeFirstPromotion === null && fig.afterFirstPromotion === null
        ? '; no model promoted'
        : `; before the first promotion ${pct(fig.beforeFirstPromotion)}, after it ${pct(fig.afterFirstPromotion)}`;
  }
  line += `\nfalse-alarm rate by quarter of the replay: ${fig.byQuarter.map(pct).join(', ')}`;
  return `${line}\n`;
}
