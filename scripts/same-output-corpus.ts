/**
 * The corpus of scripts/same-output.ts: which aemon commands it runs and which of their outputs
 * it compares. Every variable it sets existed in the config of the oldest commit the check has
 * been run on, so that one corpus runs on old and new checkouts alike; the runner checks them
 * against the checkout's config reference before the first run.
 */
import { mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

export type Env = Record<string, string>;

export interface Run {
  name: string;
  /** aemon's arguments; `{out}` is the output folder, `{work}` a scratch folder shared by the runs. */
  args: string[];
  env?: Env;
  /** Outputs the run writes into `{out}` and that are compared. */
  outputs: string[];
  /** Runs that others need (model training, the simulated file): kept by `--only`. */
  prerequisite?: boolean;
}

/** Few epochs and a small model on every run: the point is the code paths, not the models. */
export const BASE: Env = { AEMON_MODEL_EPOCHS: '2', AEMON_MODEL_UNITS: '8' };
/** NAB's slower files (hourly) would restart their windows at every reading otherwise. */
const NAB_GAP: Env = { AEMON_WINDOWING_MAX_GAP_MS: String(2 * 86_400_000) };

/** A decision layer: the older flags and the one key that replaces them. */
interface Decision {
  name: string;
  flags: Env;
  key: Env;
}

const DYNAMIC_TUNED: Env = {
  AEMON_DETECTION_DYNAMIC_HOLD_OPEN: '20',
  AEMON_DETECTION_DYNAMIC_SPAN: '3',
  AEMON_DETECTION_DYNAMIC_WARMUP: '40',
  AEMON_DETECTION_DYNAMIC_EVERY: '7',
};
const DSPOT_LEARN: Env = {
  AEMON_DETECTION_POT_DEPTH: '15',
  AEMON_DETECTION_POT_INITIAL: '60',
  AEMON_DETECTION_POT_LEARN_AFTER: '25',
};
const LIKELIHOOD_HOLD: Env = {
  AEMON_DETECTION_LIKELIHOOD_WARMUP: '40',
  AEMON_DETECTION_LIKELIHOOD_HOLD_OPEN: '15',
  AEMON_DETECTION_LIKELIHOOD_LEARN_SHORT: 'true',
  AEMON_DETECTION_LIKELIHOOD_OR_ABOVE: '2',
};
const LIKELIHOOD_AND: Env = {
  AEMON_DETECTION_LIKELIHOOD_WARMUP: '40',
  AEMON_DETECTION_LIKELIHOOD_AND_THRESHOLD: 'true',
};

const DECISIONS: Decision[] = [
  {
    name: 'threshold',
    flags: { AEMON_DETECTION_DYNAMIC_ENABLED: 'false' },
    key: { AEMON_DETECTION_DECISION: 'threshold' },
  },
  { name: 'dynamic', flags: {}, key: { AEMON_DETECTION_DECISION: 'dynamic' } },
  { name: 'dynamic-tuned', flags: DYNAMIC_TUNED, key: { AEMON_DETECTION_DECISION: 'dynamic', ...DYNAMIC_TUNED } },
  { name: 'pot', flags: { AEMON_DETECTION_POT_ENABLED: 'true' }, key: { AEMON_DETECTION_DECISION: 'pot' } },
  {
    // pot enabled with dynamic switched off as well: pot decides either way.
    name: 'dspot-learn',
    flags: { AEMON_DETECTION_POT_ENABLED: 'true', AEMON_DETECTION_DYNAMIC_ENABLED: 'false', ...DSPOT_LEARN },
    key: { AEMON_DETECTION_DECISION: 'pot', ...DSPOT_LEARN },
  },
  {
    name: 'likelihood',
    flags: { AEMON_DETECTION_LIKELIHOOD_ENABLED: 'true' },
    key: { AEMON_DETECTION_DECISION: 'likelihood' },
  },
  {
    name: 'likelihood-hold',
    flags: { AEMON_DETECTION_LIKELIHOOD_ENABLED: 'true', ...LIKELIHOOD_HOLD },
    key: { AEMON_DETECTION_DECISION: 'likelihood', ...LIKELIHOOD_HOLD },
  },
  {
    name: 'likelihood-and',
    flags: { AEMON_DETECTION_LIKELIHOOD_ENABLED: 'true', AEMON_DETECTION_DYNAMIC_ENABLED: 'false', ...LIKELIHOOD_AND },
    key: { AEMON_DETECTION_DECISION: 'likelihood', ...LIKELIHOOD_AND },
  },
];

/**
 * Ten NAB files, two per category: a fixed choice (the corpus must be the same on every
 * checkout), short and long files, with and without labelled anomalies, minute to hourly rates.
 */
export const NAB_FILES = [
  'artificialNoAnomaly/art_daily_small_noise.csv',
  'artificialNoAnomaly/art_noisy.csv',
  'artificialWithAnomaly/art_daily_jumpsup.csv',
  'artificialWithAnomaly/art_load_balancer_spikes.csv',
  'realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv',
  'realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv',
  'realAdExchange/exchange-3_cpc_results.csv',
  'realAdExchange/exchange-2_cpm_results.csv',
  'realTweets/Twitter_volume_KO.csv',
  'realTweets/Twitter_volume_UPS.csv',
];

/** Every CSV under `dir`, as paths relative to it with `/`, sorted: the whole data set, whatever it holds. */
export function csvFilesUnder(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) out.push(...csvFilesUnder(dir, rel));
    else if (e.name.endsWith('.csv')) out.push(rel);
  }
  return out.sort();
}

/** `evaluate nab` on the ten files: a NAB-layout folder of links to them and to the labels. */
export function linkNabSubset(nabRoot: string, target: string): void {
  for (const f of NAB_FILES) {
    const dir = join(target, 'data', f.split('/')[0]!);
    mkdirSync(dir, { recursive: true });
    symlinkSync(join(nabRoot, 'data', f), join(target, 'data', f));
  }
  for (const f of ['combined_windows.json', 'profiles.json']) symlinkSync(join(nabRoot, f), join(target, f));
}

const slug = (file: string) => file.replace(/\.csv$/, '').replace(/[^A-Za-z0-9]+/g, '_');

interface Where {
  skab: string;
  nab: string;
  decisionKey: boolean;
}

/** The decision layers on one SKAB and one NAB file, with a model trained once per channel set. */
function decisionRuns({ skab, nab, decisionKey }: Where): Run[] {
  const runs: Run[] = [];
  // A low margin so that the decisions have work to do.
  const lowMargin = { AEMON_DETECTION_MARGIN: '1.1' };
  runs.push({
    name: 'train-skab',
    args: ['train', join(skab, 'valve1/0.csv'), '--out', '{work}/models-skab'],
    env: lowMargin,
    outputs: [],
    prerequisite: true,
  });
  runs.push({
    name: 'train-nab',
    args: ['train', join(nab, 'data/realAdExchange/exchange-2_cpc_results.csv'), '--out', '{work}/models-nab'],
    env: { ...lowMargin, ...NAB_GAP },
    outputs: [],
    prerequisite: true,
  });
  const targets = [
    { file: join(skab, 'valve1/1.csv'), label: 'skab-valve1_1', models: 'models-skab', env: {} },
    {
      file: join(nab, 'data/realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv'),
      label: 'nab-realAWSCloudwatch_iio_us_east_1_i_a2eb1cd9_NetworkIn',
      models: 'models-nab',
      env: NAB_GAP,
    },
  ];
  for (const d of DECISIONS) {
    for (const t of targets) {
      const out = `${t.label}-${d.name}.csv`;
      runs.push({
        name: `${t.label}-${d.name}`,
        args: ['replay', t.file, '--model', `{work}/${t.models}`, '--out', `{out}/${out}`],
        env: { ...(decisionKey ? d.key : d.flags), ...t.env },
        outputs: [out],
      });
    }
  }
  // The layers kernel scores too (auto takes simd on WASM).
  runs.push({
    name: 'skab-valve1_1-layers-kernel',
    args: [
      'replay',
      join(skab, 'valve1/1.csv'),
      '--model',
      '{work}/models-skab',
      '--out',
      '{out}/skab-valve1_1-layers-kernel.csv',
    ],
    env: { AEMON_MODEL_KERNEL: 'layers' },
    outputs: ['skab-valve1_1-layers-kernel.csv'],
  });
  return runs;
}

/** The demo, deterministic: the same seeded simulator, to a file, replayed at full speed. */
function simulatedRuns(): Run[] {
  const sim = {
    AEMON_SIMULATOR_QUIET_SECONDS: '300',
    AEMON_SIMULATOR_ANOMALY_EVERY_SECONDS: '150',
    AEMON_SIMULATOR_ANOMALY_SECONDS: '40',
  };
  return [
    {
      name: 'simulate',
      args: ['simulate', '--sensors', '3', '--duration', '900s', '--seed', '1'].concat([
        '--out',
        '{out}/simulated.ndjson',
        '--labels',
        '{out}/simulated-labels.json',
      ]),
      env: sim,
      outputs: ['simulated.ndjson', 'simulated-labels.json'],
      prerequisite: true,
    },
    {
      name: 'simulated-replay',
      args: ['replay', '{out}/simulated.ndjson', '--train-first', '240', '--out', '{out}/simulated-scores.csv'],
      env: sim,
      outputs: ['simulated-scores.csv'],
    },
  ];
}

export function corpus(where: Where): Run[] {
  const { skab, nab } = where;
  const runs: Run[] = [];
  // Replays that train on their first rows: training, the kernel, the default decision.
  for (const f of csvFilesUnder(skab)) {
    const out = `skab-${slug(f)}-trained.csv`;
    runs.push({
      name: `skab-${slug(f)}-trained`,
      args: ['replay', join(skab, f), '--train-first', '400', '--out', `{out}/${out}`],
      outputs: [out],
    });
  }
  for (const f of NAB_FILES) {
    const out = `nab-${slug(f)}-trained.csv`;
    runs.push({
      name: `nab-${slug(f)}-trained`,
      args: ['replay', join(nab, 'data', f), '--train-first', '300', '--out', `{out}/${out}`],
      env: NAB_GAP,
      outputs: [out],
    });
  }
  runs.push(...decisionRuns(where), ...simulatedRuns());
  // The benchmarks' protocols: every SKAB file, the ten NAB files.
  runs.push({
    name: 'evaluate-skab',
    args: ['evaluate', 'skab', '--data', skab, '--json', '{out}/evaluate-skab.json'],
    outputs: ['evaluate-skab.json'],
  });
  runs.push({
    name: 'evaluate-nab',
    args: ['evaluate', 'nab', '--data', '{work}/nab-subset', '--json', '{out}/evaluate-nab.json'],
    outputs: ['evaluate-nab.json'],
  });
  return runs;
}
