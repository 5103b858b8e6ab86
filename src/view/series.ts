import type { AnomalyEvent, PipelineOutput, ScoredReading, Sink } from '../pipeline/contracts.js';

/** A growable typed column (doubling), so a long replay costs 4–8 bytes per value. */
class Column<T extends Float64Array | Float32Array | Int32Array | Int8Array> {
  length = 0;
  constructor(private data: T) {}

  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new (this.data.constructor as new (n: number) => T)(Math.max(1024, this.data.length * 2));
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }

  values(): T {
    return this.data.subarray(0, this.length) as T;
  }
}

/** Everything a report draws of one sensor, one value per reading, in event-time order. */
export interface SensorSeries {
  id: string;
  channels: readonly string[];
  ts: Float64Array;
  /** Per channel. */
  values: Float32Array[];
  /** Per channel; NaN where the model gave no reconstruction. */
  reconstruction: Float32Array[];
  /** NaN while warming. */
  score: Float32Array;
  /** 1 where aemon's anomaly state (after hysteresis) was on. */
  anomaly: Int8Array;
  /** The source's ground truth: 1 anomalous, 0 normal, -1 none. */
  label: Int8Array;
  /** 1 for readings of the training (bootstrap) period. */
  training: Int8Array;
  /** 1 for readings of a suppressed window (maintenance, machine off, its grace period). */
  suppressed: Int8Array;
  /** Anomaly events of this sensor, in order. */
  events: AnomalyEvent[];
  /** With `scoring.latent`: the sensor's windows in their models' latent spaces (absent when none was placed). */
  latent?: LatentSeries;
}

/** A sensor's windows in the latent space, one entry per window, in order. */
export interface LatentSeries {
  /** The index (in the sensor's readings) of the reading that ended the window. */
  at: Int32Array;
  x: Float32Array;
  y: Float32Array;
  /** Latent distance to the training codes: 1 = the held-out normal windows' quantile. */
  distance: Float32Array;
  /** The model that placed the window, as an index into `versions` (a retrained model has its own space). */
  model: Int32Array;
  versions: readonly string[];
}

class SensorColumns {
  readonly ts = new Column(new Float64Array(1024));
  readonly values: Array<Column<Float32Array>>;
  readonly reconstruction: Array<Column<Float32Array>>;
  readonly score = new Column(new Float32Array(1024));
  readonly anomaly = new Column(new Int8Array(1024));
  readonly label = new Column(new Int8Array(1024));
  readonly training = new Column(new Int8Array(1024));
  readonly suppressed = new Column(new Int8Array(1024));
  readonly events: AnomalyEvent[] = [];
  readonly latentAt = new Column(new Int32Array(0));
  readonly latentX = new Column(new Float32Array(0));
  readonly latentY = new Column(new Float32Array(0));
  readonly latentDistance = new Column(new Float32Array(0));
  readonly latentModel = new Column(new Int32Array(0));
  readonly versions: string[] = [];

  constructor(readonly channels: readonly string[]) {
    this.values = channels.map(() => new Column(new Float32Array(1024)));
    this.reconstruction = channels.map(() => new Column(new Float32Array(1024)));
  }

  push(row: ScoredReading, modelVersion: string | undefined): void {
    const { reading } = row;
    if (row.latent) {
      const version = modelVersion ?? '';
      let m = this.versions.lastIndexOf(version);
      if (m < 0) m = this.versions.push(version) - 1;
      this.latentAt.push(this.ts.length);
      this.latentX.push(row.latent.x);
      this.latentY.push(row.latent.y);
      this.latentDistance.push(row.latent.distance);
      this.latentModel.push(m);
    }
    this.ts.push(reading.ts);
    this.channels.forEach((c, i) => {
      const at = reading.channels === this.channels ? i : reading.channels.indexOf(c);
      this.values[i]!.push(at >= 0 ? reading.values[at]! : Number.NaN);
      this.reconstruction[i]!.push(row.reconstruction?.[i] ?? Number.NaN);
    });
    this.score.push(row.score ?? Number.NaN);
    this.anomaly.push(row.anomaly ? 1 : 0);
    this.label.push(reading.label ?? -1);
    this.training.push(row.training ? 1 : 0);
    this.suppressed.push(row.suppressed ? 1 : 0);
  }
}

/**
 * Collects a replay's scored readings per sensor for a report (`--report`), and with
 * `scoring.latent` each window's place in the latent space. Memory is a few bytes per reading
 * and channel (and 20 per window); the report downsamples when it is written.
 */
export class SeriesCollector implements Sink {
  readonly name = 'report-series';
  private readonly sensors = new Map<string, SensorColumns>();

  async write(outputs: readonly PipelineOutput[]): Promise<void> {
    for (const o of outputs) {
      if (o.kind === 'scored') {
        for (const row of o.rows) {
          const id = row.reading.sensor;
          let cols = this.sensors.get(id);
          // A sensor whose channel set changes mid-replay keeps its first set (the report's columns).
          if (cols === undefined) this.sensors.set(id, (cols = new SensorColumns(row.channels)));
          cols.push(row, o.window?.modelVersion);
        }
      } else if (o.kind === 'event') {
        this.sensors.get(o.event.sensor)?.events.push(o.event);
      }
    }
  }

  async close(): Promise<void> {}

  /** The collected series, one per sensor, in the order sensors first appeared. */
  series(): SensorSeries[] {
    return [...this.sensors.entries()].map(([id, c]) => ({
      id,
      channels: c.channels,
      ts: c.ts.values(),
      values: c.values.map((v) => v.values()),
      reconstruction: c.reconstruction.map((v) => v.values()),
      score: c.score.values(),
      anomaly: c.anomaly.values(),
      label: c.label.values(),
      training: c.training.values(),
      suppressed: c.suppressed.values(),
      events: c.events,
      ...(c.latentAt.length > 0
        ? {
            latent: {
              at: c.latentAt.values(),
              x: c.latentX.values(),
              y: c.latentY.values(),
              distance: c.latentDistance.values(),
              model: c.latentModel.values(),
              versions: [...c.versions],
            },
          }
        : {}),
    }));
  }
}
