// The ablation of the detector's levers: each variant (the defaults with one change) × each model
// seed through `aemon evaluate skab`, `aemon evaluate nab` and the simulator's 4-hour stream
// (`aemon simulate` + `aemon replay --labels --summary`), collected into one JSON file that
// `npm run docs:evaluation` renders as the ablation table of docs/evaluation.md.
//
//   npm run evaluate:ablation -- --skab ../shared/datasets/skab --nab ../shared/datasets/nab \
//     --json docs/data/evaluate-ablation-tensorflow.json [--seeds 42,2,3] [--only defaults,conv]
//
// A run already in the JSON file (same variant, settings and seed) is kept, so an interrupted
// ablation resumes where it stopped; --fresh starts over. Every run is a child process of the
// CLI, so each variant runs exactly as a user's `AEMON_*` settings would run it.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';

const CLI = fileURLToPath(new URL('../src/cli/index.ts', import.meta.url));

/** One lever: a name for the table, and the settings (environment overrides) that turn it on. */
export interface Variant {
  name: string;
  settings: Record<string, string>;
  /** What it is, for the table's reader. */
  what: string;
}

export const VARIANTS: Variant[] = [
  {
    name: 'defaults',
    settings: {},
    what: 'LSTM autoencoder, operating-point augmentation ±3 sd, dynamic thresholds',
  },
  { name: 'conv', settings: { AEMON_MODEL_ARCHITECTURE: 'conv' }, what: 'the convolutional autoencoder' },
  { name: 'contractive', settings: { AEMON_MODEL_CONTRACTIVE: '0.01' }, what: 'contractive penalty λ = 0.01' },
  {
    name: 'conv+contractive',
    settings: { AEMON_MODEL_ARCHITECTURE: 'conv', AEMON_MODEL_CONTRACTIVE: '0.01' },
    what: 'both',
  },
  { name: 'denoising', settings: { AEMON_MODEL_NOISE: '0.1' }, what: 'Gaussian input noise σ = 0.1' },
  { name: 'sparse', settings: { AEMON_MODEL_L1: '0.001' }, what: 'L1 on the code, 10⁻³' },
  { name: 'variational', settings: { AEMON_MODEL_VARIATIONAL: '0.01' }, what: 'LSTM-VAE, β = 0.01' },
  {
    name: 'no levelShift',
    settings: { AEMON_MODEL_LEVEL_SHIFT: '0' },
    what: 'no operating-point augmentation',
  },
  { name: 'window 16', settings: { AEMON_WINDOWING_SIZE: '16' }, what: 'windows of 16 readings instead of 32' },
  { name: 'window 64', settings: { AEMON_WINDOWING_SIZE: '64' }, what: 'windows of 64 readings instead of 32' },
  {
    name: 'latent',
    settings: { AEMON_SCORING_LATENT_WEIGHT: '1' },
    what: 'the latent distance mixed into the score, weight 1',
  },
  {
    name: 'threshold',
    settings: { AEMON_DETECTION_DECISION: 'threshold' },
    what: 'the calibrated threshold instead of the dynamic bar (the demo decides so)',
  },
];

export interface SkabFigures {
  f1: number;
  far: number;
  mar: number;
  seconds: number;
}
export interface NabFigures {
  standard: number;
  rewardLowFP: number;
  rewardLowFN: number;
  seconds: number;
}
export interface SimFigures {
  injected: number;
  detected: number;
  falseEvents: number;
  sensorHours: number;
  falseEventsPerSensorHour: number;
  falseAlarmRate: number;
  seconds: number;
}
export interface AblationRun {
  seed: number;
  skab?: SkabFigures;
  nab?: NabFigures;
  sim?: SimFigures;
}
export interface AblationJson {
  benchmark: 'ablation';
  backend: string;
  seeds: number[];
  simulator: string;
  variants: Array<Variant & { runs: AblationRun[] }>;
}

interface Flags {
  skab: string;
  nab: string;
  json: string;
  seeds: string;
  only?: string;
  fresh?: boolean;
  skip?: string;
}

/** `aemon <args>` in a child process with the variant's settings; its stdout, or an error with its stderr. */
function aemon(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env['TF_CPP_MIN_LOG_LEVEL'] ?? '2', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`aemon ${args[0]} exited ${code}:\n${stderr.slice(-2000)}`)),
    );
  });
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

/** The simulator's stream: 5 sensors, 4 hours of event time, simulator seed 2, the first 600 readings of each train. */
const SIM = { sensors: '5', duration: '4h', seed: '2', trainFirst: '600' };
export const SIM_DESCRIPTION = `\`aemon simulate --sensors ${SIM.sensors} --duration ${SIM.duration} --seed ${SIM.seed}\`, replayed with \`--train-first ${SIM.trainFirst}\``;

async function runOne(
  part: 'skab' | 'nab' | 'sim',
  env: Record<string, string>,
  flags: Flags,
  tmp: string,
): Promise<{ figures: SkabFigures | NabFigures | SimFigures; backend: string }> {
  const out = join(tmp, `${part}.json`);
  if (part === 'skab') {
    await aemon(['evaluate', 'skab', '--data', flags.skab, '--json', out], env);
    const j = readJson<SkabFigures & { backend: string }>(out);
    return { figures: { f1: j.f1, far: j.far, mar: j.mar, seconds: j.seconds }, backend: j.backend };
  }
  if (part === 'nab') {
    await aemon(['evaluate', 'nab', '--data', flags.nab, '--json', out], env);
    const j = readJson<NabFigures & { backend: string }>(out);
    return {
      figures: { standard: j.standard, rewardLowFP: j.rewardLowFP, rewardLowFN: j.rewardLowFN, seconds: j.seconds },
      backend: j.backend,
    };
  }
  const stream = join(tmp, 'sim.ndjson');
  const labels = join(tmp, 'sim.labels.json');
  if (!existsSync(stream)) {
    await aemon(
      [
        'simulate',
        '--sensors',
        SIM.sensors,
        '--duration',
        SIM.duration,
        '--seed',
        SIM.seed,
        '--out',
        stream,
        '--labels',
        labels,
      ],
      {},
    );
  }
  await aemon(
    [
      'replay',
      stream,
      '--train-first',
      SIM.trainFirst,
      '--labels',
      labels,
      '--out',
      join(tmp, 'scores.csv'),
      '--summary',
      out,
    ],
    env,
  );
  const j = readJson<{ seconds: number; backend: string; labels: Omit<SimFigures, 'seconds'> }>(out);
  const l = j.labels;
  const figures: SimFigures = {
    injected: l.injected,
    detected: l.detected,
    falseEvents: l.falseEvents,
    sensorHours: l.sensorHours,
    falseEventsPerSensorHour: l.falseEventsPerSensorHour,
    falseAlarmRate: l.falseAlarmRate,
    seconds: j.seconds,
  };
  return { figures, backend: j.backend };
}

async function main(flags: Flags): Promise<void> {
  const seeds = flags.seeds.split(',').map((s) => Number.parseInt(s, 10));
  if (seeds.some((s) => !Number.isInteger(s)))
    throw new Error(`--seeds: integers, comma-separated, got ${flags.seeds}`);
  const only = flags.only?.split(',');
  for (const name of only ?? [])
    if (!VARIANTS.some((v) => v.name === name))
      throw new Error(`--only: no variant ${name} (${VARIANTS.map((v) => v.name).join(', ')})`);
  const parts = (['skab', 'nab', 'sim'] as const).filter((p) => !(flags.skip ?? '').split(',').includes(p));
  const previous: AblationJson | undefined = !flags.fresh && existsSync(flags.json) ? readJson(flags.json) : undefined;
  const result: AblationJson = previous ?? {
    benchmark: 'ablation',
    backend: 'auto',
    seeds,
    simulator: SIM_DESCRIPTION,
    variants: [],
  };
  result.seeds = [...new Set([...result.seeds, ...seeds])];
  result.simulator = SIM_DESCRIPTION;
  const todo = VARIANTS.filter((v) => only === undefined || only.includes(v.name));
  const total = todo.length * seeds.length * parts.length;
  let done = 0;
  const t0 = performance.now();
  const tmp = mkdtempSync(join(tmpdir(), 'aemon-ablation-'));
  try {
    // Seed by seed: an interrupted ablation has every variant on the first seeds.
    for (const seed of seeds) {
      for (const variant of todo) {
        let entry = result.variants.find(
          (v) => v.name === variant.name && JSON.stringify(v.settings) === JSON.stringify(variant.settings),
        );
        if (entry === undefined) {
          result.variants = result.variants.filter((v) => v.name !== variant.name);
          entry = { ...variant, runs: [] };
          result.variants.push(entry);
        }
        entry.what = variant.what;
        let run = entry.runs.find((r) => r.seed === seed);
        if (run === undefined) {
          run = { seed };
          entry.runs.push(run);
          entry.runs.sort((a, b) => result.seeds.indexOf(a.seed) - result.seeds.indexOf(b.seed));
        }
        for (const part of parts) {
          done++;
          if (run[part] !== undefined) continue;
          const started = performance.now();
          const { figures, backend: ran } = await runOne(
            part,
            { ...variant.settings, AEMON_MODEL_SEED: String(seed) },
            flags,
            tmp,
          );
          if (result.backend === 'auto') result.backend = ran;
          else if (result.backend !== ran)
            throw new Error(`${flags.json} holds runs on ${result.backend}; this one ran on ${ran}`);
          (run as unknown as Record<string, unknown>)[part] = figures;
          writeFileSync(flags.json, `${JSON.stringify(result, null, 2)}\n`);
          const elapsed = (performance.now() - t0) / 1000;
          process.stderr.write(
            `[${done}/${total}] ${variant.name} seed ${seed} ${part}: ${summarise(figures)} ` +
              `(${((performance.now() - started) / 1000).toFixed(0)} s; ${elapsed.toFixed(0)} s so far)\n`,
          );
        }
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  result.variants.sort(
    (a, b) => VARIANTS.findIndex((v) => v.name === a.name) - VARIANTS.findIndex((v) => v.name === b.name),
  );
  writeFileSync(flags.json, `${JSON.stringify(result, null, 2)}\n`);
}

function summarise(f: SkabFigures | NabFigures | SimFigures): string {
  if ('f1' in f) return `F1 ${f.f1.toFixed(3)}, FAR ${f.far.toFixed(1)} %, MAR ${f.mar.toFixed(1)} %`;
  if ('standard' in f)
    return `standard ${f.standard.toFixed(1)}, low FP ${f.rewardLowFP.toFixed(1)}, low FN ${f.rewardLowFN.toFixed(1)}`;
  return `${f.detected}/${f.injected} detected, ${f.falseEvents} false events (${f.falseEventsPerSensorHour.toFixed(2)} per sensor-hour)`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const program = new Command('ablation')
    .description('each lever of the detector, with each model seed, on SKAB, NAB and the simulator')
    .requiredOption('--skab <dir>', "SKAB's data folder")
    .requiredOption('--nab <dir>', "NAB's data folder")
    .requiredOption('--json <file>', 'the JSON file the runs are collected in (resumed when it exists)')
    .option('--seeds <list>', 'model seeds (model.seed), comma-separated', '42,2,3')
    .option('--only <list>', `variants, comma-separated (${VARIANTS.map((v) => v.name).join(', ')})`)
    .option('--skip <list>', 'parts to leave out: skab, nab, sim')
    .option('--fresh', 'start over instead of resuming the JSON file')
    .action(async (flags: Flags) => main(flags));
  program.parseAsync().catch((err: unknown) => {
    process.stderr.write(`ablation: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
