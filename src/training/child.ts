import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { EpochProgress, ModelBundle } from '../pipeline/model.js';
import { writeJob } from './job.js';
import type { TrainingJob } from './retrain.js';

/**
 * The training child protocol, parent side. The child (`aemon train-job <dir> --out <dir>`,
 * src/cli/train-job.ts) reads the job from the folder, writes one JSON object per line on stdout
 * (`{"epoch": …}` among them) and the model folder it trained.
 */
export interface ChildTraining {
  cfg: Readonly<Config>;
  /** The backend the child trains on (this process's). */
  backend: string;
  /** aemon's CLI entry point, run with this process's Node and flags. */
  cli: string;
  /** Loads the model folder the child wrote (checksums verified) on this process's backend. */
  load(dir: string): Promise<ModelBundle>;
}

/** Epoch progress lines of a child's stdout, as chunks arrive. */
function progressLines(onEpoch: (p: EpochProgress) => void): (chunk: Buffer) => void {
  let buf = '';
  return (d) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const msg = JSON.parse(line) as { epoch?: EpochProgress };
        if (msg.epoch) onEpoch(msg.epoch);
      } catch {
        // not a progress line
      }
    }
  };
}

/**
 * Trains a challenger in a child process, so training never holds up the scoring thread: the
 * job goes through a temporary folder, epochs come back as JSON lines, and the model folder it
 * writes is loaded by `load`.
 */
export async function trainInChild(
  job: TrainingJob,
  child: ChildTraining,
  onEpoch: (p: EpochProgress) => void,
  signal: AbortSignal,
): Promise<ModelBundle> {
  const { cfg, backend } = child;
  const dir = mkdtempSync(join(tmpdir(), 'aemon-retrain-'));
  try {
    writeJob(
      dir,
      job,
      { model: cfg.model, training: cfg.training, detection: cfg.detection, windowing: cfg.windowing },
      backend,
      cfg.model.kernel,
    );
    const out = join(dir, 'model');
    const stderr: string[] = [];
    const code = await new Promise<number | null>((resolve, reject) => {
      // The signal (a shutdown) stops the child: it must not outlive the process that started it.
      const proc = spawn(process.execPath, [...process.execArgv, child.cli, 'train-job', dir, '--out', out], {
        stdio: ['ignore', 'pipe', 'pipe'],
        signal,
        killSignal: 'SIGKILL',
      });
      proc.stdout.on('data', progressLines(onEpoch));
      proc.stderr.on('data', (d: Buffer) => {
        stderr.push(d.toString());
        if (stderr.length > 50) stderr.shift();
      });
      proc.on('error', (err) => (signal.aborted ? resolve(null) : reject(err)));
      proc.on('close', resolve);
    });
    if (signal.aborted) throw new Error('retraining stopped: aemon is shutting down');
    if (code !== 0) throw new Error(`the training process exited with ${code}: ${stderr.join('').trim().slice(-1000)}`);
    return await child.load(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
