// `npm run chaos`: aemon under faults against the real broker (test/kafka/broker.ts, loopback
// only), compared with a fault-free run of the same input, then a soak. Not part of `npm test`.
// Prints the tables; `--json FILE` writes the figures. Exits 1 when a scenario broke the promise.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { launchBroker } from '../test/kafka/broker.js';
import { BIN } from './aemon.js';
import { aemonKills, brokerKills, groupChurn, noFault, seededRandom, stall, type FaultInjector } from './faults.js';
import { parseOptions, USAGE, type ScenarioName } from './options.js';
import { ROOT } from './paths.js';
import { runScenario, type ScenarioResult, type SuiteContext } from './scenario.js';
import { runSoak, type SoakResult } from './soak.js';
import { scenarioTable, soakTable } from './table.js';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const opts = (() => {
  try {
    return parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
})();
const t0 = Date.now();
const log = (line: string): void => {
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
};

/** The newest modification time under a folder. */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function sh(cmd: string, args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stderr;
}

// aemon runs from the built bin, as users run it: build first when src is newer than it.
let built = 0;
try {
  built = statSync(BIN).mtimeMs;
} catch {
  built = 0;
}
if (built < newest(join(ROOT, 'src'))) {
  log('building (npm run build)…');
  sh('npm', ['run', 'build']);
}

const SETTINGS = {
  AEMON_WINDOWING_SIZE: '16',
  AEMON_TRAINING_BOOTSTRAP_READINGS: '200',
  AEMON_MODEL_EPOCHS: '6',
  AEMON_KAFKA_SESSION_TIMEOUT_MS: String(opts.sessionTimeoutMs),
  AEMON_KAFKA_COMMIT_INTERVAL_MS: '500',
  // Each instance scores with the model it was given; no model is published between them.
  AEMON_KAFKA_MODELS_TOPIC: '',
  AEMON_LOG_LEVEL: 'info',
};

const workDir = mkdtempSync(join(tmpdir(), 'aemon-chaos-'));
log(`work dir ${workDir} (aemon logs, model); load average ${(await loadAverage()).join(' ')}`);
log('starting the Kafka broker…');
const broker = await launchBroker();
log(`broker ${broker.brokers.join(',')} ready`);

const trainStart = Date.parse('2026-01-01T00:00:00Z');
const trainSeconds = 40;
// The model only has to be the same for every run, not good: a few epochs on a small sample, kept
// in .cache between runs of the suite (delete it to train again).
const modelDir = join(ROOT, '.cache/chaos', `model-s${opts.sensors}-r${opts.rateHz}-seed${opts.seed}-w16`);
if (existsSync(modelDir) && readdirSync(modelDir).length > 0) log(`using the model in ${modelDir}`);
else {
  log('training the shared model (aemon simulate, aemon train)…');
  const trainEnv = { ...SETTINGS, AEMON_MODEL_EPOCHS: '3', AEMON_TRAINING_MAX_WINDOWS: '1000' };
  sh(
    process.execPath,
    [
      BIN,
      'simulate',
      '--sensors',
      String(opts.sensors),
      '--rate',
      String(opts.rateHz),
      '--duration',
      `${trainSeconds}s`,
      '--seed',
      String(opts.seed),
      '--out',
      join(workDir, 'train.ndjson'),
    ],
    trainEnv,
  );
  rmSync(modelDir, { recursive: true, force: true });
  mkdirSync(dirname(modelDir), { recursive: true });
  sh(process.execPath, [BIN, 'train', join(workDir, 'train.ndjson'), '--out', modelDir], trainEnv);
}

const random = seededRandom(opts.seed);
const ctx: SuiteContext = {
  broker,
  workDir,
  modelDir,
  sensors: opts.sensors,
  rateHz: opts.rateHz,
  seed: opts.seed,
  feedStartMs: trainStart + trainSeconds * 1000,
  env: SETTINGS,
  exactlyOnce: opts.exactlyOnce,
  random,
  log,
};

const stallMs = opts.sessionTimeoutMs + 8_000;
const plans: Record<ScenarioName, { instances: number; inject: FaultInjector }> = {
  control: { instances: 1, inject: noFault },
  'broker-kill': { instances: 1, inject: brokerKills(20, 40) },
  'aemon-kill': { instances: 1, inject: aemonKills(15, 30) },
  'group-churn': { instances: 3, inject: groupChurn(3, 30) },
  stall: { instances: 2, inject: stall(stallMs) },
};

const scenarios: ScenarioResult[] = [];
let soak: SoakResult | undefined;
let failure: Error | undefined;
try {
  for (const name of opts.scenarios) {
    // The control only has to show that a live run and the fault-free run agree: half as long.
    const durationMs = name === 'control' ? opts.scenarioMs / 2 : opts.scenarioMs;
    log(`scenario ${name}: ${durationMs / 1000} s of feed (${opts.sensors} sensors × ${opts.rateHz} Hz) and faults`);
    const r = await runScenario(ctx, { name, durationMs, ...plans[name] });
    scenarios.push(r);
    log(
      `scenario ${name}: ${r.ok ? 'ok' : 'FAILED'} in ${r.seconds} s; ${JSON.stringify({ ...r, detail: undefined })}`,
    );
    if (!r.ok)
      log(
        `  ${name} examples: ${JSON.stringify(Object.fromEntries(Object.entries(r.detail).map(([k, v]) => [k, typeof v === 'object' ? v.examples : v])))}`,
      );
  }
  if (opts.soakMs > 0) {
    log(
      `soak: ${opts.soakSensors} sensors × 1 Hz for ${opts.soakMs / 60_000} min, sampled every ${opts.soakSampleMs / 1000} s`,
    );
    soak = await runSoak(ctx, { sensors: opts.soakSensors, durationMs: opts.soakMs, sampleMs: opts.soakSampleMs });
  }
} catch (err) {
  failure = err as Error;
  log(`the suite stopped: ${failure.stack ?? failure.message}`);
} finally {
  await broker.stop();
}

const load = await loadAverage();
const out = process.stdout;
if (scenarios.length > 0)
  out.write(`\nFault scenarios (each against a fault-free run of the same input)\n${scenarioTable(scenarios)}\n`);
if (soak) out.write(`\nSoak\n${soakTable(soak)}\n`);
out.write(
  `\nwall time ${((Date.now() - t0) / 60_000).toFixed(1)} min; load average at the end ${load.join(' ')}; logs in ${workDir}\n`,
);
if (opts.json) {
  writeFileSync(
    opts.json,
    JSON.stringify(
      {
        scenarios,
        soak: soak ?? null,
        machine: { cpus: (await import('node:os')).cpus().length, loadAverage: load },
      },
      null,
      2,
    ) + '\n',
  );
}
process.exit(failure || scenarios.some((s) => !s.ok) || soak?.exited ? 1 : 0);

async function loadAverage(): Promise<string[]> {
  const { loadavg } = await import('node:os');
  return loadavg().map((x) => x.toFixed(2));
}
