import type { ScoredReading } from '../pipeline/contracts.js';
import type { LatentPoint, LatentSpace } from '../pipeline/latent.js';

/** What a window was when it was decided: the colour of its point in the latent-space scatter. */
export type LatentState = 'normal' | 'anomalous' | 'suppressed';

/** A suppressed window opens no anomaly, so suppression is what it shows, whatever the sensor's state. */
export function latentState(row: Pick<ScoredReading, 'anomaly' | 'suppressed'>): LatentState {
  if (row.suppressed) return 'suppressed';
  return row.anomaly ? 'anomalous' : 'normal';
}

/** A model's latent space as the scatter draws it behind a sensor's windows. */
export interface LatentBackdrop {
  /** Training windows, projected: the operating modes the model learnt. */
  sample: Array<[number, number]>;
  /** The share of the training codes' variance along each axis. */
  explained: [number, number];
}

/** The backdrop of a model's latent space (the space itself holds much more than the page needs). */
export function latentBackdrop(space: LatentSpace | undefined): LatentBackdrop | undefined {
  return space ? { sample: space.sample, explained: space.explained } : undefined;
}

/**
 * A sensor's recent windows in its model's latent space, columnar, oldest first; with the
 * model's training sample and explained shares when the model is known.
 */
export interface SensorLatent {
  /** The model whose latent space the windows are placed in: every point here is in its coordinates. */
  modelVersion: string;
  /** Event time of each window's last reading. */
  ts: number[];
  x: number[];
  y: number[];
  /** Latent distance to the training codes: 1 = the held-out normal windows' quantile. */
  distance: number[];
  state: LatentState[];
  /** The model's training windows, projected (absent when the model is not held any more). */
  sample?: Array<[number, number]>;
  explained?: [number, number];
}

/** Latent points kept per sensor unless told otherwise. */
export const DEFAULT_LATENT_CAPACITY = 512;

const STATES: readonly LatentState[] = ['normal', 'anomalous', 'suppressed'];
const round = (v: number): number => Number(v.toPrecision(6));

/**
 * A bounded ring of a sensor's latest latent points. Each point remembers the index of the
 * reading that ended its window, so the live view's one resume cursor (points ever pushed)
 * serves both the readings and the windows. Points of another model live in another space: a
 * window scored by a new model starts the ring afresh.
 */
export class LatentRing {
  private readonly at: Float64Array;
  private readonly ts: Float64Array;
  private readonly x: Float32Array;
  private readonly y: Float32Array;
  private readonly distance: Float32Array;
  private readonly state: Uint8Array;
  /** Points pushed since the ring last started: slot of point k is k % capacity. */
  private count = 0;
  modelVersion: string;

  constructor(
    readonly capacity: number,
    modelVersion: string,
  ) {
    this.modelVersion = modelVersion;
    this.at = new Float64Array(capacity);
    this.ts = new Float64Array(capacity);
    this.x = new Float32Array(capacity);
    this.y = new Float32Array(capacity);
    this.distance = new Float32Array(capacity);
    this.state = new Uint8Array(capacity);
  }

  /** Points held. */
  get size(): number {
    return Math.min(this.count, this.capacity);
  }

  /**
   * The window that `row` ended, at `point`, scored by `modelVersion`; `index` is the row's place
   * among the sensor's readings (the live view's cursor).
   */
  push(
    row: Pick<ScoredReading, 'reading' | 'anomaly' | 'suppressed'>,
    point: LatentPoint,
    modelVersion: string,
    index: number,
  ): void {
    if (modelVersion !== this.modelVersion) {
      this.modelVersion = modelVersion;
      this.count = 0;
    }
    const slot = this.count % this.capacity;
    this.at[slot] = index;
    this.ts[slot] = row.reading.ts;
    this.x[slot] = point.x;
    this.y[slot] = point.y;
    this.distance[slot] = point.distance;
    this.state[slot] = STATES.indexOf(latentState(row));
    this.count++;
  }

  /** The points whose window ended at reading `since` or later, with the model's backdrop when given. */
  points(since: number, backdrop: LatentBackdrop | undefined): SensorLatent {
    const out: SensorLatent = { modelVersion: this.modelVersion, ts: [], x: [], y: [], distance: [], state: [] };
    for (let k = Math.max(0, this.count - this.capacity); k < this.count; k++) {
      const slot = k % this.capacity;
      if (this.at[slot]! < since) continue;
      out.ts.push(this.ts[slot]!);
      out.x.push(round(this.x[slot]!));
      out.y.push(round(this.y[slot]!));
      out.distance.push(round(this.distance[slot]!));
      out.state.push(STATES[this.state[slot]!]!);
    }
    if (backdrop) {
      out.sample = backdrop.sample;
      out.explained = backdrop.explained;
    }
    return out;
  }
}
