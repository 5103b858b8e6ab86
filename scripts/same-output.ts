/**
 * Proof that a restructure did not change behaviour: `record DIR` runs a fixed corpus of aemon
 * commands and keeps their outputs in DIR; `check DIR` runs the same corpus again and compares
 * every output with the recorded one, byte for byte (evaluation JSON: equal once its wall-clock
 * fields are taken out).
 *
 *   npm run check:same-output record .cache/same-output-before   (on the code before the change)
 *   npm run check:same-output check .cache/same-output-before    (after it)
 *
 * Options: `--decision-key` runs the decision-layer variants with `detection.decision`
 * (AEMON_DETECTION_DECISION) instead of the older per-layer `enabled` flags, to show that the
 * two spellings decide alike; `--only NAME` runs the runs whose name contains NAME.
 *
 * The corpus: SKAB and NAB files read where they lie (../shared/datasets, never copied into the
 * repository), each replayed with training on its first rows, and replayed again with a model
 * trained once per channel set under every decision layer and its refinements; a simulated
 * stream (the deterministic form of `aemon demo`: a seeded simulator file, replayed); and
 * `aemon evaluate skab` on two files. Small and few epochs, on WASM: CPU is what it costs.
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'src/cli/index.ts');
// Beside the checkout (../shared), or beside the folder of worktrees it is one of.
const DATA =
  process.env.SAME_OUTPUT_DATA ??
  ['../shared/datasets', '../../shared/datasets'].map((p) => resolve(ROOT, p)).find((p) => existsSync(p)) ??
  resolve(ROOT, '../shared/datasets');
const SKAB = join(DATA, 'skab');
const NAB = join(DATA, 'nab/data');

/** Every run: WASM, one thread, few epochs (deterministic: a seed gives bit-identical weights). */
const BASE = { AEMON_MODEL_BACKEND: 'wasm', AEMON_MODEL_EPOCHS: '2', AEMON_MODEL_UNITS: '8' };
/** NAB's slower files (hourly) would restart their windows at every reading otherwise. */
const NAB_GAP = { AEMON_WINDOWING_MAX_GAP_MS: String(2 * 86_400_000) };

type Env = Record<string, string>;

/** A decision layer: the older flags (what main had) and the one key that replaces them. */
interface Decision {
  name: string;
  flags: Env;
  key: Env;
}

const DECISIONS: Decision[] = [
  {
    name: 'threshold',
    flags: { AEMON_DETECTION_DYNAMIC_ENABLED: 'false' },
    key: { AEMON_DETECTION_DECISION: 'threshold' },
  },
  { name: 'dynamic', flags: {}, key: { AEMON_DETECTION_DECISION: 'dynamic' } },
  {
    name: 'dynamic-tuned',
    flags: {
      AEMON_DETECTION_DYNAMIC_HOLD_OPEN: '20',
      AEMON_DETECTION_DYNAMIC_SPAN: '3',
      AEMON_DETECTION_DYNAMIC_WARMUP: '40',
      AEMON_DETECTION_DYNAMIC_EVERY: '7',
    },
    key: {
      AEMON_DETECTION_DECISION: 'dynamic',
      AEMON_DETECTION_DYNAMIC_HOLD_OPEN: '20',
      AEMON_DETECTION_DYNAMIC_SPAN: '3',
      AEMON_DETECTION_DYNAMIC_WARMUP: '40',
      AEMON_DETECTION_DYNAMIC_EVERY: '7',
    },
  },
  { name: 'pot', flags: { AEMON_DETECTION_POT_ENABLED: 'true' }, key: { AEMON_DETECTION_DECISION: 'pot' } },
  {
    // pot enabled with dynamic switched off as well: pot decides either way.
    name: 'dspot-learn',
    flags: {
      AEMON_DETECTION_POT_ENABLED: 'true',
      AEMON_DETECTION_DYNAMIC_ENABLED: 'false',
      AEMON_DETECTION_POT_DEPTH: '15',
      AEMON_DETECTION_POT_INITIAL: '60',
      AEMON_DETECTION_POT_LEARN_AFTER: '25',
    },
    key: {
      AEMON_DETECTION_DECISION: 'pot',
      AEMON_DETECTION_POT_DEPTH: '15',
      AEMON_DETECTION_POT_INITIAL: '60',
      AEMON_DETECTION_POT_LEARN_AFTER: '25',
    },
  },
  {
    name: 'likelihood',
    flags: { AEMON_DETECTION_LIKELIHOOD_ENABLED: 'true' },
    key: { AEMON_DETECTION_DECISION: 'likelihood' },
  },
  {
    name: 'likelihood-hold',
    flags: {
      AEMON_DETECTION_LIKELIHOOD_ENABLED: 'true',
      AEMON_DETECTION_LIKELIHOOD_WARMUP: '40',
      AEMON_DETECTION_LIKELIHOOD_HOLD_OPEN: '15',
      AEMON_DETECTION_LIKELIHOOD_LEARN_SHORT: 'true',
      AEMON_DETECTION_LIKELIHOOD_OR_ABOVE: '2',
    },
    key: {
      AEMON_DETECTION_DECISION: 'likelihood',
      AEMON_DETECTION_LIKELIHOOD_WARMUP: '40',
      AEMON_DETECTION_LIKELIHOOD_HOLD_OPEN: '15',
      AEMON_DETECTION_LIKELIHOOD_LEARN_SHORT: 'true',
      AEMON_DETECTION_LIKELIHOOD_OR_ABOVE: '2',
    },
  },
  {
    name: 'likelihood-and',
    flags: {
      AEMON_DETECTION_LIKELIHOOD_ENABLED: 'true',
      AEMON_DETECTION_DYNAMIC_ENABLED: 'false',
      AEMON_DETECTION_LIKELIHOOD_WARMUP: '40',
      AEMON_DETECTION_LIKELIHOOD_AND_THRESHOLD: 'true',
    },
    key: {
      AEMON_DETECTION_DECISION: 'likelihood',
      AEMON_DETECTION_LIKELIHOOD_WARMUP: '40',
      AEMON_DETECTION_LIKELIHOOD_AND_THRESHOLD: 'true',
    },
  },
];

const SKAB_FILES = ['valve1/1.csv', 'valve1/5.csv', 'valve2/0.csv'];
const NAB_FILES = [
  'realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv',
  'realAdExchange/exchange-3_cpc_results.csv',
  'artificialWithAnomaly/art_daily_jumpsup.csv',
];

interface Run {
  name: string;
  /** aemon's arguments; `{out}` is the output folder, `{work}` a scratch folder shared by the runs. */
  args: string[];
  env?: Env;
  /** Outputs the run writes into `{out}` and that are compared. */
  outputs: string[];
}

const slug = (file: string) => file.replace(/\.csv$/, '').replace(/[^A-Za-z0-9]+/g, '_');

function corpus(decisionKey: boolean): Run[] {
  const runs: Run[] = [];
  // Replays that train on their first rows: training, the kernel, the default decision.
  for (const f of SKAB_FILES) {
    runs.push({
      name: `skab-${slug(f)}-trained`,
      args: ['replay', join(SKAB, f), '--train-first', '400', '--out', `{out}/skab-${slug(f)}-trained.csv`],
      outputs: [`skab-${slug(f)}-trained.csv`],
    });
  }
  for (const f of NAB_FILES) {
    runs.push({
      name: `nab-${slug(f)}-trained`,
      args: ['replay', join(NAB, f), '--train-first', '300', '--out', `{out}/nab-${slug(f)}-trained.csv`],
      env: NAB_GAP,
      outputs: [`nab-${slug(f)}-trained.csv`],
    });
  }
  // One model per channel set, trained with a low margin so that the decisions have work to do.
  const lowMargin = { AEMON_DETECTION_MARGIN: '1.1' };
  runs.push({
    name: 'train-skab',
    args: ['train', join(SKAB, 'valve1/0.csv'), '--out', '{work}/models-skab'],
    env: lowMargin,
    outputs: [],
  });
  runs.push({
    name: 'train-nab',
    args: ['train', join(NAB, 'realAdExchange/exchange-2_cpc_results.csv'), '--out', '{work}/models-nab'],
    env: { ...lowMargin, ...NAB_GAP },
    outputs: [],
  });
  for (const d of DECISIONS) {
    const env = decisionKey ? d.key : d.flags;
    for (const f of SKAB_FILES) {
      const out = `skab-${slug(f)}-${d.name}.csv`;
      runs.push({
        name: `skab-${slug(f)}-${d.name}`,
        args: ['replay', join(SKAB, f), '--model', '{work}/models-skab', '--out', `{out}/${out}`],
        env,
        outputs: [out],
      });
    }
    for (const f of NAB_FILES) {
      const out = `nab-${slug(f)}-${d.name}.csv`;
      runs.push({
        name: `nab-${slug(f)}-${d.name}`,
        args: ['replay', join(NAB, f), '--model', '{work}/models-nab', '--out', `{out}/${out}`],
        env: { ...env, ...NAB_GAP },
        outputs: [out],
      });
    }
  }
  // The layers kernel scores too (auto takes simd on WASM).
  runs.push({
    name: 'skab-valve1_1-layers-kernel',
    args: [
      'replay',
      join(SKAB, 'valve1/1.csv'),
      '--model',
      '{work}/models-skab',
      '--out',
      '{out}/skab-valve1_1-layers-kernel.csv',
    ],
    env: { AEMON_MODEL_KERNEL: 'layers' },
    outputs: ['skab-valve1_1-layers-kernel.csv'],
  });
  // The demo, deterministic: the same seeded simulator, to a file, replayed at full speed.
  const sim = {
    AEMON_SIMULATOR_QUIET_SECONDS: '300',
    AEMON_SIMULATOR_ANOMALY_EVERY_SECONDS: '150',
    AEMON_SIMULATOR_ANOMALY_SECONDS: '40',
  };
  runs.push({
    name: 'simulate',
    args: [
      'simulate',
      '--sensors',
      '3',
      '--duration',
      '900s',
      '--seed',
      '1',
      '--out',
      '{out}/simulated.ndjson',
      '--labels',
      '{out}/simulated-labels.json',
    ],
    env: sim,
    outputs: ['simulated.ndjson', 'simulated-labels.json'],
  });
  runs.push({
    name: 'simulated-replay',
    args: ['replay', '{out}/simulated.ndjson', '--train-first', '240', '--out', '{out}/simulated-scores.csv'],
    env: sim,
    outputs: ['simulated-scores.csv'],
  });
  // The SKAB protocol on two files (a folder of links to them).
  runs.push({
    name: 'evaluate-skab',
    args: ['evaluate', 'skab', '--data', '{work}/skab-subset', '--json', '{out}/evaluate-skab.json'],
    outputs: ['evaluate-skab.json'],
  });
  return runs;
}

function aemon(args: string[], env: Env): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...BASE, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stderr }));
  });
}

/** Evaluation JSON without what depends on the wall clock. */
function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k]) => !/seconds/i.test(k))
      .map(([k, v]) => [k, stable(v)]),
  );
}

async function runCorpus(out: string, decisionKey: boolean, only: string | undefined): Promise<Run[]> {
  mkdirSync(out, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'aemon-same-output-'));
  try {
    mkdirSync(join(work, 'skab-subset/valve1'), { recursive: true });
    symlinkSync(join(SKAB, 'valve1/2.csv'), join(work, 'skab-subset/valve1/2.csv'));
    symlinkSync(join(SKAB, 'valve2/1.csv'), join(work, 'skab-subset/valve1/21.csv'));
    const runs = corpus(decisionKey).filter(
      (r) => only === undefined || r.name.includes(only) || r.name.startsWith('train-') || r.name === 'simulate',
    );
    for (const [i, run] of runs.entries()) {
      const t0 = performance.now();
      const args = run.args.map((a) => a.replaceAll('{out}', out).replaceAll('{work}', work));
      const result = await aemon(args, run.env ?? {});
      const seconds = ((performance.now() - t0) / 1000).toFixed(1);
      if (result.code !== 0)
        throw new Error(`${run.name}: aemon ${args.join(' ')} exited with ${result.code}:\n${result.stderr}`);
      const deprecations = result.stderr.split('\n').filter((l) => /deprecated/i.test(l)).length;
      process.stderr.write(
        `[${i + 1}/${runs.length}] ${run.name} (${seconds} s${deprecations ? `, ${deprecations} deprecation warning line(s)` : ''})\n`,
      );
      for (const o of run.outputs.filter((o) => o.endsWith('.json') && o.startsWith('evaluate'))) {
        writeFileSync(
          join(out, o),
          JSON.stringify(stable(JSON.parse(readFileSync(join(out, o), 'utf8'))), null, 2) + '\n',
        );
      }
    }
    return runs;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function firstDifference(a: string, b: string): string {
  const la = a.split('\n');
  const lb = b.split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i])
      return `line ${i + 1}: recorded ${JSON.stringify(la[i]?.slice(0, 160))}, now ${JSON.stringify(lb[i]?.slice(0, 160))}`;
  }
  return 'same lines, different bytes';
}

async function main(): Promise<void> {
  const [command, dir, ...rest] = process.argv.slice(2);
  const decisionKey = rest.includes('--decision-key');
  const onlyAt = rest.indexOf('--only');
  const only = onlyAt >= 0 ? rest[onlyAt + 1] : undefined;
  if ((command !== 'record' && command !== 'check') || dir === undefined) {
    process.stderr.write('usage: same-output record|check DIR [--decision-key] [--only NAME]\n');
    process.exit(2);
  }
  for (const p of [SKAB, NAB]) if (!existsSync(p)) throw new Error(`no data set at ${p} (set SAME_OUTPUT_DATA)`);
  const recorded = resolve(dir);
  if (command === 'record') {
    rmSync(recorded, { recursive: true, force: true });
    const runs = await runCorpus(recorded, decisionKey, only);
    const files = runs.flatMap((r) => r.outputs);
    writeFileSync(join(recorded, 'MANIFEST'), files.join('\n') + '\n');
    process.stdout.write(`recorded ${files.length} outputs of ${runs.length} runs in ${recorded}\n`);
    return;
  }
  if (!existsSync(join(recorded, 'MANIFEST')))
    throw new Error(`${recorded} holds no recorded corpus (run record first)`);
  const fresh = mkdtempSync(join(tmpdir(), 'aemon-same-output-now-'));
  try {
    const runs = await runCorpus(fresh, decisionKey, only);
    const manifest = new Set(readFileSync(join(recorded, 'MANIFEST'), 'utf8').trim().split('\n'));
    let same = 0;
    const differ: string[] = [];
    for (const o of runs.flatMap((r) => r.outputs)) {
      if (!manifest.has(o)) {
        differ.push(`${o}: not in the recorded corpus`);
        continue;
      }
      const a = readFileSync(join(recorded, o));
      const b = readFileSync(join(fresh, o));
      if (o.endsWith('.json') && !a.equals(b)) {
        // An evaluation echoes the config it ran with: a new config key changes the echo, not
        // the evaluation. Equal scores with a different echo are reported, not failed.
        const [ra, rb] = [a, b].map((x) => JSON.parse(x.toString('utf8')) as Record<string, unknown>);
        const echo = JSON.stringify(ra!['config']) !== JSON.stringify(rb!['config']);
        delete ra!['config'];
        delete rb!['config'];
        if (echo && JSON.stringify(ra) === JSON.stringify(rb)) {
          same++;
          process.stdout.write(`same     ${o} (scores equal; its echo of the config differs)\n`);
          continue;
        }
      }
      if (a.equals(b)) {
        same++;
        process.stdout.write(`same     ${o} (${a.length} bytes)\n`);
      } else {
        differ.push(`${o}: ${firstDifference(a.toString('utf8'), b.toString('utf8'))}`);
        process.stdout.write(`DIFFERS  ${o}\n`);
      }
    }
    const skipped = [...manifest].filter((o) => !readdirSync(fresh).includes(o)).length;
    process.stdout.write(
      `\n${same} identical, ${differ.length} different${skipped ? `, ${skipped} recorded outputs not rerun (--only)` : ''}\n`,
    );
    for (const d of differ) process.stdout.write(`  ${d}\n`);
    if (differ.length > 0) process.exitCode = 1;
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
}

await main();
