// The bench's tables, defined once from its rows (the rows `--json` writes): the console prints
// them padded (bench/report.ts), the performance page renders them as markdown
// (scripts/docs-performance.ts).
import type { DecodeRow } from './decode.js';
import type { KafkaRow } from './kafka.js';
import type { MemoryRow } from './memory.js';
import type { PacedRow } from './paced.js';
import type { PipelineRow, ScrapeRow } from './pipeline.js';
import type { RetrainRow } from './retrain.js';
import { convShape } from '../src/model/conv.js';
import { kerasRatio, kerasRowOf, networkMismatch, type ModelRow, type Row } from './rows.js';

export type Cell = string | number;

export interface BenchTable {
  title: string;
  /** What was measured, after the title. */
  detail: string;
  /** Lines that say how to read the table. */
  notes: string[];
  headers: string[];
  rows: Cell[][];
}

/** How counts are written: as they are on the console, grouped by thousands in the docs. */
export type Count = (n: number) => Cell;

const of = <T extends Row>(rows: readonly Row[], ...names: Array<T['name']>): T[] =>
  rows.filter((r): r is T => (names as string[]).includes(r.name));

/** The conv rows' network, from the one rule both aemon and the peer follow (src/model/conv.ts). */
function convDetail(): string {
  const { levels, kernelSize, filters, codeSteps } = convShape(64, 32);
  return `score-conv, train-conv: the conv autoencoder at window 64 and units 32, Conv1D ${filters.join(' → ')} (kernel ${kernelSize}, stride 2) → ${codeSteps} × ${filters.at(-1)} code → ${levels} × (upsampling, Conv1D) → Conv1D to the channels`;
}

function modelTable(rows: readonly Row[], count: Count): BenchTable {
  // M0 first, then the conv autoencoder, each in the order measured.
  const model = [
    ...of<ModelRow>(rows, 'score-m0', 'encode-m0', 'train-m0'),
    ...of<ModelRow>(rows, 'score-conv', 'encode-conv', 'train-conv'),
  ];
  const conv = model.some((r) => r.name.endsWith('-conv'));
  const mismatches = model.flatMap((r) => networkMismatch(r, kerasRowOf(model, r)) ?? []);
  const ratio = (r: ModelRow): string => {
    if (r.engine === 'keras') return '1.00';
    const keras = kerasRowOf(model, r);
    const x = kerasRatio(r, keras)?.toFixed(2) ?? '—';
    return networkMismatch(r, keras) === undefined ? x : `${x} ≠`;
  };
  const several = model.some((r) => r.samples);
  const notes: string[] = [];
  if (conv) notes.push(convDetail());
  if (model.some((r) => r.engine.endsWith('-fused-blocklstm')))
    notes.push(
      "tensorflow-fused scores with aemon's LSTM op, scripts/lstm-op.sh; tensorflow-fused-blocklstm with TensorFlow's BlockLSTM",
    );
  if (several)
    notes.push(
      'windows/s: the median of the rounds, each round listed; × Keras: the median of the round-by-round ratios',
    );
  for (const m of mismatches) notes.push(`≠ NOT THE SAME NETWORK AS KERAS: ${m}`);
  return {
    title: conv ? 'Model M0 and the conv autoencoder' : 'Model M0',
    detail: 'window 64, LSTM 32 → RepeatVector → LSTM 32 → Dense; scoring batch 256, training 2,048 windows, batch 64',
    notes,
    headers: ['row', 'engine', 'channels', 'windows/s', '× Keras', ...(several ? ['rounds'] : [])],
    rows: model.map((r) => [
      r.name,
      r.engine,
      r.channels,
      count(r.windowsPerSecond),
      ratio(r),
      ...(several ? [r.samples?.join(' / ') ?? '—'] : []),
    ]),
  };
}

function pipelineTable(rows: readonly Row[], count: Count): BenchTable {
  return {
    title: 'Pipeline, every reading offered at once',
    detail: 'decode → reorder → windows of 32, stride 8 → micro-batch → score → decide → metrics, 4 channels',
    notes: [
      'pipeline: scored by an M0-sized LSTM 32, readings as parsed fields; pipeline-nomodel: a no-op scorer, readings as JSON bytes with ISO-8601 ts',
    ],
    headers: [
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
    rows: of<PipelineRow>(rows, 'pipeline', 'pipeline-nomodel').map((r) => [
      r.name,
      count(r.sensors),
      count(r.readings),
      count(r.readingsPerSecond),
      count(r.readingsPerCpuSecond),
      r.p50Seconds,
      r.p99Seconds,
      (r.rssBytes / 2 ** 20).toFixed(1),
      r.engine,
    ]),
  };
}

function pacedTable(rows: readonly Row[], count: Count): BenchTable {
  return {
    title: 'Paced fleet',
    detail:
      "every sensor sends 1 reading/s (JSON bytes), window 32 stride 8, LSTM 32; latency from a reading's due time",
    notes: [
      'window: the reading that completed a window → its score written; reading: every reading, including the wait for the stride',
    ],
    headers: [
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
    rows: of<PacedRow>(rows, 'pipeline-paced').map((r) => [
      count(r.sensors),
      count(r.ratePerSecond),
      count(r.achievedPerSecond),
      r.seconds,
      r.p50WindowSeconds,
      r.p99WindowSeconds,
      r.p99ReadingSeconds,
      r.cpuShare,
      r.engine,
    ]),
  };
}

function decodeTable(rows: readonly Row[], count: Count): BenchTable {
  return {
    title: 'Decode alone',
    detail:
      'the same readings (1,000 sensors, 4 channels) in each reading.format, as message bytes, 1,000 per decodeMany call',
    notes: ['narrow: one message per channel'],
    headers: ['format', 'readings', 'messages/s', 'readings/s'],
    rows: of<DecodeRow>(rows, 'decode').map((r) => [
      r.format,
      count(r.readings),
      count(r.messagesPerSecond),
      count(r.readingsPerSecond),
    ]),
  };
}

function scrapeTable(rows: readonly Row[], count: Count): BenchTable {
  return {
    title: '`/metrics` scrape',
    detail: 'one scrape of the metrics of this many sensors',
    notes: [],
    headers: ['sensors', 'bytes', 'seconds'],
    rows: of<ScrapeRow>(rows, 'scrape').map((r) => [count(r.sensors), count(r.bytes), r.seconds]),
  };
}

function memoryTable(rows: readonly Row[], count: Count): BenchTable {
  const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
  return {
    title: 'Memory per sensor',
    detail:
      'what a running fleet keeps in memory once every sensor has sent this many readings (JSON, 4 channels, windows of 32 every 8, no-op scorer): reorder and window state, decisions, per-sensor metric series, the live view',
    notes: [
      "memory in use after the run less before it, each after a full GC: the JS heap plus typed arrays' buffers (most of it the live view's ring of 600 points per sensor)",
    ],
    headers: ['sensors', 'readings per sensor', 'MB in all', 'MB per 1,000 sensors', 'of which JS heap MB'],
    rows: of<MemoryRow>(rows, 'memory').map((r) => [
      count(r.sensors),
      count(r.readingsPerSensor),
      mb(r.bytes),
      mb(r.bytesPer1000Sensors),
      mb(r.heapBytes),
    ]),
  };
}

function retrainTable(rows: readonly Row[], count: Count): BenchTable {
  return {
    title: 'Scoring while a challenger trains',
    detail: 'the pipeline alone, then beside `aemon train-job` in a child process',
    notes: [],
    headers: ['sensors', 'training', 'readings/s', 'p50 reading→score s', 'p99 reading→score s', 'backend'],
    rows: of<RetrainRow>(rows, 'scoring-while-training').map((r) => [
      count(r.sensors),
      r.training,
      count(r.readingsPerSecond),
      r.p50Seconds,
      r.p99Seconds,
      r.engine,
    ]),
  };
}

const cpuMicros = (c: NonNullable<KafkaRow['cpuSecondsPerReading']>): string =>
  [c.noop, c.decodeOnly, c.aemon].map((s) => (s * 1e6).toFixed(1)).join(' / ');

function kafkaTable(rows: readonly Row[], count: Count): BenchTable {
  return {
    title: 'Kafka',
    detail:
      "a pre-filled topic read by a no-op kafkajs consumer, by one that only runs aemon's decoder, then by `aemon run` (window 32, stride 8, 4 channels, LSTM 32)",
    notes: [
      "aemon run readings/s: scored and written per second, from 20 % to 80 % of what it wrote after the bootstrap (each sensor's last readings wait in its window), with CPU over the same span; commit lag: from then until those readings' offsets were committed",
    ],
    headers: [
      'sensors',
      'readings',
      'partitions',
      'no-op consumer msg/s',
      'decode-only msg/s',
      'aemon run readings/s',
      'exactlyOnce',
      '× no-op',
      'CPU µs/reading: no-op / decode-only / aemon',
      'aemon CPU ÷ decode-only',
      'commit lag s',
      'backend',
    ],
    rows: of<KafkaRow>(rows, 'kafka').map((r) => [
      count(r.sensors),
      count(r.readings),
      r.partitions,
      count(r.noopMessagesPerSecond),
      count(r.decodeOnlyMessagesPerSecond),
      count(r.aemonReadingsPerSecond),
      r.exactlyOnce ? 'yes' : 'no',
      r.ratio.toFixed(2),
      r.cpuSecondsPerReading ? cpuMicros(r.cpuSecondsPerReading) : '—',
      r.cpuSecondsPerReading ? (r.cpuSecondsPerReading.aemon / r.cpuSecondsPerReading.decodeOnly).toFixed(2) : '—',
      r.commitLagSeconds ?? '—',
      r.engine,
    ]),
  };
}

/** What is said in place of the Kafka table when a run has no Kafka row. */
export const NO_KAFKA_ROW =
  'No Kafka row in this run (it needs `--kafka-brokers`, or `npm run bench` with the test broker).';

/** Every table of a run, in the bench's order; tables without rows are left out. */
export function benchTables(rows: readonly Row[], count: Count): BenchTable[] {
  return [modelTable, pipelineTable, pacedTable, memoryTable, decodeTable, scrapeTable, retrainTable, kafkaTable]
    .map((t) => t(rows, count))
    .filter((t) => t.rows.length > 0);
}
