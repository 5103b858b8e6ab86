// The bench itself (`npm run bench` runs it through bench/main.ts, which adds the Kafka row's
// broker): measures every row, prints the tables, and with --json writes the rows.
import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { parsePositiveInt } from '../src/cli/common.js';
import { benchDecode } from './decode.js';
import { benchKafka } from './kafka.js';
import { benchMemoryFresh } from './memory.js';
import { kerasPeerPath, kerasRows } from './keras.js';
import { modelRows } from './model.js';
import { benchPaced } from './paced.js';
import { benchPipelineFresh, benchScrape } from './pipeline.js';
import { printTables } from './report.js';
import { benchWhileTraining } from './retrain.js';
import { kerasRowOf, mergeRounds, networkMismatch, type ModelRow, type Row } from './rows.js';

interface BenchFlags {
  json?: string;
  quick?: boolean;
  kafkaBrokers?: string;
  rounds?: string;
  kerasPeer?: string;
  only?: string;
}

/** The parts of the bench, in the order it runs them (`--only` takes a comma-separated list of them). */
const PARTS = ['decode', 'pipeline', 'paced', 'memory', 'scrape', 'retrain', 'kafka', 'model'] as const;
type Part = (typeof PARTS)[number];

function parts(only: string | undefined): Set<Part> {
  if (only === undefined) return new Set(PARTS);
  const names = only
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = names.filter((n) => !(PARTS as readonly string[]).includes(n));
  if (unknown.length > 0 || names.length === 0) {
    process.stderr.write(
      `npm run bench: --only: ${unknown.join(', ') || 'nothing'} is not one of ${PARTS.join(', ')}\n`,
    );
    process.exit(2);
  }
  return new Set(names as Part[]);
}

async function bench(flags: BenchFlags): Promise<void> {
  const peer = kerasPeerPath(flags.kerasPeer);
  const log = (s: string): void => void process.stderr.write(s);
  const rounds = flags.rounds !== undefined ? parsePositiveInt(flags.rounds, '--rounds') : flags.quick ? 1 : 3;
  const run = parts(flags.only);
  const rows: Row[] = [];
  if (run.has('decode')) {
    log('decode: every reading.format…\n');
    rows.push(...(await benchDecode(1000, flags.quick ? 10 : 30)));
  }
  if (run.has('pipeline')) {
    for (const sensors of flags.quick ? [100, 1000] : [100, 1000, 10_000]) {
      log(`pipeline: ${sensors} sensors…\n`);
      rows.push(await benchPipelineFresh(sensors, flags.quick ? 64 : 96));
    }
    for (const sensors of flags.quick ? [1000] : [1000, 10_000]) {
      log(`pipeline without the model: ${sensors} sensors…\n`);
      rows.push(await benchPipelineFresh(sensors, sensors >= 10_000 ? 96 : 256, 'none'));
    }
  }
  if (run.has('paced')) {
    const paced = flags.quick ? 10 : 30;
    log(`pipeline paced: 10000 sensors at 1 reading/s each for ${paced} s (after a warm-up)…\n`);
    rows.push(await benchPaced(10_000, paced));
  }
  if (run.has('memory')) {
    for (const sensors of flags.quick ? [1000] : [1000, 10_000]) {
      log(`memory: ${sensors} sensors, 640 readings each…\n`);
      rows.push(await benchMemoryFresh(sensors, 640));
    }
  }
  if (run.has('scrape')) rows.push(await benchScrape(1000));
  if (run.has('retrain')) rows.push(...(await benchWhileTraining(1000, flags.quick ? 48 : 64, log)));
  if (run.has('kafka') && flags.kafkaBrokers) {
    const brokers = flags.kafkaBrokers
      .split(',')
      .map((b) => b.trim())
      .filter((b) => b !== '');
    rows.push(...(await benchKafka({ brokers, sensors: 500, readings: flags.quick ? 200 : 400, log })));
  } else if (run.has('kafka')) {
    log(
      'kafka: not run (pass --kafka-brokers HOST:PORT, or use `npm run bench`, which starts the test broker when .kafka/libs exists)\n',
    );
  }
  // Model rounds, interleaved with the Keras peer: one run of each on this VM varies by ±20 %.
  const measured: ModelRow[][] = [];
  for (let round = 0; round < (run.has('model') ? rounds : 0); round++) {
    if (rounds > 1) log(`model rounds: ${round + 1} of ${rounds}\n`);
    const aemon = await modelRows(flags.quick ?? false, round > 0, log);
    const keras = [1, 8].flatMap((channels) => [
      ...kerasRows(peer, channels, log),
      ...kerasRows(peer, channels, log, 'conv'),
    ]);
    measured.push([...aemon, ...keras]);
  }
  const model = mergeRounds(measured);
  for (const r of model) {
    const differs = networkMismatch(r, kerasRowOf(model, r));
    if (differs) log(`WARNING: aemon and the Keras peer measured different networks (× Keras marked ≠): ${differs}\n`);
  }
  rows.push(...model);

  printTables(rows, process.stdout);
  if (flags.json) writeFileSync(flags.json, JSON.stringify({ rows }, null, 2) + '\n');
}

await new Command('npm run bench --')
  .description(
    'throughput and latency figures as tables: model M0 and the conv autoencoder (aemon and the Keras peers), reading decode per format, the pipeline at 100–10,000 sensors (with M0, without a model, and paced at 10,000 readings/s), memory per 1,000 sensors, a /metrics scrape, scoring while a challenger trains, and Kafka',
  )
  .option('--json <file>', 'write {"rows": [...]} (every row of the tables)')
  .option('--quick', 'smaller fleets and a shorter paced run, for a run under 3 minutes')
  .option(
    '--rounds <n>',
    'model rounds, interleaved with the Keras peers: the table gives medians (default 3, 1 with --quick; later rounds run only the default kernel)',
  )
  .option(
    '--kafka-brokers <list>',
    'the Kafka row against this cluster (npm run bench starts the test broker when .kafka/libs exists and KAFKA_BROKERS is unset)',
  )
  .option(
    '--keras-peer <path>',
    "the Keras peer script of the M0 rows (default: BENCH_KERAS_PEER, else ../shared/bench/keras_m0.py from the repository root; bench/keras_peer.py measures M0 the same way); the conv rows' peer is always the repository's bench/keras_peer.py",
  )
  .option('--only <parts>', `run only these parts, comma-separated: ${PARTS.join(', ')} (default: all)`)
  .action(async (flags: BenchFlags) => bench(flags))
  .parseAsync(process.argv);
