import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { AemonError } from '../errors.js';
import { createEngine } from '../main.js';
import type { PipelineOutput, Sink } from '../pipeline/contracts.js';
import { dlqFileSink } from '../sinks/dlq.js';
import { openMetricsSink } from '../sinks/openmetrics.js';
import { scoreFileSink } from '../sinks/scores.js';
import { fileSource } from '../sources/file.js';
import { kafkaRangeSource } from '../sources/kafka-range.js';
import { reportHtml, writeReport } from '../view/report.js';
import { SeriesCollector } from '../view/series.js';
import { createKafka } from './kafka.js';
import { commandConfig, commandLogger, defined, parsePositiveInt } from './common.js';
import { registryWithModels } from './models.js';
import { TrainingProgress } from './progress.js';

interface ReplayFlags {
  config?: string;
  verbose?: boolean;
  format?: 'auto' | 'nab' | 'skab' | 'ndjson' | 'csv';
  trainFirst?: string;
  model?: string;
  out?: string;
  openmetrics?: string;
  dlq?: string;
  kafkaTopic?: string;
  from?: string;
  to?: string;
  report?: string;
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

function parseTime(text: string | undefined, flag: string): number {
  const ms = text === undefined ? Number.NaN : Date.parse(text);
  if (!Number.isFinite(ms)) throw new AemonError('AEMON_USAGE', `${flag} needs an ISO-8601 time, got ${JSON.stringify(text ?? '')}`, { stage: 'cli' });
  return ms;
}

async function replay(input: string | undefined, flags: ReplayFlags): Promise<void> {
  if ((input === undefined) === (flags.kafkaTopic === undefined)) {
    throw new AemonError('AEMON_USAGE', 'give a file or folder, or --kafka-topic with --from and --to (not both)', { stage: 'cli' });
  }
  if (input !== undefined) {
    try {
      statSync(input);
    } catch {
      throw new AemonError('AEMON_INPUT_READ', `no such file or folder: ${input}`, { stage: 'cli' });
    }
  }
  const range = flags.kafkaTopic ? { topic: flags.kafkaTopic, fromMs: parseTime(flags.from, '--from'), toMs: parseTime(flags.to, '--to') } : undefined;
  const trainFirst = flags.trainFirst === undefined ? undefined : parsePositiveInt(flags.trainFirst, '--train-first');
  const cfg = commandConfig(flags.config, {
    training: defined({ bootstrapReadings: trainFirst }),
    model: defined({ dir: flags.model }),
  });
  const log = commandLogger(cfg, flags.verbose);
  const progress = new TrainingProgress(process.stderr);
  const t0 = performance.now();
  let trainingSeconds = 0;
  const engine = await createEngine(cfg, {
    mode: 'replay',
    log,
    ...(cfg.model.dir ? { models: await registryWithModels(cfg.model.dir, cfg.model.keep, log) } : {}),
    hooks: {
      onEpoch: (_group, p) => progress.epoch('training', p),
      onTrained: (bundle, seconds) => {
        trainingSeconds += seconds;
        progress.done(`model ${bundle.metadata.version} trained in ${seconds.toFixed(1)} s on ${bundle.metadata.trainingWindows} windows`);
      },
    },
  });
  if (!cfg.model.dir) {
    process.stderr.write(
      `training on the first ${cfg.training.bootstrapReadings} readings of each sensor` +
        `${trainFirst === undefined ? ' (training.bootstrapReadings; set --train-first N)' : ''}; their rows are not written\n`,
    );
  }
  const sinks: Sink[] = [scoreFileSink(flags.out ?? '-'), rejectionReporter(process.stderr)];
  if (flags.dlq) sinks.push(dlqFileSink(flags.dlq));
  if (flags.openmetrics) sinks.push(openMetricsSink(flags.openmetrics));
  const collector = flags.report ? new SeriesCollector() : undefined;
  if (collector) sinks.push(collector);
  const records$ = range
    ? kafkaRangeSource({ kafka: createKafka(cfg.kafka, log, '-replay'), ...range, flow: engine.gate })
    : fileSource(input!, { format: flags.format ?? 'auto', flow: engine.gate });
  const stats = await engine.run(records$, sinks);
  if (flags.report && collector) {
    const source = range ? `${range.topic} ${flags.from} – ${flags.to}` : input!;
    await writeReport(flags.report, reportHtml(collector.series(), { title: `aemon replay: ${source}`, source, backend: engine.backend }));
  }
  const seconds = (performance.now() - t0) / 1000;
  const rejected = Object.entries(stats.rejected);
  const nRejected = rejected.reduce((a, [, n]) => a + (n ?? 0), 0);
  process.stderr.write(
    `replayed ${stats.records} records in ${seconds.toFixed(1)} s (training ${trainingSeconds.toFixed(1)} s, backend ${engine.backend}): ` +
      `${stats.trainingRows} training rows, ${stats.readings - stats.trainingRows} rows written (${stats.scoredRows} scored), ` +
      `${stats.windowsScored} windows scored, ${stats.anomaliesOpened} anomalies opened, ` +
      `${nRejected} rejected${nRejected > 0 ? ` (${rejected.map(([r, n]) => `${r} ${n}`).join(', ')})` : ''}` +
      `${flags.out ? ` → ${flags.out}` : ''}${flags.openmetrics ? `, OpenMetrics → ${flags.openmetrics}` : ''}` +
      `${flags.report ? `, report → ${flags.report}` : ''}\n`,
  );
  if (stats.acked !== stats.records) {
    throw new AemonError('AEMON_INTERNAL', `${stats.records - stats.acked} records were neither scored nor rejected`, { stage: 'cli' });
  }
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('score a historical file or folder (CSV: NAB, SKAB, generic; NDJSON) at full speed, through the live pipeline')
    .argument('[path]', 'a file or a folder (every .csv, .ndjson, .jsonl under it)')
    .option('-c, --config <file>', 'config file (YAML or JSON)')
    .option('--verbose', 'JSON logs on stderr at the configured level (default: warnings only)')
    .option('--format <format>', 'auto | nab | skab | csv | ndjson (default auto: by extension and header)')
    .option('--train-first <n>', 'train on the first N readings of each sensor; no rows are written for them')
    .option('--model <dir>', 'score with the current models of a registry or model folder (from `aemon train`) instead of training')
    .option('--out <file>', 'scores file: .csv (timestamp,sensor,score,threshold,anomaly,error_<channel>…) or .ndjson; default stdout as CSV')
    .option('--kafka-topic <topic>', 'replay a time range of this topic instead (kafka.* / AEMON_KAFKA_BROKERS); never commits')
    .option('--from <time>', 'with --kafka-topic: start of the range (ISO-8601, by record timestamp)')
    .option('--to <time>', 'with --kafka-topic: end of the range, exclusive')
    .option('--dlq <file>', 'write rejected records (with reason and origin) as NDJSON')
    .option('--report <file>', 'also write a self-contained HTML report: per sensor the signal, score and threshold, detections and labelled anomalies, with zoom')
    .option('--openmetrics <file>', 'also write the scores with their event times as OpenMetrics, for `promtool tsdb create-blocks-from openmetrics` (backfill)')
    .addHelpText(
      'after',
      '\nOne row per reading after the training rows. Rejected lines are reported on stderr with their reason,\n' +
        'counted in the summary, and the replay goes on (exit code 0).\n\nExample:\n' +
        '  aemon replay ../shared/datasets/skab/valve1/1.csv --train-first 400 --out s.csv\n' +
        '  aemon replay history/ --model models/ --out scores.csv --openmetrics scores.om\n' +
        '  aemon replay ../shared/datasets/skab/valve1/1.csv --train-first 400 --out s.csv --report report.html\n' +
        '  aemon replay --kafka-topic demo.sensors --from 2026-01-01T00:00:00Z --to 2026-01-01T01:00:00Z --model models/ --out range.csv\n',
    )
    .action(async (input: string | undefined, flags: ReplayFlags) => replay(input, flags));
}
