import { asyncScheduler, defer, Observable, throwError } from 'rxjs';
import type { SchedulerAction, SchedulerLike } from 'rxjs';
import type { SimulatorConfig } from '../config/schema.js';
import { AemonError } from '../errors.js';
import type { Ack, FlowControl, SourceRecord } from '../pipeline/contracts.js';
import { ActiveAnomaly } from './anomalies.js';
import type { ChannelModel, Injection, NormalParts } from './anomalies.js';
import { ackOnce, fromProducer, yieldToEventLoop } from './produce.js';
import { deriveSeed, Rng } from './random.js';

export { ANOMALY_KINDS } from './anomalies.js';
export type { AnomalyKind, Injection } from './anomalies.js';

const DAY_MS = 86_400_000;
/** The walk's time constant and the machine cycle, in readings: at 1 Hz, 600 s and 120–360 s. */
const WALK_TAU_READINGS = 600;
const WALK_SIGMA = 0.05;

interface SensorModel {
  name: string;
  // Two streams: the normal signal never depends on which anomalies were drawn, so the same seed
  // gives the same normal data whatever the anomaly settings.
  signal: Rng;
  anomaly: Rng;
  channels: ChannelModel[];
  dailyPhase: number;
  cyclePeriodS: number;
  cyclePhase: number;
  walk: number;
  nextStart: number;
  active: ActiveAnomaly | undefined;
}

export interface SimulatorOptions {
  /** Called by each record's ack (at most once per record). */
  onAck?: () => void;
  /**
   * Event time the stream ends at (exclusive), if it ends: an anomaly that would not end before it
   * is not started, so every label describes readings that were all emitted.
   */
  endMs?: number;
}

/** One tick of the fleet: a reading of every sensor at event time `ts`. */
export interface SimTick {
  ts: number;
  records: SourceRecord[];
}

/** `sensor-1`…`sensor-N`, zero-padded when N ≥ 10 so the names sort in order. */
export function sensorNames(count: number): string[] {
  const width = count >= 10 ? String(count).length : 0;
  return Array.from({ length: count }, (_, i) => `sensor-${String(i + 1).padStart(width, '0')}`);
}

/**
 * A seeded synthetic sensor fleet. Each sensor's channels follow one latent load (daily
 * seasonality, a machine cycle of a few minutes, a slow mean-reverting walk), each with its own
 * gain, offset and noise; labelled anomalies are injected at random after the quiet period.
 */
export class Simulator {
  /** Every anomaly injected so far, in order of start. */
  readonly injections: Injection[] = [];
  readonly sensors: readonly string[];
  readonly channels: readonly string[];
  /** Event time between ticks. */
  readonly intervalMs: number;
  private readonly models: SensorModel[];
  private readonly onAck: (() => void) | undefined;
  private readonly endMs: number;
  private tick = 0;
  private seq = 0;

  constructor(
    private readonly cfg: SimulatorConfig,
    readonly startMs: number,
    options: SimulatorOptions = {},
  ) {
    this.intervalMs = 1000 / cfg.rateHz;
    this.onAck = options.onAck;
    this.endMs = options.endMs ?? Infinity;
    this.channels = [...new Set(cfg.channels)];
    this.sensors = sensorNames(cfg.sensors);
    this.models = this.sensors.map((name, i) => this.model(name, i));
  }

  /** Event time of the next tick. */
  get nextTs(): number {
    return this.tsAt(this.tick);
  }

  /** Readings of every sensor for the next tick; `arrivedAt` defaults to the event time. */
  next(arrivedAt?: number): SimTick {
    const ts = this.tsAt(this.tick);
    const dtS = this.intervalMs / 1000;
    const iso = new Date(ts).toISOString();
    const records: SourceRecord[] = [];
    const out: number[] = [];
    for (const m of this.models) {
      const load = this.load(m, ts, dtS);
      const parts: NormalParts[] = m.channels.map((c) => ({
        base: c.offset + c.gain * load,
        noise: c.sigma * m.signal.gaussian(),
      }));
      if (m.active === undefined && ts >= m.nextStart) this.startAnomaly(m, parts);
      const active = m.active;
      if (active !== undefined) {
        active.apply(m.anomaly, parts, out);
        if (active.done) {
          m.active = undefined;
          m.nextStart = active.injection.end + this.gapMs(m.anomaly);
        }
      } else {
        for (let i = 0; i < parts.length; i++)
          out[i] = (parts[i] as NormalParts).base + (parts[i] as NormalParts).noise;
      }
      const values: Record<string, number> = {};
      m.channels.forEach((c, i) => (values[c.name] = Math.round((out[i] as number) * 1e4) / 1e4));
      records.push({
        raw: `{"sensor":${JSON.stringify(m.name)},"ts":"${iso}","values":${JSON.stringify(values)}}`,
        key: m.name,
        fields: { sensor: m.name, ts, values },
        label: active !== undefined ? 1 : 0,
        origin: { source: 'simulator' },
        arrivedAt: arrivedAt ?? ts,
        seq: this.seq++,
        ack: ackOnce(this.onAck),
      });
    }
    this.tick++;
    return { ts, records };
  }

  private tsAt(tick: number): number {
    return this.startMs + Math.round(tick * this.intervalMs);
  }

  private model(name: string, index: number): SensorModel {
    const signal = new Rng(deriveSeed(this.cfg.seed, 2 * index));
    const anomaly = new Rng(deriveSeed(this.cfg.seed, 2 * index + 1));
    const channels = this.channels.map((channel): ChannelModel => {
      const gain = signal.between(5, 50) * (signal.uniform() < 0.25 ? -1 : 1);
      const spread = 0.1 * Math.abs(gain);
      return {
        name: channel,
        offset: signal.between(10, 100),
        gain,
        spread,
        sigma: signal.between(0.15, 0.25) * spread,
      };
    });
    const m: SensorModel = {
      name,
      signal,
      anomaly,
      channels,
      dailyPhase: signal.between(0, 2 * Math.PI),
      // In readings, like the quiet period and the anomaly spacing: at any rate the bootstrap
      // period sees as many machine cycles (at 20 Hz a 6–18 s cycle, not 2–6 minutes).
      cyclePeriodS: signal.between(120, 360) / this.cfg.rateHz,
      cyclePhase: signal.between(0, 2 * Math.PI),
      walk: WALK_SIGMA * signal.gaussian(),
      nextStart: 0,
      active: undefined,
    };
    m.nextStart = this.startMs + this.cfg.quietSeconds * 1000 + this.gapMs(anomaly);
    return m;
  }

  /**
   * Load around 0.5: daily ±0.2, machine cycle ±0.16, walk σ 0.05, plus `driftPerHour` × hours
   * since the start, plus `step` from `stepAfterSeconds` on. The cycle and the walk scale with the rate (they are set in readings).
   */
  private load(m: SensorModel, ts: number, dtS: number): number {
    const decay = Math.exp((-dtS * this.cfg.rateHz) / WALK_TAU_READINGS);
    m.walk = m.walk * decay + WALK_SIGMA * Math.sqrt(1 - decay * decay) * m.signal.gaussian();
    const day = (((ts % DAY_MS) + DAY_MS) % DAY_MS) / DAY_MS;
    const x = (2 * Math.PI * (ts - this.startMs)) / 1000 / m.cyclePeriodS + m.cyclePhase;
    const drift = (this.cfg.driftPerHour * (ts - this.startMs)) / 3_600_000;
    const step = ts - this.startMs >= this.cfg.stepAfterSeconds * 1000 ? this.cfg.step : 0;
    return (
      0.5 +
      0.2 * Math.sin(2 * Math.PI * day + m.dailyPhase) +
      0.12 * Math.sin(x) +
      0.04 * Math.sin(2 * x) +
      m.walk +
      drift +
      step
    );
  }

  /** Event time from one anomaly's end to the next start: a floor (so they stay apart) plus an exponential, mean `anomalyEverySeconds`. */
  private gapMs(rng: Rng): number {
    const mean = this.cfg.anomalyEverySeconds;
    const floor = Math.min(this.cfg.anomalySeconds, mean / 2);
    return (floor + rng.exponential(mean - floor)) * 1000;
  }

  private startAnomaly(m: SensorModel, parts: readonly NormalParts[]): void {
    const start = this.tsAt(this.tick);
    const durationMs = this.cfg.anomalySeconds * 1000 * m.anomaly.between(0.75, 1.25);
    const ticks = Math.max(1, Math.round(durationMs / this.intervalMs));
    const end = this.tsAt(this.tick + ticks);
    if (end > this.endMs) {
      // It would be cut off by the end of the stream (and the ones after it could not start).
      m.nextStart = Infinity;
      return;
    }
    m.active = ActiveAnomaly.start(m.anomaly, m.name, m.channels, parts, start, end, ticks);
    this.injections.push(m.active.injection);
  }
}

export interface SimulatorSourceOptions {
  /** Event time of the first tick (epoch ms). */
  startMs: number;
  /** Event time to run for; undefined = forever. */
  durationMs?: number;
  /** Pace ticks by the wall clock (`intervalMs / speedup`), else emit as fast as the flow allows. */
  realtime: boolean;
  scheduler?: SchedulerLike;
  /** Awaited between ticks; in realtime a tick waits (and is late) only while it is pending. */
  flow?: FlowControl;
  onAck?: Ack;
}

// Without flow control a non-realtime run would never give timers and I/O a turn.
const RECORDS_PER_YIELD = 1024;

/**
 * The simulator as a source. `records$` can be subscribed once: it drives `simulator`, whose
 * `injections` then describe exactly what was emitted.
 */
export function simulatorSource(
  cfg: SimulatorConfig,
  options: SimulatorSourceOptions,
): { records$: Observable<SourceRecord>; simulator: Simulator } {
  const endMs = options.durationMs === undefined ? Infinity : options.startMs + options.durationMs;
  const simulator = new Simulator(cfg, options.startMs, {
    ...(options.onAck === undefined ? {} : { onAck: options.onAck }),
    endMs,
  });
  const scheduler = options.scheduler ?? asyncScheduler;
  const flow = options.flow;

  const paced = new Observable<SourceRecord>((subscriber) => {
    const periodMs = simulator.intervalMs / cfg.speedup;
    // Emits one tick, then schedules the next unless the run is over.
    const emitTick = (action: SchedulerAction<undefined>): void => {
      for (const rec of simulator.next(scheduler.now()).records) {
        subscriber.next(rec);
        if (subscriber.closed) return;
      }
      if (simulator.nextTs >= endMs) return subscriber.complete();
      // Rescheduling with the same delay keeps the interval timer, so ticks do not drift.
      action.schedule(undefined, periodMs);
    };
    return scheduler.schedule(function (this: SchedulerAction<undefined>) {
      if (simulator.nextTs >= endMs) return subscriber.complete();
      const wait = flow?.ready();
      if (wait === undefined) return emitTick(this);
      // Over the high-water mark: this tick is late, and the schedule restarts from it.
      wait.then(
        () => {
          if (!subscriber.closed) emitTick(this);
        },
        (err: unknown) => subscriber.error(err),
      );
    });
  });

  const fast = fromProducer<SourceRecord>(async (out) => {
    let sinceYield = 0;
    while (simulator.nextTs < endMs) {
      const wait = flow?.ready();
      if (wait !== undefined) {
        await wait;
        sinceYield = 0;
      } else if (sinceYield >= RECORDS_PER_YIELD) {
        await yieldToEventLoop();
        sinceYield = 0;
      }
      if (out.closed) return;
      const { records } = simulator.next(scheduler.now());
      for (const rec of records) if (!out.next(rec)) return;
      sinceYield += records.length;
    }
  });

  let used = false;
  const records$ = defer(() => {
    if (used) {
      return throwError(
        () => new AemonError('AEMON_INTERNAL', 'a simulator source can be subscribed once', { stage: 'source' }),
      );
    }
    used = true;
    return options.realtime ? paced : fast;
  });
  return { records$, simulator };
}
