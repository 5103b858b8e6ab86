import type { Command } from 'commander';
import type { BackendPreference } from '../model/backend.js';
import { selectBackend } from '../model/backend.js';
import { createAutoencoder } from '../model/autoencoder.js';
import type { KernelPreference } from '../model/kernels/kernel.js';
import { exportArtifacts, modelVersion, saveModelFolder } from '../model/io.js';
import { trainGroup } from '../training/fit-group.js';
import { readJob } from '../training/job.js';

/**
 * The retraining child process (`aemon train-job <dir> --out <model dir>`, not listed in --help):
 * trains one challenger from a job written by the running aemon, saves it as a model folder and
 * reports progress as JSON lines on stdout, so training never runs on the scoring thread.
 */
async function trainJob(dir: string, flags: { out: string }): Promise<void> {
  const { job, config, backend: wanted, kernel } = readJob(dir);
  const { tf, backend } = await selectBackend(wanted as BackendPreference);
  const say = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  const bundle = await trainGroup(job.group, job.channels, job.data, config, {
    createModel: async (params) =>
      createAutoencoder(tf, backend, params, {
        kernel: kernel as KernelPreference,
        lstmOp: config.model.lstmOp,
        simdTraining: config.model.simdTraining,
      }),
    versionOf: async (model) => {
      const { weights, topology } = await exportArtifacts(model);
      return modelVersion(weights, topology);
    },
    onStart: (windows, sensors) => say({ start: { windows, sensors, backend } }),
    onEpoch: (p) => say({ epoch: p }),
  });
  await saveModelFolder(flags.out, bundle);
  say({ done: { version: bundle.metadata.version } });
}

export function registerTrainJob(program: Command): void {
  program
    .command('train-job <dir>', { hidden: true })
    .description('internal: train one challenger model from a retraining job (run by aemon itself)')
    .requiredOption('--out <dir>', 'model folder to write')
    .action(async (dir: string, flags: { out: string }) => trainJob(dir, flags));
}
