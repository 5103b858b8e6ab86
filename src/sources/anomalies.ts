import type { Rng } from './random.js';

export const ANOMALY_KINDS = ['spike', 'level_shift', 'drift', 'stuck', 'noise_burst', 'decorrelation'] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

/** One injected anomaly: readings of `sensor` with `start <= ts < end` (event time, epoch ms) are labelled 1. */
export interface Injection {
  sensor: string;
  kind: AnomalyKind;
  /** Affected channels, sorted. */
  channels: readonly string[];
  start: number;
  end: number;
}

/** A channel's normal behaviour: `offset + gain × load + N(0, sigma)`. */
export interface ChannelModel {
  name: string;
  offset: number;
  gain: number;
  /** Typical normal spread of the channel (≈ its standard deviation over a machine cycle). */
  spread: number;
  sigma: number;
}

interface Effect {
  sign: 1 | -1;
  magnitude: number;
  /** Stuck value, or the level a decorrelated channel oscillates around. */
  anchor: number;
  /** Decorrelation: period of its oscillation, in readings (like the simulator's other time scales). */
  periodTicks: number;
}

/** A channel's normal parts at one tick, before any anomaly. */
export interface NormalParts {
  /** `offset + gain × load` */
  base: number;
  /** This tick's noise draw, already scaled by sigma. */
  noise: number;
}

/**
 * An anomaly in progress. Magnitudes are in units of the channel's normal spread (noise sigma
 * is ~0.2 spread), so every kind stands several sigmas clear of normal and a demo can detect it.
 */
export class ActiveAnomaly {
  private k = 0;

  private constructor(
    readonly injection: Injection,
    /** Readings it covers. */
    readonly ticks: number,
    private readonly effects: ReadonlyMap<number, Effect>,
  ) {}

  static start(
    rng: Rng,
    sensor: string,
    channels: readonly ChannelModel[],
    parts: readonly NormalParts[],
    start: number,
    end: number,
    ticks: number,
  ): ActiveAnomaly {
    const kind = ANOMALY_KINDS[rng.int(ANOMALY_KINDS.length)] as AnomalyKind;
    // A decorrelation breaks one channel away from the others; other kinds hit one to three.
    const count = kind === 'decorrelation' ? 1 : 1 + rng.int(Math.min(channels.length, 3));
    const pool = channels.map((_, i) => i);
    const picked: number[] = [];
    for (let i = 0; i < count; i++) picked.push(pool.splice(rng.int(pool.length), 1)[0] as number);
    const effects = new Map<number, Effect>();
    for (const i of picked.sort((a, b) => a - b)) {
      const ch = channels[i] as ChannelModel;
      const p = parts[i] as NormalParts;
      const sign = rng.sign();
      const effect: Effect = { sign, magnitude: 0, anchor: 0, periodTicks: 0 };
      switch (kind) {
        case 'spike':
        case 'drift':
          effect.magnitude = rng.between(5, 8) * ch.spread;
          break;
        case 'level_shift':
        case 'stuck':
          effect.magnitude = rng.between(3, 5) * ch.spread;
          effect.anchor = p.base + sign * effect.magnitude;
          break;
        case 'noise_burst':
          effect.magnitude = rng.between(15, 25);
          break;
        case 'decorrelation':
          effect.magnitude = 4 * ch.spread;
          effect.anchor = p.base;
          effect.periodTicks = rng.between(20, 60);
          break;
      }
      effects.set(i, effect);
    }
    const names = [...effects.keys()].map((i) => (channels[i] as ChannelModel).name).sort();
    return new ActiveAnomaly({ sensor, kind, channels: names, start, end }, ticks, effects);
  }

  get done(): boolean {
    return this.k >= this.ticks;
  }

  /** Channel values for this tick (normal where unaffected); advances to the next tick. */
  apply(rng: Rng, parts: readonly NormalParts[], out: number[]): void {
    const kind = this.injection.kind;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] as NormalParts;
      const e = this.effects.get(i);
      if (e === undefined) {
        out[i] = p.base + p.noise;
        continue;
      }
      switch (kind) {
        case 'spike':
          // Spikes on about a quarter of the readings, always on the first one.
          out[i] =
            p.base +
            p.noise +
            (this.k === 0 || rng.uniform() < 0.25 ? e.sign * e.magnitude * rng.between(0.8, 1.2) : 0);
          break;
        case 'level_shift':
          out[i] = p.base + p.noise + e.sign * e.magnitude;
          break;
        case 'drift':
          out[i] = p.base + p.noise + (e.sign * e.magnitude * (this.k + 1)) / this.ticks;
          break;
        case 'stuck':
          out[i] = e.anchor;
          break;
        case 'noise_burst':
          out[i] = p.base + p.noise * e.magnitude;
          break;
        case 'decorrelation':
          // Starts at a crest of its own oscillation, so it leaves the load at once.
          out[i] = e.anchor + p.noise + e.sign * e.magnitude * Math.cos((2 * Math.PI * this.k) / e.periodTicks);
          break;
      }
    }
    this.k++;
  }
}
