import type { AnomalyEvent, PipelineOutput, ScoredReading, Sink } from '../pipeline/contracts.js';
import type { LatentSpace } from '../pipeline/latent.js';
import { DEFAULT_LATENT_CAPACITY, LatentRing, latentBackdrop, type SensorLatent } from './latent.js';

/** What the live view shows a sensor as (the fleet list's badge). */
export type LiveState = 'warming' | 'scoring' | 'stale' | 'anomalous';

export interface LiveViewOptions {
  /** Points kept per sensor (a ring): the sensor chart's history. */
  capacity?: number;
  /** Sensors tracked at most (`metrics.maxSensors`); later ones are only counted. */
  maxSensors: number;
  /** A sensor with no reading for this long (wall clock) is shown stale (`sensors.staleAfterMs`). */
  staleAfterMs: number;
  /** Recent (closed or open) anomaly events kept for the list. */
  recentEvents?: number;
  /** The TensorFlow.js backend, shown with the model version. */
  backend: string;
  /** Windows kept per sensor in the latent-space scatter (a ring), with `scoring.latent`. */
  latentCapacity?: number;
  /** The latent space of a model version (its training sample and explained shares), when that model is held. */
  latentSpace?: (modelVersion: string) => LatentSpace | undefined;
  now?: () => number;
}

/** One sensor in the fleet list. */
export interface SensorSummary {
  id: string;
  state: LiveState;
  channels: readonly string[];
  /** Event time of the newest reading (epoch ms). */
  lastTs: number;
  /** Newest score (the decision's: > 1 above the threshold in force), `null` while warming. */
  score: number | null;
  /** Up to {@link SPARK_POINTS} recent scores (max per bucket), oldest first; `null` while warming. */
  spark: Array<number | null>;
}

/** Points of one sensor, columnar; `null` where a value is missing (warming, no reconstruction). */
export interface SensorPoints {
  /** Count of points the sensor ever had up to the last one here: the resume cursor for updates. */
  total: number;
  ts: number[];
  /** Per channel (in `channels` order): the reading's values. */
  values: number[][];
  /** Per channel: the model's reconstruction. */
  reconstruction: Array<Array<number | null>>;
  /** Per channel: the half-width of the expected band around the reconstruction. */
  tolerance: Array<Array<number | null>>;
  score: Array<number | null>;
  anomaly: number[];
  /** 1 where the reading's window was suppressed (maintenance, machine off). */
  suppressed: number[];
}

/** A sensor's detail view. */
export interface SensorDetail extends SensorSummary {
  modelVersion: string | null;
  backend: string;
  /** Latest per-channel shares of the window error, in `channels` order. */
  shares: number[] | null;
  /** The threshold in force on the window error (scaled units); `null` under a decision without one. */
  threshold: number | null;
  points: SensorPoints;
  events: AnomalyEvent[];
  /**
   * With `scoring.latent`: the sensor's latest windows in its model's latent space (after
   * `since`, those whose window ended at that reading or later), with the model's training
   * sample. Absent when the sensor has no window placed in a latent space.
   */
  latent?: SensorLatent;
}

/** The fleet list. */
export interface FleetSnapshot {
  backend: string;
  modelVersions: string[];
  sensors: SensorSummary[];
  /** Sensors not tracked because `maxSensors` was reached. */
  untracked: number;
  open: AnomalyEvent[];
  recent: AnomalyEvent[];
}

/** Points kept per sensor unless told otherwise. */
export const DEFAULT_CAPACITY = 600;

/** Sparkline length in the fleet list. */
export const SPARK_POINTS = 60;

// Float32 values printed in full are long; six significant digits are what a chart can show.
const round = (v: number): number => Number(v.toPrecision(6));

class SensorRing {
  readonly ts: Float64Array;
  readonly values: Float32Array;
  readonly recon: Float32Array;
  readonly tolerance: Float32Array;
  readonly score: Float32Array;
  readonly anomaly: Uint8Array;
  readonly suppressed: Uint8Array;
  /** Points ever pushed: slot of point k is k % capacity. */
  total = 0;
  lastArrived = 0;
  shares: Float32Array | null = null;
  threshold: number | null = null;
  modelVersion: string | null = null;
  /** Created with the sensor's first window placed in a latent space: runs without `scoring.latent` hold none. */
  latent: LatentRing | undefined;

  constructor(
    readonly channels: readonly string[],
    readonly capacity: number,
  ) {
    const w = channels.length;
    this.ts = new Float64Array(capacity);
    this.values = new Float32Array(capacity * w);
    this.recon = new Float32Array(capacity * w);
    this.tolerance = new Float32Array(capacity * w);
    this.score = new Float32Array(capacity);
    this.anomaly = new Uint8Array(capacity);
    this.suppressed = new Uint8Array(capacity);
  }

  push(row: ScoredReading): void {
    const slot = this.total % this.capacity;
    const w = this.channels.length;
    const { values, channels } = row.reading;
    this.ts[slot] = row.reading.ts;
    for (let c = 0; c < w; c++) {
      // Readings carry values in their (sorted, interned) channel order: usually this very list.
      const at = channels === this.channels ? c : channels.indexOf(this.channels[c]!);
      this.values[slot * w + c] = at >= 0 ? values[at]! : Number.NaN;
      this.recon[slot * w + c] = row.reconstruction?.[c] ?? Number.NaN;
      this.tolerance[slot * w + c] = row.tolerance?.[c] ?? Number.NaN;
    }
    this.score[slot] = row.score ?? Number.NaN;
    this.anomaly[slot] = row.anomaly ? 1 : 0;
    this.suppressed[slot] = row.suppressed ? 1 : 0;
    if (row.channelShares) this.shares = row.channelShares;
    if (row.threshold !== null) this.threshold = row.threshold;
    this.lastArrived = row.reading.arrivedAt;
    this.total++;
  }

  /** Index of the oldest point kept. */
  first(): number {
    return Math.max(0, this.total - this.capacity);
  }

  points(from: number): SensorPoints {
    const w = this.channels.length;
    const start = Math.max(from, this.first());
    const out: SensorPoints = {
      total: this.total,
      ts: [],
      values: this.channels.map(() => []),
      reconstruction: this.channels.map(() => []),
      tolerance: this.channels.map(() => []),
      score: [],
      anomaly: [],
      suppressed: [],
    };
    const num = (v: number): number | null => (Number.isFinite(v) ? round(v) : null);
    for (let k = start; k < this.total; k++) {
      const slot = k % this.capacity;
      out.ts.push(this.ts[slot]!);
      for (let c = 0; c < w; c++) {
        out.values[c]!.push(round(this.values[slot * w + c]!));
        out.reconstruction[c]!.push(num(this.recon[slot * w + c]!));
        out.tolerance[c]!.push(num(this.tolerance[slot * w + c]!));
      }
      out.score.push(num(this.score[slot]!));
      out.anomaly.push(this.anomaly[slot]!);
      out.suppressed.push(this.suppressed[slot]!);
    }
    return out;
  }

  /** The newest scores, at most {@link SPARK_POINTS}, each the max of its bucket. */
  spark(): Array<number | null> {
    const first = this.first();
    const n = this.total - first;
    const buckets = Math.min(SPARK_POINTS, n);
    const out: Array<number | null> = [];
    for (let b = 0; b < buckets; b++) {
      let max = Number.NaN;
      const from = first + Math.floor((b * n) / buckets);
      const to = first + Math.floor(((b + 1) * n) / buckets);
      for (let k = from; k < to; k++) {
        const v = this.score[k % this.capacity]!;
        if (Number.isFinite(v) && !(v <= max)) max = v;
      }
      out.push(Number.isFinite(max) ? round(max) : null);
    }
    return out;
  }

  last(): { ts: number; score: number | null; anomaly: boolean } {
    if (this.total === 0) return { ts: 0, score: null, anomaly: false };
    const slot = (this.total - 1) % this.capacity;
    const s = this.score[slot]!;
    return { ts: this.ts[slot]!, score: Number.isFinite(s) ? round(s) : null, anomaly: this.anomaly[slot] === 1 };
  }
}

/** What changed since the last {@link LiveView.takeChanges}. */
export interface LiveChanges {
  sensors: string[];
  events: AnomalyEvent[];
}

/**
 * The live view's state, kept as a sink: per sensor a bounded ring of recent points (values,
 * reconstruction, score, anomaly flag), with `scoring.latent` a bounded ring of its recent
 * windows' places in the latent space, and recent anomaly events. Writing is a few array stores
 * per reading (it runs on the scoring path); snapshots are built when the page asks.
 */
export class LiveView implements Sink {
  readonly name = 'live-view';
  private readonly sensors = new Map<string, SensorRing>();
  private readonly open = new Map<string, AnomalyEvent>();
  private readonly recent: AnomalyEvent[] = [];
  private readonly dirty = new Set<string>();
  private freshEvents: AnomalyEvent[] = [];
  private readonly untracked = new Set<string>();
  private readonly capacity: number;
  private readonly latentCapacity: number;
  private readonly recentMax: number;
  private readonly now: () => number;

  constructor(private readonly opts: LiveViewOptions) {
    this.capacity = opts.capacity ?? DEFAULT_CAPACITY;
    this.latentCapacity = opts.latentCapacity ?? DEFAULT_LATENT_CAPACITY;
    this.recentMax = opts.recentEvents ?? 50;
    this.now = opts.now ?? Date.now;
  }

  async write(outputs: readonly PipelineOutput[]): Promise<void> {
    for (const o of outputs) {
      if (o.kind === 'scored') {
        for (const row of o.rows) this.push(row, o.window?.modelVersion);
      } else if (o.kind === 'event') {
        this.event(o.event);
      }
    }
  }

  async close(): Promise<void> {}

  /** The fleet list, sensors sorted by id. */
  fleet(): FleetSnapshot {
    return {
      backend: this.opts.backend,
      modelVersions: this.modelVersions(),
      sensors: [...this.sensors.keys()].sort().map((id) => this.summary(id)!),
      untracked: this.untrackedCount(),
      open: [...this.open.values()],
      recent: [...this.recent],
    };
  }

  /** Sensors not tracked because `maxSensors` was reached. */
  untrackedCount(): number {
    return this.untracked.size;
  }

  /** Model versions that scored the tracked sensors' newest windows. */
  modelVersions(): string[] {
    const versions = new Set<string>();
    for (const ring of this.sensors.values()) if (ring.modelVersion) versions.add(ring.modelVersion);
    return [...versions].sort();
  }

  /** The summary of one sensor, or undefined when it is not tracked. */
  summary(id: string): SensorSummary | undefined {
    const ring = this.sensors.get(id);
    if (!ring) return undefined;
    const last = ring.last();
    return {
      id,
      state: this.state(ring, last),
      channels: ring.channels,
      lastTs: last.ts,
      score: last.score,
      spark: ring.spark(),
    };
  }

  /** A sensor's detail with every point kept, or with those after `since` (a previous `points.total`). */
  sensor(id: string, since = 0): SensorDetail | undefined {
    const ring = this.sensors.get(id);
    if (!ring) return undefined;
    const latent = ring.latent;
    return {
      ...this.summary(id)!,
      modelVersion: ring.modelVersion,
      backend: this.opts.backend,
      shares: ring.shares ? Array.from(ring.shares) : null,
      threshold: ring.threshold,
      points: ring.points(since),
      events: [...this.recent.filter((e) => e.sensor === id)],
      ...(latent ? { latent: latent.points(since, latentBackdrop(this.opts.latentSpace?.(latent.modelVersion))) } : {}),
    };
  }

  /** Sensors written to and events seen since the last call; clears both. */
  takeChanges(): LiveChanges {
    const changes = { sensors: [...this.dirty], events: this.freshEvents };
    this.dirty.clear();
    this.freshEvents = [];
    return changes;
  }

  private state(ring: SensorRing, last: { score: number | null; anomaly: boolean }): LiveState {
    if (this.now() - ring.lastArrived > this.opts.staleAfterMs) return 'stale';
    if (last.anomaly) return 'anomalous';
    return last.score === null ? 'warming' : 'scoring';
  }

  private push(row: ScoredReading, modelVersion: string | undefined): void {
    const id = row.reading.sensor;
    let ring = this.sensors.get(id);
    if (ring === undefined || ring.channels.join(',') !== row.channels.join(',')) {
      if (ring === undefined && this.sensors.size >= this.opts.maxSensors) {
        // Only counted; the count itself stops growing somewhere sensible.
        if (this.untracked.size < 1_000_000) this.untracked.add(id);
        return;
      }
      ring = new SensorRing(row.channels, this.capacity);
      this.sensors.set(id, ring);
    }
    ring.push(row);
    if (modelVersion !== undefined) ring.modelVersion = modelVersion;
    if (row.latent !== undefined && ring.modelVersion !== null) {
      ring.latent ??= new LatentRing(this.latentCapacity, ring.modelVersion);
      ring.latent.push(row, row.latent, ring.modelVersion, ring.total - 1);
    }
    this.dirty.add(id);
  }

  private event(e: AnomalyEvent): void {
    if (e.kind === 'opened') this.open.set(e.sensor, e);
    else this.open.delete(e.sensor);
    // One entry per anomaly: its closing replaces its opening.
    const i = this.recent.findIndex((r) => r.id === e.id);
    if (i >= 0) this.recent.splice(i, 1);
    this.recent.unshift(e);
    if (this.recent.length > this.recentMax) this.recent.length = this.recentMax;
    this.freshEvents.push(e);
    if (this.freshEvents.length > this.recentMax) this.freshEvents.shift();
    this.dirty.add(e.sensor);
  }
}
