// Renders the tables of docs/performance.md from the committed `npm run bench -- --json` outputs in
// docs/data/bench-*.json (`npm run docs:performance`); test/docs.test.ts fails when they differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { kerasRatio } from '../bench/rows.js';
import type { ModelRow } from '../bench/rows.js';
import type { PipelineRow, ScrapeRow } from '../bench/pipeline.js';
import type { PacedRow } from '../bench/paced.js';
import type { RetrainRow } from '../bench/retrain.js';
import type { KafkaRow } from '../bench/kafka.js';
import { DOCS, dataFiles, grouped, mdTable, provenance, readData, replaceBlock, runInfo } from './docs/blocks.js';

type Row = ModelRow | PipelineRow | PacedRow | ScrapeRow | RetrainRow | KafkaRow;

const of = <T extends Row>(rows: Row[], ...names: Array<T['name']>): T[] =>
  rows.filter((r): r is T => (names as string[]).includes(r.name));

export function renderBench(file: string, rows: Row[]): string {
  const parts: string[] = [provenance(runInfo(file))];
  const model = of<ModelRow>(rows, 'score-m0', 'train-m0');
  if (model.length > 0) {
    const keras = (r: ModelRow): ModelRow | undefined =>
      model.find((k) => k.engine === 'keras' && k.name === r.name && k.channels === r.channels);
    const ratio = (r: ModelRow): string =>
      r.engine === 'keras' ? '1.00' : (kerasRatio(r, keras(r))?.toFixed(2) ?? '—');
    parts.push(
      '\n**Model M0** (window 64, LSTM 32 → RepeatVector → LSTM 32 → Dense; scoring batch 256, training 2,048 windows, batch 64)\n\n' +
        mdTable(
          ['row', 'engine', 'channels', 'windows/s', '× Keras'],
          model.map((r) => [r.name, r.engine, r.channels, grouped(r.windowsPerSecond), ratio(r)]),
        ),
    );
  }
  const pipe = of<PipelineRow>(rows, 'pipeline', 'pipeline-nomodel');
  parts.push(
    '\n**Pipeline**, every reading offered at once (decode → reorder → windows of 32, stride 8 → micro-batch → score → decide → metrics, 4 channels; `pipeline-nomodel`: a no-op scorer)\n\n' +
      mdTable(
        [
          'row',
          'sensors',
          'readings',
          'readings/s',
          'readings/CPU-s',
          'p50 reading→score s',
          'p99 reading→score s',
          'RSS growth MB',
          'backend',
        ],
        pipe.map((r) => [
          r.name,
          grouped(r.sensors),
          grouped(r.readings),
          grouped(r.readingsPerSecond),
          grouped(r.readingsPerCpuSecond),
          r.p50Seconds,
          r.p99Seconds,
          (r.rssBytes / 2 ** 20).toFixed(1),
          r.engine,
        ]),
      ),
  );
  const paced = of<PacedRow>(rows, 'pipeline-paced');
  if (paced.length > 0) {
    parts.push(
      "\n**Paced fleet**: every sensor sends 1 reading/s; latency from a reading's due time (window: the reading that completed a window → its score written; reading: every reading, including the wait for the stride)\n\n" +
        mdTable(
          [
            'sensors',
            'readings/s offered',
            'readings/s taken',
            'seconds',
            'p50 window s',
            'p99 window s',
            'p99 reading s',
            'CPU cores',
            'backend',
          ],
          paced.map((r) => [
            grouped(r.sensors),
            grouped(r.ratePerSecond),
            grouped(r.achievedPerSecond),
            r.seconds,
            r.p50WindowSeconds,
            r.p99WindowSeconds,
            r.p99ReadingSeconds,
            r.cpuShare,
            r.engine,
          ]),
        ),
    );
  }
  const scrape = of<ScrapeRow>(rows, 'scrape');
  if (scrape.length > 0) {
    parts.push(
      '\n**`/metrics` scrape**\n\n' +
        mdTable(
          ['sensors', 'bytes', 'seconds'],
          scrape.map((r) => [grouped(r.sensors), grouped(r.bytes), r.seconds]),
        ),
    );
  }
  const retrain = of<RetrainRow>(rows, 'scoring-while-training');
  if (retrain.length > 0) {
    parts.push(
      '\n**Scoring while a challenger trains** in a child process\n\n' +
        mdTable(
          ['sensors', 'training', 'readings/s', 'p50 reading→score s', 'p99 reading→score s', 'backend'],
          retrain.map((r) => [
            grouped(r.sensors),
            r.training,
            grouped(r.readingsPerSecond),
            r.p50Seconds,
            r.p99Seconds,
            r.engine,
          ]),
        ),
    );
  }
  const kafka = of<KafkaRow>(rows, 'kafka');
  if (kafka.length > 0) {
    parts.push(
      "\n**Kafka**: a pre-filled topic read by a no-op kafkajs consumer, by one that only runs aemon's decoder, then by `aemon run`\n\n" +
        mdTable(
          [
            'sensors',
            'readings',
            'partitions',
            'no-op msg/s',
            'decode-only msg/s',
            'aemon run readings/s',
            'exactlyOnce',
            '× no-op',
            'backend',
          ],
          kafka.map((r) => [
            grouped(r.sensors),
            grouped(r.readings),
            r.partitions,
            grouped(r.noopMessagesPerSecond),
            grouped(r.decodeOnlyMessagesPerSecond),
            grouped(r.aemonReadingsPerSecond),
            r.exactlyOnce ? 'yes' : 'no',
            r.ratio.toFixed(2),
            r.engine,
          ]),
        ),
    );
  } else {
    parts.push('\nNo Kafka row in this run (it needs `--kafka-brokers`, or `npm run bench` with the test broker).\n');
  }
  return parts.join('');
}

/** Block name → rendered content, one block per docs/data/bench-*.json. */
export function performanceBlocks(): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const file of dataFiles('bench-'))
    blocks.set(file.replace(/\.json$/, ''), renderBench(file, readData<{ rows: Row[] }>(file).rows));
  return blocks;
}

export const PERFORMANCE_PAGE = new URL('performance.md', DOCS);

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let page = readFileSync(PERFORMANCE_PAGE, 'utf8');
  for (const [name, content] of performanceBlocks()) page = replaceBlock(page, name, content);
  writeFileSync(PERFORMANCE_PAGE, page);
}
