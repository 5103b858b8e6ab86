import type { Command } from 'commander';
import { AemonError } from '../errors.js';
import { createEngine } from '../main.js';
import { ModelRegistry } from '../model/registry.js';
import { fileSource } from '../sources/file.js';
import { commandConfig, commandLogger } from './common.js';
import { TrainingProgress } from './progress.js';

interface TrainFlags {
  config?: string;
  verbose?: boolean;
  out: string;
  format?: 'auto' | 'nab' | 'skab' | 'ndjson' | 'csv';
}

/** Every reading of the input is taken as normal: the bootstrap period is the whole input. */
const ALL = 2 ** 30;

async function train(input: string, flags: TrainFlags): Promise<void> {
  const cfg = commandConfig(flags.config, { training: { bootstrapReadings: ALL } });
  const log = commandLogger(cfg, flags.verbose);
  const progress = new TrainingProgress(process.stderr);
  const engine = await createEngine(cfg, {
    mode: 'replay',
    log,
    hooks: {
      onTrainingStart: (group, windows, sensors) =>
        process.stderr.write(`training [${group}] on ${windows} windows of ${sensors} sensor(s)\n`),
      onEpoch: (_group, p) => progress.epoch('training', p),
      onFailed: () => progress.abandon(),
      onTrained: (bundle, seconds) =>
        progress.done(`model ${bundle.metadata.version} trained in ${seconds.toFixed(1)} s`),
    },
  });
  const stats = await engine.run(fileSource(input, { format: flags.format ?? 'auto', flow: engine.gate }), []);
  await engine.trainer.flush();
  const bundles = engine.trainer.models();
  if (bundles.length === 0) {
    throw new AemonError(
      'AEMON_TRAINING',
      `no model could be trained from ${input}: ${stats.readings} readings, fewer than a window (${cfg.windowing.size}) per sensor?`,
      { stage: 'training' },
    );
  }
  const registry = new ModelRegistry({ root: flags.out, keep: cfg.model.keep, log });
  for (const bundle of bundles) {
    const entry = await registry.promote(bundle, { reason: `aemon train ${input}` });
    process.stdout.write(
      `saved model ${entry.version} (channels ${entry.group}, ${entry.sensors} sensors) to ${entry.dir}; current in ${registry.root}\n`,
    );
  }
  const rejected = Object.values(stats.rejected).reduce((a, b) => a + (b ?? 0), 0);
  if (rejected > 0) process.stderr.write(`${rejected} records were rejected and not trained on\n`);
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('fit a model on data taken as normal (a file or folder) and promote it in a model registry')
    .argument('<path>', 'a file or folder of readings, all taken as normal')
    .requiredOption(
      '--out <dir>',
      'model registry to promote the model into (created if missing; one folder per channel set, one version folder per model)',
    )
    .option('-c, --config <file>', 'config file (YAML or JSON): model.* and windowing.* shape the model')
    .option('--verbose', 'JSON logs on stderr at the configured level (default: warnings only)')
    .option('--format <format>', 'auto | nab | skab | csv | ndjson')
    .addHelpText(
      'after',
      '\nTraining into the same --out again adds a version and makes it current; `aemon models list|rollback --dir DIR` show and undo that.\n' +
        '\nExample:\n  aemon train ../shared/datasets/skab/anomaly-free/anomaly-free.csv --out models/skab\n  aemon replay ../shared/datasets/skab/valve1 --model models/skab --out scores.csv\n',
    )
    .action(async (input: string, flags: TrainFlags) => train(input, flags));
}
