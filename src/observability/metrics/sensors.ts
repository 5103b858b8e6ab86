import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

/** One scored window of one sensor, as `aemon_anomaly_score` and its siblings export it. */
export interface WindowObservation {
  sensor: string;
  /** `error / threshold`. */
  score: number;
  error: number;
  threshold: number;
  /** State after hysteresis; when absent `aemon_anomaly` keeps its previous value. */
  anomaly?: boolean | undefined;
  channels: readonly string[];
  /** Each channel's share of `error`, in `channels` order. */
  channelShares: ArrayLike<number>;
}

/**
 * The per-sensor series. They exist for at most `maxSensors` sensors: a newcomer takes the place
 * of the tracked sensor with the lowest latest score if its own score is higher, so the sensors
 * worth looking at stay visible.
 */
export interface SensorSeriesMetrics {
  /**
   * The per-sensor gauges and `aemon_channel_error{sensor,channel}` of one window. Only the
   * latest window of a sensor is visible to a scrape, so this keeps the values and the gauges
   * are set when scraped: a window costs a map lookup, not eight label look-ups.
   */
  observeWindow(o: WindowObservation): void;
  /** `aemon_anomalies_total{sensor}` (only for a sensor that has series). */
  anomalyOpened(sensor: string): void;
  /** Drops a sensor's series and tracking (e.g. it was evicted as stale). */
  forgetSensor(sensor: string): void;
  /** Sensors that currently have per-sensor series. */
  trackedSensors(): string[];
}

interface Tracked {
  /** The latest score as ranked for eviction (NaN → -Infinity). */
  score: number;
  channels: readonly string[];
  /** The latest window's values, exported at the next scrape (see `flushWindows`). */
  value: number;
  error: number;
  threshold: number;
  /** 1/0, or undefined while no window carried the hysteresis state. */
  anomaly: number | undefined;
  shares: ArrayLike<number>;
  /** Observed since the last scrape. */
  dirty: boolean;
}

/** NaN never outranks a real score, so it cannot push out a tracked sensor. */
const rank = (score: number): number => (Number.isNaN(score) ? -Infinity : score);

function sensorGauges(registers: Registry[], flushWindows: () => void) {
  return {
    anomalyScore: new Gauge({
      name: 'aemon_anomaly_score',
      help: 'Latest window reconstruction error divided by the threshold (>1 means above threshold).',
      labelNames: ['sensor'] as const,
      registers,
      collect: () => flushWindows(),
    }),
    reconstructionError: new Gauge({
      name: 'aemon_reconstruction_error',
      help: 'Latest window reconstruction error, in scaled units.',
      labelNames: ['sensor'] as const,
      registers,
      collect: () => flushWindows(),
    }),
    threshold: new Gauge({
      name: 'aemon_threshold',
      help: 'Current anomaly threshold of the sensor, in scaled units.',
      labelNames: ['sensor'] as const,
      registers,
      collect: () => flushWindows(),
    }),
    anomaly: new Gauge({
      name: 'aemon_anomaly',
      help: 'Whether the sensor is anomalous (1) or not (0), after hysteresis.',
      labelNames: ['sensor'] as const,
      registers,
      collect: () => flushWindows(),
    }),
    anomaliesTotal: new Counter({
      name: 'aemon_anomalies_total',
      help: 'Anomaly events opened.',
      labelNames: ['sensor'] as const,
      registers,
    }),
    channelError: new Gauge({
      name: 'aemon_channel_error',
      help: "A channel's share of the latest window reconstruction error (shares sum to 1).",
      labelNames: ['sensor', 'channel'] as const,
      registers,
      collect: () => flushWindows(),
    }),
    seriesDropped: new Gauge({
      name: 'aemon_sensor_series_dropped',
      help: 'Sensors seen whose per-sensor series are not exported because of metrics.maxSensors.',
      registers,
    }),
  };
}

export function sensorSeriesMetrics(registers: Registry[], cfg: { maxSensors: number }): SensorSeriesMetrics {
  const g = sensorGauges(registers, () => flushWindows());
  const setDropped = (n: number): void => g.seriesDropped.set(n);

  const tracked = new Map<string, Tracked>();
  const untracked = new Set<string>();
  // Lowest-scoring tracked sensor, cached so a stream of untracked sensors does not rescan the
  // map for every window; `null` means unknown (rescan when needed).
  let lowest: { sensor: string; score: number } | null = null;

  const findLowest = (): { sensor: string; score: number } | null => {
    if (lowest === null) {
      for (const [sensor, t] of tracked) {
        if (lowest === null || t.score < lowest.score) lowest = { sensor, score: t.score };
      }
    }
    return lowest;
  };

  const setScore = (sensor: string, t: Tracked, score: number): void => {
    t.score = score;
    if (lowest === null) return;
    if (lowest.sensor === sensor) lowest = score <= lowest.score ? { sensor, score } : null;
    else if (score < lowest.score) lowest = { sensor, score };
  };

  // Sets the gauges of every sensor observed since the last scrape (each per-sensor gauge's
  // `collect`: whichever a scrape reads first does it for all).
  function flushWindows(): void {
    for (const [sensor, t] of tracked) {
      if (!t.dirty) continue;
      t.dirty = false;
      const labels = { sensor };
      g.anomalyScore.set(labels, t.value);
      g.reconstructionError.set(labels, t.error);
      g.threshold.set(labels, t.threshold);
      if (t.anomaly !== undefined) g.anomaly.set(labels, t.anomaly);
      for (let i = 0; i < t.channels.length; i++) {
        g.channelError.set({ sensor, channel: t.channels[i] as string }, t.shares[i] ?? NaN);
      }
    }
  }

  const removeSeries = (sensor: string): void => {
    const t = tracked.get(sensor);
    if (t === undefined) return;
    for (const gauge of [g.anomalyScore, g.reconstructionError, g.threshold, g.anomaly]) gauge.remove({ sensor });
    g.anomaliesTotal.remove({ sensor });
    for (const channel of t.channels) g.channelError.remove({ sensor, channel });
    tracked.delete(sensor);
    if (lowest?.sensor === sensor) lowest = null;
  };

  const admit = (sensor: string, score: number): Tracked | undefined => {
    if (tracked.size >= cfg.maxSensors) {
      const victim = findLowest();
      if (victim === null || !(score > victim.score)) {
        // Every window of an untracked sensor comes here: the gauge changes only for a newcomer.
        if (!untracked.has(sensor)) {
          untracked.add(sensor);
          setDropped(untracked.size);
        }
        return undefined;
      }
      removeSeries(victim.sensor);
      untracked.add(victim.sensor);
    }
    const t: Tracked = {
      score,
      channels: [],
      value: NaN,
      error: NaN,
      threshold: NaN,
      anomaly: undefined,
      shares: [],
      dirty: false,
    };
    tracked.set(sensor, t);
    // Exported from 0, so increase() sees a sensor's first anomaly.
    g.anomaliesTotal.inc({ sensor }, 0);
    untracked.delete(sensor);
    setDropped(untracked.size);
    if (lowest !== null && score < lowest.score) lowest = { sensor, score };
    return t;
  };

  return {
    observeWindow(o) {
      const score = rank(o.score);
      const t = tracked.get(o.sensor) ?? admit(o.sensor, score);
      if (t === undefined) return;
      setScore(o.sensor, t, score);
      t.value = o.score;
      t.error = o.error;
      t.threshold = o.threshold;
      if (o.anomaly !== undefined) t.anomaly = o.anomaly ? 1 : 0;
      if (t.channels !== o.channels) {
        for (const channel of t.channels) {
          if (!o.channels.includes(channel)) g.channelError.remove({ sensor: o.sensor, channel });
        }
        t.channels = o.channels;
      }
      t.shares = o.channelShares;
      t.dirty = true;
    },
    anomalyOpened(sensor) {
      if (tracked.has(sensor)) g.anomaliesTotal.inc({ sensor });
    },
    forgetSensor(sensor) {
      removeSeries(sensor);
      untracked.delete(sensor);
      setDropped(untracked.size);
    },
    trackedSensors() {
      return [...tracked.keys()];
    },
  };
}
