import { createWriteStream, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import type { Command } from 'commander';
import { lastValueFrom, tap, defaultIfEmpty } from 'rxjs';
import { simulatorSource } from '../sources/simulator.js';
import { commandConfig, defined, parseDuration, parseInteger, parsePositiveInt } from './common.js';

interface SimulateFlags {
  config?: string;
  sensors?: string;
  rate?: string;
  duration?: string;
  seed?: string;
  start?: string;
  out?: string;
  labels?: string;
  realtime?: boolean;
}

async function simulate(flags: SimulateFlags): Promise<void> {
  const cfg = commandConfig(flags.config, {
    simulator: defined({
      sensors: flags.sensors === undefined ? undefined : parsePositiveInt(flags.sensors, '--sensors'),
      rateHz: flags.rate === undefined ? undefined : Number(flags.rate),
      seed: flags.seed === undefined ? undefined : parseInteger(flags.seed, '--seed'),
      start: flags.start,
    }),
  });
  const sim = cfg.simulator;
  const durationMs = parseDuration(flags.duration ?? '1h');
  const startMs = sim.start ? Date.parse(sim.start) : Date.parse('2026-01-01T00:00:00.000Z');
  const out = flags.out ? createWriteStream(flags.out) : process.stdout;
  // A slow consumer (a pipe, a disk) pauses the simulator: it awaits `ready()` between ticks.
  let draining: Promise<void> | undefined;
  const flow = { ready: () => draining };
  const { records$, simulator } = simulatorSource(sim, { startMs, durationMs, realtime: flags.realtime ?? false, flow });
  let n = 0;
  await lastValueFrom(
    records$.pipe(
      tap((rec) => {
        n++;
        const line = `${typeof rec.raw === 'string' ? rec.raw : Buffer.from(rec.raw).toString('utf8')}\n`;
        if (!out.write(line) && !draining) {
          draining = once(out, 'drain').then(() => {
            draining = undefined;
          });
        }
        rec.ack();
      }),
      defaultIfEmpty(undefined),
    ),
  );
  if (out !== process.stdout) {
    out.end();
    await once(out, 'finish');
  }
  if (flags.labels) writeFileSync(flags.labels, JSON.stringify(simulator.injections, null, 2) + '\n');
  process.stderr.write(`${n} readings of ${sim.sensors} sensors, ${simulator.injections.length} anomalies injected${flags.labels ? ` (labels in ${flags.labels})` : ''}\n`);
}

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('synthetic multichannel sensors with injected, labelled anomalies → NDJSON readings')
    .option('-c, --config <file>', 'config file (YAML or JSON): simulator.*')
    .option('--sensors <n>', 'sensors (default 5)')
    .option('--rate <hz>', 'readings per second per sensor, event time (default 1)')
    .option('--duration <time>', 'event time to simulate, e.g. 1h, 90m (default 1h)')
    .option('--seed <n>', 'seed: the same seed gives the same readings and anomalies (default 1)')
    .option('--start <iso>', 'event time of the first reading (default 2026-01-01T00:00:00Z)')
    .option('--out <file>', 'write readings here (default stdout)')
    .option('--labels <file>', 'write the injected anomalies (sensor, kind, channels, start, end) as JSON')
    .option('--realtime', 'pace readings by the wall clock (simulator.speedup times faster)')
    .addHelpText('after', '\nExample:\n  aemon simulate --sensors 3 --duration 2h --seed 7 --out sim.ndjson --labels sim.labels.json\n  aemon replay sim.ndjson --train-first 600 --out sim.scores.csv\n')
    .action(async (flags: SimulateFlags) => simulate(flags));
}
