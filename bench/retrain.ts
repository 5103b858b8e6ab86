import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.js';
import { CLI } from '../src/main.js';
import { writeJob } from '../src/training/job.js';
import { benchPipeline } from './pipeline.js';

/** Reading→score latency of the pipeline with and without a retraining running beside it. */
export interface RetrainRow {
  name: 'scoring-while-training';
  sensors: number;
  /** `none`, or `child process` while `aemon train-job` trains a challenger. */
  training: 'none' | 'child process';
  readingsPerSecond: number;
  p50Seconds: number;
  p99Seconds: number;
  engine: string;
}

/**
 * The pipeline bench at `sensors` sensors, once alone and once while a retraining child process
 * trains a challenger (4 channels, 2,000 windows of 32, many epochs, so it outlasts the run).
 */
export async function benchWhileTraining(
  sensors: number,
  readingsPerSensor: number,
  log: (s: string) => void,
): Promise<RetrainRow[]> {
  const row = (r: Awaited<ReturnType<typeof benchPipeline>>, training: RetrainRow['training']): RetrainRow => ({
    name: 'scoring-while-training',
    sensors,
    training,
    readingsPerSecond: r.readingsPerSecond,
    p50Seconds: r.p50Seconds,
    p99Seconds: r.p99Seconds,
    engine: r.engine,
  });
  log(`scoring while training: ${sensors} sensors, no training…\n`);
  const alone = row(await benchPipeline(sensors, readingsPerSensor), 'none');

  const dir = mkdtempSync(join(tmpdir(), 'aemon-bench-retrain-'));
  const cfg = parseConfig({ windowing: { size: 32 }, model: { epochs: 1000, patience: 1000 } });
  let s = 1;
  const rnd = (): number => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const windows = Array.from({ length: 2000 }, () => Float32Array.from({ length: 32 * 4 }, rnd));
  const rows = new Float32Array(windows.length * 32 * 4);
  windows.forEach((w, i) => rows.set(w, i * w.length));
  writeJob(
    dir,
    { group: 'a,b,c,d', channels: ['a', 'b', 'c', 'd'], data: [{ sensor: 'bench', rows, windows, first: 0, last: 1 }] },
    cfg,
    cfg.model.backend,
    cfg.model.kernel,
  );
  const child = spawn(process.execPath, [...process.execArgv, CLI, 'train-job', dir, '--out', join(dir, 'model')], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let exited = false;
  const done = new Promise<void>((resolve) => child.on('close', () => ((exited = true), resolve())));
  try {
    // Measure only once the child is past its start-up and fitting.
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('"epoch"')) resolve();
      });
      void done.then(() => reject(new Error('the training process ended before its first epoch')));
    });
    log(`scoring while training: ${sensors} sensors, a challenger training in a child process…\n`);
    const beside = row(await benchPipeline(sensors, readingsPerSensor), 'child process');
    if (exited) throw new Error('the training process ended before the measurement did');
    return [alone, beside];
  } finally {
    child.kill('SIGKILL');
    await done;
    rmSync(dir, { recursive: true, force: true });
  }
}
