#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { AemonError, describeError } from '../errors.js';
import { registerDemo } from './demo.js';
import { registerEvaluate } from './evaluate.js';
import { registerInspect } from './inspect.js';
import { registerModels } from './models.js';
import { registerReplay } from './replay.js';
import { registerRun } from './run.js';
import { registerSimulate } from './simulate.js';
import { registerTrain } from './train.js';
import { registerTrainJob } from './train-job.js';

// `aemon … | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command('aemon')
  .description(
    'aemon (AutoEncoder MONitor): scores sensor streams by the reconstruction error of an LSTM autoencoder,\n' +
      'decides per sensor whether it is anomalous, and exports it all to Prometheus.',
  )
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    '\nSettings come from a config file (-c), then AEMON_* environment variables (e.g. AEMON_METRICS_PORT=9100),\n' +
      'then flags. See docs/configuration.md for every setting.\n' +
      'Benchmarks are not a command of the package: run `npm run bench` in a checkout of the repository (docs/performance.md).\n',
  );
registerRun(program);
registerInspect(program);
registerTrainJob(program);
registerDemo(program);
registerReplay(program);
registerSimulate(program);
registerTrain(program);
registerModels(program);
registerEvaluate(program);

program.exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`aemon: ${describeError(err)}\n`);
    const usage =
      err instanceof AemonError &&
      (err.code === 'AEMON_USAGE' || err.code === 'AEMON_CONFIG_INVALID' || err.code === 'AEMON_CONFIG_READ');
    process.exitCode = usage ? 2 : 1;
  }
}
