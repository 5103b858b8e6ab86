import { statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import { AemonError } from '../errors.js';
import { evaluateNab } from '../evaluation/nabRun.js';
import { nabJson, nabText } from '../evaluation/nabReport.js';
import type { EvalProgress, ReplayedRow, ReplayFile } from '../evaluation/replay.js';
import { evaluateSkab } from '../evaluation/skabRun.js';
import { skabJson, skabText } from '../evaluation/skabReport.js';
import { loadNabCorpus } from '../evaluation/nabCorpus.js';
import type { NabReport } from '../evaluation/nabRun.js';
import type { SkabReport } from '../evaluation/skabRun.js';
import { createEngine } from '../main.js';
import { indexHtml, reportFileName, reportHtml, writeReport } from '../view/report.js';
import { SeriesCollector } from '../view/series.js';
import type { PipelineOutput, Sink } from '../pipeline/contracts.js';
import { fileSource } from '../sources/file.js';
import { commandConfig, commandLogger, detectorSettings } from './common.js';
import { TrainingProgress } from './progress.js';

type Benchmark = 'nab' | 'skab';

interface EvaluateFlags {
  data: string;
  out?: string;
  json?: string;
  config?: string;
  verbose?: boolean;
  report?: string;
}

/** Where `--report` writes: one page per file, and the benchmark's labelled windows (epoch ms) where they are not in the file. */
interface ReportTarget {
  dir: string;
  labelled: Map<string, Array<[number, number]>>;
  /** File key → its page, for the index. */
  pages: Map<string, string>;
}

/** Collects, per line of the file, what the benchmarks score; writes nothing. */
function collectingSink(rows: ReplayedRow[]): Sink {
  return {
    name: 'evaluation',
    async write(outputs: readonly PipelineOutput[]) {
      for (const o of outputs) {
        if (o.kind !== 'scored') continue;
        for (const r of o.rows) {
          rows.push({
            line: r.reading.origin.line ?? -1,
            training: r.training,
            score: r.score,
            rawScore: r.rawScore,
            anomaly: r.anomaly,
          });
        }
      }
    },
    async close() {},
  };
}

/**
 * One file through a fresh engine in replay mode, exactly as `aemon replay <file> --train-first N`
 * would run it: its own model, trained on its own first readings, then scored causally.
 */
function replayer(
  benchmark: Benchmark,
  flags: EvaluateFlags,
  bars: { progress: TrainingProgress; label: string } | undefined,
  report: ReportTarget | undefined,
): ReplayFile {
  return async (path, settings, key) => {
    const cfg = commandConfig(flags.config, settings as Record<string, unknown>);
    let trainingSeconds = 0;
    const engine = await createEngine(cfg, {
      mode: 'replay',
      log: commandLogger(cfg, flags.verbose),
      hooks: {
        ...(bars
          ? {
              onEpoch: (_group: string, p: Parameters<TrainingProgress['epoch']>[1]) =>
                bars.progress.epoch(bars.label, p),
            }
          : {}),
        onTrained: (_bundle, seconds) => (trainingSeconds += seconds),
        onFailed: () => bars?.progress.abandon(),
      },
    });
    const rows: ReplayedRow[] = [];
    const collector = report ? new SeriesCollector() : undefined;
    const sinks: Sink[] = [collectingSink(rows), ...(collector ? [collector] : [])];
    const stats = await engine
      .run(fileSource(path, { format: benchmark, flow: engine.gate }), sinks)
      .catch((err: unknown) => {
        // Which file could not be trained on, in the one line the command prints.
        if (err instanceof AemonError && err.code === 'AEMON_TRAINING') {
          throw new AemonError(err.code, `${key}: ${err.message}`, { stage: err.stage, cause: err });
        }
        throw err;
      });
    if (report && collector) {
      const series = collector.series();
      const windows = report.labelled.get(key);
      const page = reportFileName(key);
      const html = reportHtml(series, {
        title: `aemon evaluate ${benchmark}: ${key}`,
        source: key,
        backend: engine.backend,
        ...(windows ? { labelled: new Map(series.map((s) => [s.id, windows])) } : {}),
        back: { href: 'index.html', text: '← all files' },
      });
      await writeReport(join(report.dir, page), html);
      report.pages.set(key, page);
    }
    for (const bundle of engine.trainer.models()) bundle.model.dispose();
    if (stats.acked !== stats.records) {
      throw new AemonError(
        'AEMON_INTERNAL',
        `${path}: ${stats.records - stats.acked} records were neither scored nor rejected`,
        { stage: 'cli' },
      );
    }
    const rejected = Object.fromEntries(Object.entries(stats.rejected).map(([k, v]) => [k, v ?? 0]));
    return { rows, rejected, trainingSeconds, backend: engine.backend };
  };
}

/** A line per file on stderr; on a terminal the file's training bar runs in place first. */
function progressLines(stream: NodeJS.WriteStream, bars: { label: string } | undefined): EvalProgress {
  const clear = stream.isTTY ? '\r\x1b[K' : '';
  return {
    fileStart: (i, n, name) => {
      if (bars) bars.label = `[${i}/${n}] ${name}`;
      if (stream.isTTY) stream.write(`${clear}[${i}/${n}] ${name} …`);
    },
    fileDone: (i, n, name, summary) => stream.write(`${clear}[${i}/${n}] ${name}: ${summary}\n`),
  };
}

/**
 * The settings that shape the detector, recorded with the results (the ablation needs them).
 * The protocol sets `training.bootstrapReadings` and `windowing.maxGapMs` per file (see perFile).
 */
function detectorConfig(cfg: Readonly<Config>): Record<string, unknown> {
  const settings = detectorSettings(cfg);
  const model: Record<string, unknown> = { ...settings.model };
  delete model.dir;
  const training: Record<string, unknown> = { ...settings.training };
  delete training.bootstrapReadings;
  return { ...settings, model, training };
}

async function writeJson(path: string, value: unknown): Promise<void> {
  try {
    await writeFile(path, JSON.stringify(value, null, 2) + '\n');
  } catch (err) {
    throw new AemonError('AEMON_SINK_WRITE', `cannot write ${path}: ${(err as Error).message}`, {
      stage: 'sink',
      cause: err,
    });
  }
}

async function evaluate(benchmark: string, flags: EvaluateFlags): Promise<void> {
  if (benchmark !== 'nab' && benchmark !== 'skab') {
    throw new AemonError('AEMON_USAGE', `unknown benchmark "${benchmark}" (nab or skab)`, { stage: 'cli' });
  }
  try {
    statSync(flags.data);
  } catch {
    throw new AemonError('AEMON_INPUT_READ', `no such folder: ${flags.data}`, { stage: 'cli' });
  }
  if (benchmark === 'skab' && flags.out !== undefined) {
    throw new AemonError('AEMON_USAGE', '--out writes NAB results files; SKAB has no results layout (use --json)', {
      stage: 'cli',
    });
  }
  // Loaded once up front: a bad config fails before the first file, and is recorded with the results.
  const cfg = commandConfig(flags.config, {});
  if (cfg.model.dir)
    process.stderr.write(`model.dir (${cfg.model.dir}) is not used: the protocol trains a fresh model per file\n`);
  const bars = process.stderr.isTTY ? { progress: new TrainingProgress(process.stderr), label: '' } : undefined;
  const target = flags.report === undefined ? undefined : await reportTarget(benchmark, flags.report, flags.data);
  const common = {
    maxGapMs: cfg.windowing.maxGapMs,
    replay: replayer(benchmark, flags, bars, target),
    progress: progressLines(process.stderr, bars),
  };
  if (benchmark === 'skab') {
    const report = await evaluateSkab({ dir: flags.data, ...common });
    process.stdout.write(skabText(report));
    if (flags.json) await writeJson(flags.json, skabJson(report, detectorConfig(cfg)));
    if (target) await writeIndex(target, skabIndex(report, target));
  } else {
    const report = await evaluateNab({
      dir: flags.data,
      ...common,
      ...(flags.out === undefined ? {} : { out: flags.out }),
    });
    process.stdout.write(nabText(report));
    if (flags.out)
      process.stderr.write(`NAB results files (timestamp,value,anomaly_score,label) under ${flags.out}/aemon/\n`);
    if (flags.json) await writeJson(flags.json, nabJson(report, detectorConfig(cfg)));
    if (target) await writeIndex(target, nabIndex(report, target));
  }
}

/** SKAB labels are a column of each file (the readings carry them); NAB's are in combined_windows.json. */
async function reportTarget(benchmark: Benchmark, dir: string, data: string): Promise<ReportTarget> {
  const labelled = new Map<string, Array<[number, number]>>();
  if (benchmark === 'nab') {
    for (const f of (await loadNabCorpus(data)).files) {
      labelled.set(
        f.key,
        f.windows.map(([a, b]): [number, number] => [f.records[a]!.ts, f.records[b]!.ts]),
      );
    }
  }
  return { dir, labelled, pages: new Map() };
}

async function writeIndex(target: ReportTarget, html: string): Promise<void> {
  const path = join(target.dir, 'index.html');
  await writeReport(path, html);
  process.stderr.write(`report: ${path} (${target.pages.size} file pages)\n`);
}

function skabIndex(report: SkabReport, target: ReportTarget): string {
  const { total } = report;
  return indexHtml({
    title: 'aemon evaluate skab',
    summary:
      `Pooled over ${total.testRows} test rows (${total.anomalousRows} anomalous), predicted = aemon's anomaly state: ` +
      `F1 ${total.f1.toFixed(3)}, FAR ${total.far.toFixed(1)} %, MAR ${total.mar.toFixed(1)} %. Backend ${report.backends.join(', ')}.`,
    columns: ['file', 'test rows', 'anomalous', 'TP', 'FP', 'FN', 'TN', 'F1', 'FAR %', 'MAR %'],
    rows: report.files.map((f) => ({
      href: target.pages.get(f.key) ?? null,
      cells: [
        f.key,
        f.testRows,
        f.anomalousRows,
        f.tp,
        f.fp,
        f.fn,
        f.tn,
        f.f1.toFixed(3),
        f.far.toFixed(1),
        f.mar.toFixed(1),
      ].map(String),
    })),
  });
}

function nabIndex(report: NabReport, target: ReportTarget): string {
  const p = report.profiles;
  return indexHtml({
    title: 'aemon evaluate nab',
    summary:
      `NAB scores: standard ${p.standard.score.toFixed(1)}, reward low FP ${p.reward_low_FP_rate.score.toFixed(1)}, ` +
      `reward low FN ${p.reward_low_FN_rate.score.toFixed(1)}. Backend ${report.backends.join(', ')}.`,
    columns: [
      'file',
      'records',
      'probationary',
      'windows',
      'scored',
      'anomalous',
      'standard (raw)',
      'low FP (raw)',
      'low FN (raw)',
    ],
    rows: report.files.map((f) => ({
      href: target.pages.get(f.key) ?? null,
      cells: [
        f.key,
        f.records,
        f.probation,
        f.windows,
        f.scored,
        f.anomalous,
        f.profiles.standard.score.toFixed(2),
        f.profiles.reward_low_FP_rate.score.toFixed(2),
        f.profiles.reward_low_FN_rate.score.toFixed(2),
      ].map(String),
    })),
  });
}

export function registerEvaluate(program: Command): void {
  program
    .command('evaluate')
    .description(
      "run the NAB or SKAB protocol on a data folder through the replay pipeline and print the benchmark's own scores",
    )
    .argument('<benchmark>', 'nab | skab')
    .requiredOption('--data <dir>', "a folder in the benchmark's layout (CSV files are found recursively)")
    .option('--out <dir>', "nab: write NAB's results layout, <dir>/aemon/<category>/aemon_<file>.csv")
    .option('--json <file>', 'write the scores as one JSON object')
    .option(
      '--report <dir>',
      'write self-contained HTML: <dir>/index.html (per-file scores) linking to one page per file (signal, score, threshold, detections, labelled windows)',
    )
    .option('-c, --config <file>', 'config file (YAML or JSON): model.*, windowing.*, detection.* shape the detector')
    .option('--verbose', 'JSON logs on stderr at the configured level (default: warnings only)')
    .addHelpText(
      'after',
      '\nEvery file is replayed through a fresh engine (its own model), causally, as `aemon replay` runs it:\n' +
        '  nab:  trains on the probationary period (first 15 %, at most 750 records); anomaly score = s / (1 + s)\n' +
        "        of aemon's score s; NAB scoring with its three profiles, one threshold per profile over the corpus.\n" +
        "  skab: trains on the first 400 rows; the rest are scored as anomalous when aemon's anomaly state is on;\n" +
        '        F1, FAR %, MAR % pooled over all files; files without an anomaly column are skipped.\n' +
        '\nExamples:\n' +
        '  aemon evaluate skab --data ../shared/datasets/skab --json skab.json --report skab-report/\n' +
        '  aemon evaluate nab --data ../shared/datasets/nab --out results --json nab.json\n',
    )
    .action(async (benchmark: string, flags: EvaluateFlags) => evaluate(benchmark, flags));
}
