import type { Command } from 'commander';
import { AemonError } from '../errors.js';
import { ModelRegistry } from '../model/registry.js';
import type { Logger } from '../observability/logger.js';
import { formatTable } from '../evaluation/table.js';
import { commandConfig } from './common.js';

/**
 * The registry at `dir` for a command that scores with it (`replay --model`): one holding no
 * model is an error, not a silent bootstrap.
 */
export async function registryWithModels(dir: string, keep: number, log?: Logger): Promise<ModelRegistry> {
  const registry = new ModelRegistry({ root: dir, keep, ...(log ? { log } : {}) });
  if ((await registry.groups()).length === 0) {
    throw new AemonError(
      'AEMON_MODEL_IO',
      `${dir} holds no model (no model folder, no registry); make one with \`aemon train <data> --out ${dir}\``,
      { stage: 'startup' },
    );
  }
  return registry;
}

interface DirFlags {
  dir?: string;
  config?: string;
}

function openRegistry(flags: DirFlags): ModelRegistry {
  const cfg = commandConfig(flags.config, flags.dir ? { model: { dir: flags.dir } } : {});
  if (!cfg.model.dir) {
    throw new AemonError('AEMON_USAGE', 'no model registry: pass --dir DIR or set model.dir (AEMON_MODEL_DIR)', {
      stage: 'cli',
    });
  }
  return new ModelRegistry({ root: cfg.model.dir, keep: cfg.model.keep });
}

const day = (iso: string | null): string => (iso ? iso.slice(0, 19).replace('T', ' ') : '—');

async function list(flags: DirFlags & { json?: boolean; group?: string }): Promise<void> {
  const registry = openRegistry(flags);
  const entries = await registry.list(flags.group);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
    return;
  }
  if (entries.length === 0) {
    process.stdout.write(`${registry.root} holds no model yet\n`);
    return;
  }
  const rows = entries.map((e) => [
    e.current ? '*' : '',
    e.group,
    e.version,
    day(e.createdAt),
    e.layout === 'legacy' ? '(before the registry)' : day(e.promotedAt),
    String(e.trainingWindows),
    `${day(e.dataFrom)} – ${day(e.dataTo)}`,
    e.problem ? `unreadable: ${e.problem}` : (e.reason ?? ''),
  ]);
  process.stdout.write(formatTable(['', 'group', 'version', 'created', 'promoted', 'windows', 'data', 'note'], rows));
  process.stdout.write(`\n* current version of its group; registry ${registry.root}\n`);
}

async function show(version: string, flags: DirFlags & { group?: string; json?: boolean }): Promise<void> {
  const registry = openRegistry(flags);
  const { entry, metadata, checksum } = await registry.inspect(version, flags.group);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ ...entry, checksum, metadata }, null, 2)}\n`);
    return;
  }
  const fit = metadata?.fit;
  const lines = [
    `version       ${entry.version}${entry.current ? '  (current)' : ''}`,
    `group         [${entry.group}]`,
    `folder        ${entry.dir}`,
    `checksums     ${checksum}`,
    `created       ${day(entry.createdAt)}`,
    `promoted      ${entry.layout === 'legacy' ? '(a model folder from before the registry)' : day(entry.promotedAt)}${entry.reason ? `  (${entry.reason})` : ''}`,
    `data          ${day(entry.dataFrom)} – ${day(entry.dataTo)}, ${entry.trainingWindows} windows`,
    `sensors       ${entry.sensors}`,
  ];
  if (metadata) {
    const p = metadata.params;
    lines.push(
      `model         window ${p.windowSize} × ${p.channels} channels, ${p.units} units × ${p.depth}, loss ${p.loss}, seed ${p.seed}`,
    );
  }
  if (fit) {
    lines.push(
      `fit           ${fit.epochs} epochs (best ${fit.bestEpoch}${fit.stoppedEarly ? ', stopped early' : ''}) in ${fit.seconds.toFixed(1)} s`,
    );
    lines.push(
      `loss          ${fit.loss.at(-1)?.toPrecision(4) ?? '—'} (train), ${fit.valLoss.at(-1)?.toPrecision(4) ?? '—'} (validation)`,
    );
  }
  lines.push(`gate          ${entry.gate === undefined ? '—' : JSON.stringify(entry.gate)}`);
  if (entry.problem) lines.push(`problem       ${entry.problem}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function rollback(flags: DirFlags & { group?: string; to?: string }): Promise<void> {
  const registry = openRegistry(flags);
  const before = (await registry.list(flags.group)).filter((e) => e.current);
  const entry = await registry.rollback(flags.group, flags.to);
  const from = before.find((e) => e.group === entry.group)?.version;
  process.stdout.write(
    `[${entry.group}] now at ${entry.version}${from ? ` (was ${from})` : ''}; a running aemon picks it up at its next start, or at once through its admin port (POST /models/rollback)\n`,
  );
}

export function registerModels(program: Command): void {
  const models = program
    .command('models')
    .description('the model registry (model.dir): list versions, show one, roll a model group back')
    .addHelpText(
      'after',
      '\nLayout: DIR/<group>/<version>/ (a model folder) and DIR/<group>/CURRENT (the current version).\n' +
        "A model folder from before the registry (DIR itself or DIR/<group>/) is read as its group's current version.\n\n" +
        'Examples:\n  aemon models list --dir models/\n  aemon models show m-3f2a9c1b0d --dir models/\n  aemon models rollback --dir models/\n',
    );
  models
    .command('list')
    .description('every version, newest first per model group; * marks the current one')
    .option('--dir <dir>', 'the registry (default: model.dir, AEMON_MODEL_DIR)')
    .option('--group <group>', 'only this model group (its channels, or its folder name)')
    .option('--json', 'the list as JSON (what GET /models on the admin port answers)')
    .option('-c, --config <file>', 'config file (YAML or JSON) giving model.dir')
    .action(async (flags: DirFlags & { json?: boolean; group?: string }) => list(flags));
  models
    .command('show')
    .description('one version: data range, sizes, losses, gate results, sensors, checksum status')
    .argument('<version>', 'a version id (e.g. m-3f2a9c1b0d) or a unique prefix of one')
    .option('--dir <dir>', 'the registry (default: model.dir, AEMON_MODEL_DIR)')
    .option('--group <group>', 'the model group, if the version id is ambiguous')
    .option('--json', 'the entry, checksum status and full metadata as JSON')
    .option('-c, --config <file>', 'config file (YAML or JSON) giving model.dir')
    .action(async (version: string, flags: DirFlags & { group?: string; json?: boolean }) => show(version, flags));
  models
    .command('rollback')
    .description('make the version before the current one (or --to VERSION) current; its checksums are verified first')
    .option('--dir <dir>', 'the registry (default: model.dir, AEMON_MODEL_DIR)')
    .option('--group <group>', 'the model group (optional when the registry holds one)')
    .option('--to <version>', 'the version to make current (default: the one before the current)')
    .option('-c, --config <file>', 'config file (YAML or JSON) giving model.dir')
    .addHelpText(
      'after',
      '\nA version whose files do not match their checksums is refused and CURRENT stays as it was.\n' +
        'A running aemon reads CURRENT at start; POST /models/rollback on its admin port switches it at once.\n',
    )
    .action(async (flags: DirFlags & { group?: string; to?: string }) => rollback(flags));
}
