import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GroupTrainingConfig } from './fit-group.js';
import type { TrainingJob } from './retrain.js';

const JOB_JSON = 'job.json';
const WINDOWS_BIN = 'windows.f32';

interface JobFile {
  group: string;
  channels: string[];
  config: GroupTrainingConfig;
  backend: string;
  kernel: string;
  windowLength: number;
  sensors: Array<{ sensor: string; windows: number; rows: number; first: number; last: number }>;
}

/** Writes a training job into `dir` for the trainer child process: job.json and the raw values. */
export function writeJob(
  dir: string,
  job: TrainingJob,
  config: GroupTrainingConfig,
  backend: string,
  kernel: string,
): void {
  const windowLength = config.windowing.size * job.channels.length;
  const parts: Float32Array[] = [];
  const sensors = job.data.map((d) => {
    parts.push(d.rows, ...d.windows);
    return { sensor: d.sensor, windows: d.windows.length, rows: d.rows.length, first: d.first, last: d.last };
  });
  const total = parts.reduce((s, p) => s + p.length, 0);
  const all = new Float32Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const file: JobFile = {
    group: job.group,
    channels: [...job.channels],
    config,
    backend,
    kernel,
    windowLength,
    sensors,
  };
  writeFileSync(join(dir, WINDOWS_BIN), Buffer.from(all.buffer, all.byteOffset, all.byteLength));
  writeFileSync(join(dir, JOB_JSON), JSON.stringify(file));
}

/** Reads what {@link writeJob} wrote. */
export function readJob(dir: string): {
  job: TrainingJob;
  config: GroupTrainingConfig;
  backend: string;
  kernel: string;
} {
  const file = JSON.parse(readFileSync(join(dir, JOB_JSON), 'utf8')) as JobFile;
  const bytes = readFileSync(join(dir, WINDOWS_BIN));
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  let at = 0;
  const take = (n: number): Float32Array => {
    const out = all.subarray(at, at + n);
    at += n;
    return out;
  };
  const data = file.sensors.map((s) => {
    const rows = take(s.rows);
    const windows = Array.from({ length: s.windows }, () => take(file.windowLength));
    return { sensor: s.sensor, rows, windows, first: s.first, last: s.last };
  });
  if (at !== all.length) throw new Error(`training job in ${dir}: ${all.length} values, ${at} described`);
  return {
    job: { group: file.group, channels: file.channels, data },
    config: file.config,
    backend: file.backend,
    kernel: file.kernel,
  };
}
