import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { simulatorSettings, type Config } from '../config/schema.js';
import { createEngine, liveViewFor, serveMetrics, type EngineHooks } from '../main.js';
import { createLogger } from '../observability/logger.js';
import type { AnomalyEvent, PipelineOutput, Sink } from '../pipeline/contracts.js';
import { consoleSink } from '../sinks/console.js';
import { dlqLogSink } from '../sinks/dlq.js';
import { metricsSink } from '../sinks/prometheus.js';
import { simulatorSource, type Injection } from '../sources/simulator.js';
import { commandConfig, defined, parseDuration, parseInteger, parsePositiveInt } from './common.js';
import { TrainingProgress } from './progress.js';

interface DemoFlags {
  config?: string;
  duration?: string;
  sensors?: string;
  seed?: string;
  summary?: string;
  port?: string;
  speedup?: string;
  retrainEvery?: string;
  verbose?: boolean;
}

export interface DemoSummary {
  durationSeconds: number;
  sensors: number;
  backend: string;
  modelVersion: string | null;
  trainingSeconds: number | null;
  /** Training runs: the bootstrap model and every retraining (promoted, rejected or failed). */
  trainingRuns: number;
  retrainings: { promoted: number; rejected: number; failed: number };
  readings: number;
  windowsScored: number;
  rejected: number;
  injected: number;
  detected: number;
  falseAlarms: number;
  /** False alarms per hour of scored event time per sensor (from the first scored window on). */
  falseEventsPerSensorHour: number | null;
  /** False alarms that opened before the first injected anomaly. */
  falseAlarmsBeforeFirstInjection: number;
  anomaliesOpened: number;
  injections: Array<Injection & { detected: boolean }>;
}

/**
 * An injected anomaly counts as detected when an anomaly event of its sensor opens during it —
 * or while windows still hold its readings (up to one window span after it ended). Any other
 * opened event is a false alarm.
 */
export function matchEvents(
  injections: readonly Injection[],
  opened: readonly AnomalyEvent[],
  windowSpanMs: number,
): { detected: boolean[]; falseAlarms: number; falseBeforeFirst: number } {
  const detected = injections.map(() => false);
  const firstInjection = Math.min(...injections.map((inj) => inj.start));
  let falseAlarms = 0;
  let falseBeforeFirst = 0;
  for (const ev of opened) {
    let hit = false;
    injections.forEach((inj, i) => {
      if (inj.sensor === ev.sensor && ev.start >= inj.start && ev.start <= inj.end + windowSpanMs) {
        detected[i] = true;
        hit = true;
      }
    });
    if (!hit) falseAlarms++;
    if (!hit && ev.start < firstInjection) falseBeforeFirst++;
  }
  return { detected, falseAlarms, falseBeforeFirst };
}

/**
 * The demo's bootstrap covers a few machine cycles (600 readings), and it trains on every third
 * window with fewer epochs so that on WASM (2 cores) scoring starts before the first injected
 * anomaly (the simulator stays quiet for twice the bootstrap: 1,200 s of event time, 60 s of
 * wall time at 20×). Ten minutes of bootstrap cannot see the range the simulated plant's load
 * wanders through in the hours after it, so the model learns the operating point at other load
 * levels too (`model.levelShift`, on by default), and anomalies open on the calibrated threshold: the dynamic
 * threshold needs a longer history per sensor than a demo gives it before it stops raising
 * early false alarms. Each window is placed in the model's latent space too, for the live view's
 * map of it. A config file or env can still change any of it.
 */
export const DEMO_DEFAULTS = {
  training: { bootstrapReadings: 600, stride: 3 },
  model: { epochs: 30 },
  scoring: { latent: true },
  detection: { decision: 'threshold' },
  simulator: { speedup: 20 },
};

/** --retrain-every is wall-clock time; the retrainer counts event time, which runs `speedup` times faster. */
function retrainEventMs(flags: DemoFlags): number | undefined {
  if (flags.retrainEvery === undefined) return undefined;
  const speedup = flags.speedup === undefined ? DEMO_DEFAULTS.simulator.speedup : Number(flags.speedup);
  return Math.round(parseDuration(flags.retrainEvery) * speedup);
}

/** The demo's config: the flags over the config file and env, over {@link DEMO_DEFAULTS}. */
function demoConfig(flags: DemoFlags): Readonly<Config> {
  return commandConfig(
    flags.config,
    {
      simulator: defined({
        sensors: flags.sensors === undefined ? undefined : parsePositiveInt(flags.sensors, '--sensors'),
        seed: flags.seed === undefined ? undefined : parseInteger(flags.seed, '--seed'),
        speedup: flags.speedup === undefined ? undefined : Number(flags.speedup),
      }),
      metrics: defined({ port: flags.port === undefined ? undefined : parseInteger(flags.port, '--port') }),
      training: defined({ intervalMs: retrainEventMs(flags) }),
    },
    DEMO_DEFAULTS,
  );
}

/** Training as it happens, told on stdout and stderr, and counted for the summary. */
class TrainingTally {
  trainingSeconds: number | null = null;
  trainingRuns = 0;
  readonly retrainings = { promoted: 0, rejected: 0, failed: 0 };

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly progress: TrainingProgress,
  ) {}

  hooks(): EngineHooks {
    const { out, progress } = this;
    return {
      onTrainingStart: (group, windows, sensors) =>
        out.write(
          `bootstrap done: training the LSTM autoencoder on ${windows} windows of ${sensors} sensors (channels ${group})\n`,
        ),
      onEpoch: (_group, p) => progress.epoch('training', p),
      onRetrained: (_group, result, seconds, version, why) => {
        this.trainingRuns++;
        this.retrainings[result]++;
        out.write(
          `retrained in ${seconds.toFixed(1)} s (a child process; scoring went on): ${result}${version ? ` ${version}` : ''} — ${why}\n`,
        );
      },
      onTrained: (bundle, seconds) => {
        this.trainingRuns++;
        this.trainingSeconds = seconds;
        const fit = bundle.metadata.fit;
        progress.done(
          `model ${bundle.metadata.version} trained in ${seconds.toFixed(1)} s (${fit?.epochs ?? '?'} epochs${fit?.stoppedEarly ? ', stopped early' : ''}); scoring live`,
        );
      },
      onFailed: () => progress.abandon(),
    };
  }
}

/** The sink that keeps what the summary needs: the anomalies opened and each sensor's scored event time. */
function summaryCollector(): {
  collect: Sink;
  opened: AnomalyEvent[];
  scoredSpan: Map<string, { from: number; to: number }>;
} {
  const opened: AnomalyEvent[] = [];
  // Event time scored, per sensor: from its first scored window to its last.
  const scoredSpan = new Map<string, { from: number; to: number }>();
  const collect: Sink = {
    name: 'demo-summary',
    async write(outputs: readonly PipelineOutput[]) {
      for (const o of outputs) {
        if (o.kind === 'event' && o.event.kind === 'opened') opened.push(o.event);
        else if (o.kind === 'scored' && o.window !== null) {
          const { sensor, end } = o.window.window;
          const span = scoredSpan.get(sensor);
          if (span === undefined) scoredSpan.set(sensor, { from: end, to: end });
          else span.to = end;
        }
      }
    },
    async close() {},
  };
  return { collect, opened, scoredSpan };
}

async function demo(flags: DemoFlags): Promise<void> {
  const cfg = demoConfig(flags);
  const durationMs = flags.duration === undefined ? undefined : parseDuration(flags.duration);
  const log = createLogger(flags.verbose ? cfg.log.level : 'warn');
  const out = process.stdout;
  const progress = new TrainingProgress(process.stderr);
  const sim = simulatorSettings(cfg);
  const wallStart = Date.now();
  const startMs = sim.start ? Date.parse(sim.start) : Math.floor(wallStart / 1000) * 1000;
  // The simulator runs `speedup` times faster than the wall clock; future-timestamp checks
  // follow its clock, not the wall's.
  const simNow = (): number => startMs + (Date.now() - wallStart) * sim.speedup;

  const tally = new TrainingTally(out, progress);
  const engine = await createEngine(cfg, { mode: 'live', log, now: simNow, hooks: tally.hooks() });

  const view = liveViewFor(engine);
  const server = await serveMetrics(engine, log, view.routes);

  const { collect, opened, scoredSpan } = summaryCollector();

  const { records$, simulator } = simulatorSource(sim, { startMs, realtime: true, flow: engine.gate });
  out.write(
    `aemon demo: ${sim.sensors} simulated sensors (${sim.channels.join(', ')}) at ${sim.rateHz} Hz, event time ${sim.speedup}× the wall clock, backend ${engine.backend}\n` +
      (server ? `metrics: ${server.url}/metrics\nlive view: ${server.url}/\n` : '') +
      `learning normal behaviour from the first ${cfg.training.bootstrapReadings} readings of each sensor; anomalies are injected after ${sim.quietSeconds} s of event time\n` +
      (durationMs === undefined ? 'press Ctrl-C to stop\n' : `running for ${(durationMs / 1000).toFixed(0)} s\n`),
  );

  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const timer = durationMs === undefined ? undefined : setTimeout(stop, durationMs);
  let stats;
  try {
    stats = await engine.run(
      records$,
      [metricsSink(engine.metrics), view.sink, consoleSink(out), dlqLogSink(log), collect],
      abort.signal,
    );
  } finally {
    if (timer) clearTimeout(timer);
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    await engine.trainer.idle();
    view.close();
    await server?.close();
  }

  const { trainingSeconds, trainingRuns, retrainings } = tally;
  const spanMs = (cfg.windowing.size * 1000) / sim.rateHz;
  const injections = simulator.injections;
  const { detected, falseAlarms, falseBeforeFirst } = matchEvents(injections, opened, spanMs);
  let sensorHours = 0;
  for (const { from, to } of scoredSpan.values()) sensorHours += (to - from) / 3_600_000;
  const bundle = engine.trainer.models()[0];
  const summary: DemoSummary = {
    durationSeconds: Number(((Date.now() - wallStart) / 1000).toFixed(1)),
    sensors: sim.sensors,
    backend: engine.backend,
    modelVersion: bundle?.metadata.version ?? null,
    trainingSeconds: trainingSeconds === null ? null : Number((trainingSeconds as number).toFixed(2)),
    trainingRuns,
    retrainings,
    readings: stats.readings,
    windowsScored: stats.windowsScored,
    rejected: Object.values(stats.rejected).reduce((a, b) => a + (b ?? 0), 0),
    injected: injections.length,
    detected: detected.filter(Boolean).length,
    falseAlarms,
    falseEventsPerSensorHour: sensorHours > 0 ? Number((falseAlarms / sensorHours).toFixed(3)) : null,
    falseAlarmsBeforeFirstInjection: falseBeforeFirst,
    anomaliesOpened: stats.anomaliesOpened,
    injections: injections.map((inj, i) => ({ ...inj, detected: detected[i]! })),
  };
  out.write(
    `\nsummary: ${summary.readings} readings, ${summary.windowsScored} windows scored, ` +
      `${summary.injected} anomalies injected, ${summary.detected} detected, ${summary.falseAlarms} false alarms` +
      (summary.falseEventsPerSensorHour === null
        ? '\n'
        : ` (${summary.falseEventsPerSensorHour} per sensor-hour of event time, ${falseBeforeFirst} before the first injected anomaly)\n`),
  );
  for (const [i, inj] of injections.entries()) {
    out.write(
      `  ${detected[i] ? 'detected' : 'missed  '}  ${inj.sensor}  ${inj.kind} on ${inj.channels.join(', ')}  ${new Date(inj.start).toISOString()}\n`,
    );
  }
  if (flags.summary) writeFileSync(flags.summary, JSON.stringify(summary, null, 2) + '\n');
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'simulated sensors → the full pipeline → console, /metrics and the live view at /, no infrastructure (what `npm start` runs)',
    )
    .option('-c, --config <file>', 'config file (YAML or JSON)')
    .option('--duration <time>', 'stop after this long, e.g. 180s or 5m (default: until Ctrl-C)')
    .option('--sensors <n>', 'simulated sensors (default 5)')
    .option('--seed <n>', 'simulator seed: the same seed injects the same anomalies (default 1)')
    .option('--speedup <x>', 'event time runs this many times faster than the wall clock (default 20 in the demo)')
    .option(
      '--port <port>',
      'metrics and live-view port (default 9464; 0 picks a free one); open http://127.0.0.1:<port>/',
    )
    .option(
      '--retrain-every <time>',
      'retrain on recent normal data every this long (wall clock, e.g. 60s), promoting a model only if the gate finds it no worse',
    )
    .option('--summary <file>', 'write a JSON summary (windowsScored, injected, detected, falseAlarms, backend, …)')
    .option('--verbose', 'JSON logs on stderr at the configured level (default: warnings only)')
    .addHelpText('after', '\nExample:\n  aemon demo --duration 180s --seed 1 --summary demo.json\n')
    .action(async (flags: DemoFlags) => demo(flags));
}
