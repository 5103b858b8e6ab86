import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { selectBackend } from '../model/backend.js';
import { benchModel } from '../model/bench.js';
import { lstmOpAvailable, setLstmOpOff } from '../model/fused.js';
import type { KernelPreference } from '../model/fusedModel.js';
import { quantile } from '../pipeline/calibration.js';
import { parsePositiveInt } from './common.js';
import { benchKafka, type KafkaRow } from './bench-kafka.js';
import { benchPaced, type PacedRow } from './bench-paced.js';
import { benchPipeline, benchScrape, type PipelineRow, type ScrapeRow } from './bench-pipeline.js';
import { benchWhileTraining, type RetrainRow } from './bench-retrain.js';

export interface ModelRow {
  name: 'score-m0' | 'train-m0';
  engine: string;
  channels: number;
  windowsPerSecond: number;
  note?: string;
  /** windows/s of each round, in round order, when the row was measured in more than one. */
  samples?: number[];
}

type Row = ModelRow | PipelineRow | PacedRow | ScrapeRow | KafkaRow | RetrainRow;

const KERAS_PEER = fileURLToPath(new URL('../../../shared/bench/keras_m0.py', import.meta.url));

/** A Python that can import tensorflow: the project's .venv first, then python3. */
function findPython(): string | undefined {
  for (const py of ['.venv/bin/python', 'python3']) {
    if (py.startsWith('.') && !existsSync(py)) continue;
    const r = spawnSync(py, ['-c', 'import tensorflow'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return py;
  }
  return undefined;
}

function kerasRows(channels: number, log: (s: string) => void): ModelRow[] {
  const py = findPython();
  if (!py || !existsSync(KERAS_PEER)) {
    log(`keras peer: not run (${!existsSync(KERAS_PEER) ? `${KERAS_PEER} missing` : 'no Python with tensorflow; python3 -m venv .venv && .venv/bin/pip install tensorflow-cpu'})\n`);
    return [];
  }
  const r = spawnSync(py, [KERAS_PEER, '--channels', String(channels), '--threads', '1'], { encoding: 'utf8', timeout: 600_000 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    const j = JSON.parse(line) as { engine: string; infer_windows_per_s: number; train_windows_per_s: number };
    return [
      { name: 'score-m0', engine: 'keras', channels, windowsPerSecond: j.infer_windows_per_s, note: j.engine },
      { name: 'train-m0', engine: 'keras', channels, windowsPerSecond: j.train_windows_per_s, note: j.engine },
    ];
  } catch {
    log(`keras peer failed: ${r.stderr.slice(-500)}\n`);
    return [];
  }
}

/**
 * M0 on the backend this process runs on (AEMON_MODEL_BACKEND picks it): every kernel it has, or
 * with `onlyDefault` the kernel `auto` picks (the one compared with Keras round after round).
 */
async function modelRows(quick: boolean, onlyDefault: boolean, log: (s: string) => void): Promise<ModelRow[]> {
  const cfg = loadConfig({ env: process.env });
  const { tf, backend } = await selectBackend(cfg.model.backend);
  setLstmOpOff(!cfg.model.lstmOp);
  // simd runs on any backend; on tensorflow fused is the one auto picks, so simd is left out there.
  const all: KernelPreference[] = backend === 'tensorflow' ? ['fused', 'layers'] : ['simd', 'layers'];
  const kernels = onlyDefault ? all.slice(0, 1) : all;
  const rows: ModelRow[] = [];
  for (const kernel of kernels) {
    for (const channels of [1, 8]) {
      log(`model M0: ${backend}/${kernel}, ${channels} channel(s)…\n`);
      const r = await benchModel({ tf, backend, kernel, channels, ...(quick ? { repeats: 3, trainWindows: 512 } : {}) });
      const engine = `${backend}-${r.kernel}`;
      rows.push({ name: 'score-m0', engine, channels, windowsPerSecond: Math.round(r.scoreWindowsPerSecond) });
      rows.push({ name: 'train-m0', engine, channels, windowsPerSecond: Math.round(r.trainWindowsPerSecond) });
      if (r.kernel === 'fused' && !onlyDefault && lstmOpAvailable()) {
        // The fused kernel scores with aemon's LSTM op when it is built; BlockLSTM alone, for comparison.
        log(`model M0: ${backend}/fused with BlockLSTM instead of aemon's LSTM op, ${channels} channel(s)…\n`);
        setLstmOpOff(true);
        try {
          const b = await benchModel({ tf, backend, kernel, channels, trainEpochs: 0, ...(quick ? { repeats: 3 } : {}) });
          rows.push({ name: 'score-m0', engine: `${backend}-fused-blocklstm`, channels, windowsPerSecond: Math.round(b.scoreWindowsPerSecond) });
        } finally {
          setLstmOpOff(!cfg.model.lstmOp);
        }
      }
    }
  }
  return rows;
}

/**
 * One row per (row, engine, channels) from rows measured in several rounds: windows/s is the
 * median of the rounds, `samples` keeps each round's figure in order.
 */
export function mergeRounds(rounds: ReadonlyArray<readonly ModelRow[]>): ModelRow[] {
  const merged = new Map<string, ModelRow & { samples: number[] }>();
  for (const round of rounds) {
    for (const r of round) {
      const key = `${r.name}|${r.engine}|${r.channels}`;
      const m = merged.get(key);
      if (m) m.samples.push(r.windowsPerSecond);
      else merged.set(key, { ...r, samples: [r.windowsPerSecond] });
    }
  }
  return [...merged.values()].map(({ samples, ...r }) => (samples.length > 1 ? { ...r, windowsPerSecond: Math.round(quantile(samples, 0.5)), samples } : r));
}

/**
 * A row's ratio to the Keras row of the same name and channels: with the same number of rounds
 * on both sides, the median of the round-by-round ratios (each pair measured minutes apart, so
 * the machine's drift cancels); otherwise the ratio of the two windows/s.
 */
export function kerasRatio(row: ModelRow, keras: ModelRow | undefined): number | undefined {
  if (keras === undefined) return undefined;
  const a = row.samples;
  const b = keras.samples;
  if (a && b && a.length === b.length) return quantile(a.map((x, i) => x / b[i]!), 0.5);
  return row.windowsPerSecond / keras.windowsPerSecond;
}

function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n') + '\n';
}

interface BenchFlags {
  json?: string;
  quick?: boolean;
  kafkaBrokers?: string;
  rounds?: string;
}

async function bench(flags: BenchFlags): Promise<void> {
  const out = process.stdout;
  const log = (s: string): void => void process.stderr.write(s);
  const rounds = flags.rounds !== undefined ? parsePositiveInt(flags.rounds, '--rounds') : flags.quick ? 1 : 3;
  const rows: Row[] = [];
  const fleets = flags.quick ? [100, 1000] : [100, 1000, 10_000];
  for (const sensors of fleets) {
    log(`pipeline: ${sensors} sensors…\n`);
    rows.push(await benchPipeline(sensors, flags.quick ? 64 : 96));
  }
  for (const sensors of flags.quick ? [1000] : [1000, 10_000]) {
    log(`pipeline without the model: ${sensors} sensors…\n`);
    rows.push(await benchPipeline(sensors, sensors >= 10_000 ? 96 : 256, 'none'));
  }
  const paced = flags.quick ? 10 : 30;
  log(`pipeline paced: 10000 sensors at 1 reading/s each for ${paced} s (after a warm-up)…\n`);
  rows.push(await benchPaced(10_000, paced));
  rows.push(await benchScrape(1000));
  rows.push(...(await benchWhileTraining(1000, flags.quick ? 48 : 64, log)));
  if (flags.kafkaBrokers) {
    const brokers = flags.kafkaBrokers.split(',').map((b) => b.trim()).filter((b) => b !== '');
    rows.push(await benchKafka({ brokers, sensors: 500, readings: flags.quick ? 100 : 400, log }));
  } else {
    log('kafka: not run (pass --kafka-brokers HOST:PORT, or use `npm run bench`, which starts the test broker when .kafka/libs exists)\n');
  }
  // Model rounds, interleaved with the Keras peer: one run of each on this VM varies by ±20 %.
  const measured: ModelRow[][] = [];
  for (let round = 0; round < rounds; round++) {
    if (rounds > 1) log(`model rounds: ${round + 1} of ${rounds}\n`);
    const aemon = await modelRows(flags.quick ?? false, round > 0, log);
    const keras = [1, 8].flatMap((channels) => kerasRows(channels, log));
    measured.push([...aemon, ...keras]);
  }
  rows.push(...mergeRounds(measured));

  const model = rows.filter((r): r is ModelRow => r.name === 'score-m0' || r.name === 'train-m0');
  if (model.length > 0) {
    out.write('\nModel M0 (window 64, LSTM 32, scoring batch 256, training 2048 windows batch 64)\n');
    if (model.some((r) => r.engine.endsWith('-fused-blocklstm'))) out.write("(tensorflow-fused scores with aemon's LSTM op, scripts/lstm-op.sh; tensorflow-fused-blocklstm with TensorFlow's BlockLSTM)\n");
    const keras = (r: ModelRow): ModelRow | undefined => model.find((k) => k.engine === 'keras' && k.name === r.name && k.channels === r.channels);
    const ratio = (r: ModelRow): string => (r.engine === 'keras' ? '1.00' : (kerasRatio(r, keras(r))?.toFixed(2) ?? '—'));
    const several = model.some((r) => r.samples);
    if (several) out.write('(windows/s: the median of the rounds, each round listed; × Keras: the median of the round-by-round ratios)\n');
    out.write(
      table(
        ['row', 'engine', 'channels', 'windows/s', '× Keras', ...(several ? ['rounds'] : [])],
        model.map((r) => [r.name, r.engine, r.channels, r.windowsPerSecond, ratio(r), ...(several ? [r.samples?.join(' / ') ?? '—'] : [])]),
      ),
    );
  }
  const pipe = rows.filter((r): r is PipelineRow => r.name === 'pipeline' || r.name === 'pipeline-nomodel');
  out.write('\nPipeline: decode → reorder → windows (32, stride 8) → micro-batch → score → decide → metrics, 4 channels, every reading offered at once\n');
  out.write('(pipeline: scored by M0-sized LSTM 32, readings as parsed fields; pipeline-nomodel: a no-op scorer, readings as JSON bytes with ISO-8601 ts)\n');
  out.write(
    table(
      ['row', 'sensors', 'readings', 'readings/s', 'readings/CPU-s', 'p50 reading→score s', 'p99 reading→score s', 'RSS growth MB', 'backend'],
      pipe.map((r) => [r.name, r.sensors, r.readings, r.readingsPerSecond, r.readingsPerCpuSecond, r.p50Seconds, r.p99Seconds, (r.rssBytes / 2 ** 20).toFixed(1), r.engine]),
    ),
  );
  const pacedRows = rows.filter((r): r is PacedRow => r.name === 'pipeline-paced');
  out.write('\nPipeline paced: every sensor sends 1 reading/s (JSON bytes), window 32 stride 8, LSTM 32; latency from a reading\'s due arrival time\n');
  out.write('(window: the reading that completed the window → its score written; reading: every reading, incl. waiting for the stride)\n');
  out.write(
    table(
      ['sensors', 'readings/s offered', 'readings/s taken', 'seconds', 'p50 window s', 'p99 window s', 'p99 reading s', 'CPU cores', 'backend'],
      pacedRows.map((r) => [r.sensors, r.ratePerSecond, r.achievedPerSecond, r.seconds, r.p50WindowSeconds, r.p99WindowSeconds, r.p99ReadingSeconds, r.cpuShare, r.engine]),
    ),
  );
  const scrape = rows.filter((r): r is ScrapeRow => r.name === 'scrape');
  out.write('\n/metrics scrape\n');
  out.write(table(['sensors', 'bytes', 'seconds'], scrape.map((r) => [r.sensors, r.bytes, r.seconds])));
  const retrain = rows.filter((r): r is RetrainRow => r.name === 'scoring-while-training');
  out.write('\nScoring while a challenger trains: the pipeline alone, then beside `aemon train-job` in a child process\n');
  out.write(
    table(
      ['sensors', 'training', 'readings/s', 'p50 reading→score s', 'p99 reading→score s', 'backend'],
      retrain.map((r) => [r.sensors, r.training, r.readingsPerSecond, r.p50Seconds, r.p99Seconds, r.engine]),
    ),
  );
  const kafka = rows.filter((r): r is KafkaRow => r.name === 'kafka');
  if (kafka.length > 0) {
    out.write('\nKafka: a pre-filled topic read by a no-op kafkajs consumer, one that only runs aemon\'s decoder, then by `aemon run` (window 32, stride 8, 4 channels, LSTM 32)\n');
    out.write(
      table(
        ['sensors', 'readings', 'partitions', 'no-op consumer msg/s', 'decode-only msg/s', 'aemon run readings/s', '× no-op', 'backend'],
        kafka.map((r) => [r.sensors, r.readings, r.partitions, r.noopMessagesPerSecond, r.decodeOnlyMessagesPerSecond, r.aemonReadingsPerSecond, r.ratio.toFixed(2), r.engine]),
      ),
    );
  }
  if (flags.json) writeFileSync(flags.json, JSON.stringify({ rows }, null, 2) + '\n');
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('throughput and latency figures as tables: model M0 (aemon and the Keras peer), the pipeline at 100–10,000 sensors (with M0, without a model, and paced at 10,000 readings/s), a /metrics scrape')
    .option('--json <file>', 'write {"rows": [...]} (model, pipeline and scrape rows)')
    .option('--quick', 'smaller fleets and a shorter paced run, for a run under 3 minutes')
    .option('--rounds <n>', 'model rounds, interleaved with the Keras peer: the table gives medians (default 3, 1 with --quick; later rounds run only the default kernel)')
    .option('--kafka-brokers <list>', 'also the Kafka row: `aemon run` against a no-op kafkajs consumer on a pre-filled topic of this cluster')
    .action(async (flags: BenchFlags) => bench(flags));
}
