/**
 * Proof that a restructure did not change behaviour: `record DIR` runs a fixed corpus of aemon
 * commands and keeps their outputs in DIR; `check DIR` runs the same corpus again and compares
 * every output with the recorded one, byte for byte (evaluation JSON: equal once its wall-clock
 * fields are taken out).
 *
 *   npm run check:same-output record DIR [options]   (on the code before the change)
 *   npm run check:same-output check DIR [options]    (after it: "N identical, M different")
 *
 * Options:
 *   --backend wasm|tensorflow  the model backend of every run (default wasm; tensorflow is
 *                              tfjs-node, see `npm run tfjs-node:from-wheel`). A check refuses a
 *                              corpus recorded on another backend.
 *   --root DIR                 run the aemon CLI of another checkout (DIR/src/cli/index.ts with
 *                              tsx, in DIR), so that this one script records the corpus of an
 *                              older commit: `git worktree add --detach ../old <commit>`, link
 *                              node_modules into it, `record out --root ../old`, then `check out`
 *                              here (or `--root` the newer checkout).
 *   --decision-key             the decision-layer variants choose their layer with
 *                              `detection.decision` instead of the older per-layer `enabled`
 *                              flags, to show that the two spellings decide alike.
 *   --only NAME                only the runs whose name contains NAME (and the runs they need).
 *
 * The corpus (scripts/same-output-corpus.ts): every SKAB file under the data set (found by
 * walking the folder) and ten NAB files, each replayed with training on its first rows; the
 * decision layers and their refinements on one SKAB and one NAB file with a model trained once
 * per channel set, and the layers kernel; a simulated stream (a seeded simulator file,
 * replayed); `evaluate skab` over every SKAB file and `evaluate nab` over the ten NAB files. Data
 * is read where it lies (../shared/datasets, or SAME_OUTPUT_DATA), never copied into the
 * repository. A small model and two epochs: CPU is what it costs. Each run's seconds and the
 * total are printed: 54 runs in 14.5 minutes on WASM here, 2 cores under a load of about 15;
 * most of a run is starting aemon, so `--only evaluate` (both benchmarks, every file, one process
 * each) is the quick form, about 3 minutes.
 *
 * `aemon demo --duration 180s --seed 1 --summary` is not in the corpus: its summary is not
 * deterministic. The simulator starts at the wall clock and is paced by it, and training runs
 * beside the stream, so readings, windows scored, the injections' timestamps, what was detected
 * and the training and duration seconds all differ between two runs of one commit (two runs
 * here: 15,090 and 12,905 readings, 7 and 5 anomalies injected, different model versions). The
 * simulated stream replayed at full speed is its deterministic stand-in: the same simulator, the
 * same seed, the same pipeline.
 *
 * Every variable the corpus sets must be a setting of the checkout it runs (an unknown `AEMON_`
 * variable is a config error): before the first run they are looked up in its generated config
 * reference (docs/configuration.md), and a missing one stops the corpus naming it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE, corpus, linkNabSubset, type Env, type Run } from './same-output-corpus.js';

const HERE = fileURLToPath(new URL('..', import.meta.url));

interface Options {
  backend: 'wasm' | 'tensorflow';
  root: string;
  decisionKey: boolean;
  only: string | undefined;
}

/** The data sets beside this checkout: every root reads the same files by the same paths. */
function dataDir(root: string): string {
  // Beside the checkout (../shared), or beside the folder of worktrees it is one of.
  return (
    process.env.SAME_OUTPUT_DATA ??
    ['../shared/datasets', '../../shared/datasets'].map((p) => resolve(root, p)).find((p) => existsSync(p)) ??
    resolve(root, '../shared/datasets')
  );
}

function aemon(opts: Options, args: string[], env: Env): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(opts.root, 'src/cli/index.ts'), ...args], {
      cwd: opts.root,
      env: { ...process.env, ...BASE, AEMON_MODEL_BACKEND: opts.backend, ...env },
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

/** The corpus' variables that the checkout's config does not know (its generated reference names every one). */
function unknownSettings(root: string, runs: readonly Run[]): string[] {
  const reference = join(root, 'docs/configuration.md');
  if (!existsSync(reference)) throw new Error(`${reference} is missing: cannot tell which settings ${root} knows`);
  const known = new Set(readFileSync(reference, 'utf8').match(/AEMON_[A-Z0-9_]+/g));
  const used = new Set([...Object.keys(BASE), 'AEMON_MODEL_BACKEND', ...runs.flatMap((r) => Object.keys(r.env ?? {}))]);
  return [...used].filter((k) => !known.has(k)).sort();
}

async function runCorpus(out: string, opts: Options): Promise<Run[]> {
  const data = dataDir(HERE);
  const skab = join(data, 'skab');
  const nab = join(data, 'nab');
  for (const p of [skab, join(nab, 'data')])
    if (!existsSync(p)) throw new Error(`no data set at ${p} (set SAME_OUTPUT_DATA)`);
  const all = corpus({ skab, nab, decisionKey: opts.decisionKey });
  const runs = all.filter((r) => opts.only === undefined || r.prerequisite === true || r.name.includes(opts.only));
  const unknown = unknownSettings(opts.root, all);
  if (unknown.length > 0)
    throw new Error(`${opts.root} has no setting ${unknown.join(', ')}: the corpus cannot run there`);
  mkdirSync(out, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'aemon-same-output-'));
  const t0 = performance.now();
  try {
    linkNabSubset(nab, join(work, 'nab-subset'));
    for (const [i, run] of runs.entries()) {
      const t = performance.now();
      const args = run.args.map((a) => a.replaceAll('{out}', out).replaceAll('{work}', work));
      const result = await aemon(opts, args, run.env ?? {});
      const seconds = ((performance.now() - t) / 1000).toFixed(1);
      if (result.code !== 0)
        throw new Error(`${run.name}: aemon ${args.join(' ')} exited with ${result.code}:\n${result.stderr}`);
      const deprecations = result.stderr.split('\n').filter((l) => /deprecated/i.test(l)).length;
      process.stderr.write(
        `[${i + 1}/${runs.length}] ${run.name} (${seconds} s${deprecations ? `, ${deprecations} deprecation warning line(s)` : ''})\n`,
      );
      for (const o of run.outputs.filter((o) => o.endsWith('.json') && o.startsWith('evaluate'))) {
        const json = JSON.parse(readFileSync(join(out, o), 'utf8')) as unknown;
        writeFileSync(join(out, o), JSON.stringify(stable(json), null, 2) + '\n');
      }
    }
    const total = (performance.now() - t0) / 1000;
    process.stderr.write(
      `${runs.length} runs in ${total.toFixed(0)} s (${(total / 60).toFixed(1)} min), backend ${opts.backend}\n`,
    );
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

/** Whether an output is as recorded; evaluation JSON may differ in its echo of the config alone. */
function compare(o: string, a: Buffer, b: Buffer): { same: boolean; note: string } {
  if (a.equals(b)) return { same: true, note: `${a.length} bytes` };
  if (o.endsWith('.json')) {
    // An evaluation echoes the config it ran with: a new config key changes the echo, not
    // the evaluation. Equal scores with a different echo are reported, not failed.
    const [ra, rb] = [a, b].map((x) => JSON.parse(x.toString('utf8')) as Record<string, unknown>);
    const echo = JSON.stringify(ra!['config']) !== JSON.stringify(rb!['config']);
    delete ra!['config'];
    delete rb!['config'];
    if (echo && JSON.stringify(ra) === JSON.stringify(rb))
      return { same: true, note: 'scores equal; its echo of the config differs' };
  }
  return { same: false, note: firstDifference(a.toString('utf8'), b.toString('utf8')) };
}

async function check(recorded: string, opts: Options): Promise<void> {
  if (!existsSync(join(recorded, 'MANIFEST')))
    throw new Error(`${recorded} holds no recorded corpus (run record first)`);
  const meta = JSON.parse(readFileSync(join(recorded, 'META.json'), 'utf8')) as { backend: string; root: string };
  if (meta.backend !== opts.backend)
    throw new Error(`${recorded} was recorded on ${meta.backend}, this check runs ${opts.backend} (--backend)`);
  const fresh = mkdtempSync(join(tmpdir(), 'aemon-same-output-now-'));
  try {
    const runs = await runCorpus(fresh, opts);
    const manifest = new Set(readFileSync(join(recorded, 'MANIFEST'), 'utf8').trim().split('\n'));
    let same = 0;
    const differ: string[] = [];
    for (const o of runs.flatMap((r) => r.outputs)) {
      if (!manifest.has(o)) {
        differ.push(`${o}: not in the recorded corpus`);
        continue;
      }
      const result = compare(o, readFileSync(join(recorded, o)), readFileSync(join(fresh, o)));
      if (result.same) same++;
      else differ.push(`${o}: ${result.note}`);
      process.stdout.write(`${result.same ? 'same   ' : 'DIFFERS'}  ${o} (${result.note})\n`);
    }
    const rerun = new Set(readdirSync(fresh));
    const skipped = [...manifest].filter((o) => !rerun.has(o)).length;
    process.stdout.write(
      `\n${meta.root} (recorded) vs ${opts.root}, ${opts.backend}: ${same} identical, ${differ.length} different` +
        `${skipped ? `, ${skipped} recorded outputs not rerun (--only)` : ''}\n`,
    );
    for (const d of differ) process.stdout.write(`  ${d}\n`);
    if (differ.length > 0) process.exitCode = 1;
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
}

function option(rest: string[], name: string): string | undefined {
  const at = rest.indexOf(name);
  return at >= 0 ? rest[at + 1] : undefined;
}

async function main(): Promise<void> {
  const [command, dir, ...rest] = process.argv.slice(2);
  const backend = option(rest, '--backend') ?? 'wasm';
  if (
    (command !== 'record' && command !== 'check') ||
    dir === undefined ||
    (backend !== 'wasm' && backend !== 'tensorflow')
  ) {
    process.stderr.write(
      'usage: same-output record|check DIR [--backend wasm|tensorflow] [--root CHECKOUT] [--decision-key] [--only NAME]\n',
    );
    process.exit(2);
  }
  const root = resolve(option(rest, '--root') ?? HERE);
  if (!existsSync(join(root, 'src/cli/index.ts')))
    throw new Error(`${root} is no aemon checkout (no src/cli/index.ts)`);
  const opts: Options = { backend, root, decisionKey: rest.includes('--decision-key'), only: option(rest, '--only') };
  const recorded = resolve(dir);
  if (command === 'check') return check(recorded, opts);
  rmSync(recorded, { recursive: true, force: true });
  const runs = await runCorpus(recorded, opts);
  const files = runs.flatMap((r) => r.outputs);
  writeFileSync(join(recorded, 'MANIFEST'), files.join('\n') + '\n');
  writeFileSync(join(recorded, 'META.json'), JSON.stringify({ backend, root, decisionKey: opts.decisionKey }) + '\n');
  process.stdout.write(`recorded ${files.length} outputs of ${runs.length} runs in ${recorded}\n`);
}

await main();
