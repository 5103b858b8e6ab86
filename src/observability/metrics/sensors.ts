import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Severity } from '../../pipeline/contracts.js';

/** Levels of the severities, as `aemon_anomaly_severity` exports them (0 = no open anomaly). */
export const SEVERITY_LEVEL: Readonly<Record<Severity, number>> = { minor: 1, major: 2, critical: 3 };

/** One scored window of one sensor, as `aemon_anomaly_score` and its siblings export it. */
export interface WindowObservation {
  sensor: string;
  /** The decision's score: what the hysteresis compared with 1 (> 1 = above the threshold in force). */
  score: number;
  /** The window's error ÷ the sensor's calibrated threshold. */
  rawScore: number;
  error: number;
  /** The threshold in force, in error units; `null` (no series) under a decision without one. */
  threshold: number | null;
  /** State after hysteresis; when absent `aemon_anomaly` keeps its previous value. */
  anomaly?: boolean | undefined;
  /** The open anomaly's severity level (0 none, 1 minor, 2 major, 3 critical); when absent it keeps its previous value. */
  severity?: number | undefined;
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
  /**
   * `aemon_anomalies_total{sensor}` counts the event, and `aemon_anomaly_event_info{sensor,event}`
   * names it while it is open (only for a sensor that has series).
   */
  anomalyOpened(sensor: string, event: string): void;
  /** The event closed: its `aemon_anomaly_event_info` series goes. */
  anomalyClosed(sensor: string, event: string): void;
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
  raw: number;
  error: number;
  threshold: number | null;
  /** 1/0, or undefined while no window carried the hysteresis state. */
  anomaly: number | undefined;
  severity: number | undefined;
  shares: ArrayLike<number>;
  /** The id of the sensor's open anomaly event, exported as `aemon_anomaly_event_info`. */
  openEvent: string | undefined;
  /** Observed since the last scrape. */
  dirty: boolean;
}

/** NaN never outranks a real score, so it cannot push out a tracked sensor. */
const rank = (score: number): number => (Number.isNaN(score) ? -Infinity : score);

function sensorGauges(registers: Registry[], flushWindows: () => void) {
  return {
    anomalyScore: new Gauge({
      name: 'aemon_anomaly_score',
      help: 'Latest window score: what the decision (detection.decision) compares with 1; >1 means above the threshold in force.',
      labelNames: ['sensor'] as const,
      registers,
      collect: () => flushWindows(),
    }),
    rawScore: new Gauge({
      name: 'aemon_window_score_raw',
      help: "Latest window reconstruction error divided by the sensor's calibrated threshold (the decision's input).",
      labelNames: ['sensor'] as const,
      registers,
      collect: () => flushWindows(),
    }),
    severity: new Gauge({
      name: 'aemon_anomaly_severity',
      help: "Severity of the sensor's open anomaly by detection.severity: 0 none, 1 minor, 2 major, 3 critical.",
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
      help: 'The threshold in force for the sensor (detection.decision), in reconstruction-error units; absent under decision likelihood.',
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
    eventInfo: new Gauge({
      name: 'aemon_anomaly_event_info',
      help: "The sensor's open anomaly event: 1, with its id (as in aemon.anomalies and the live view) in the event label; no series while none is open.",
      labelNames: ['sensor', 'event'] as const,
      registers,
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

type SensorGauges = ReturnType<typeof sensorGauges>;

/** Sets a sensor's gauges to its latest window. */
function writeSeries(g: SensorGauges, sensor: string, t: Tracked): void {
  const labels = { sensor };
  g.anomalyScore.set(labels, t.value);
  g.rawScore.set(labels, t.raw);
  g.reconstructionError.set(labels, t.error);
  if (t.threshold === null) g.threshold.remove(labels);
  else g.threshold.set(labels, t.threshold);
  if (t.anomaly !== undefined) g.anomaly.set(labels, t.anomaly);
  if (t.severity !== undefined) g.severity.set(labels, t.severity);
  for (let i = 0; i < t.channels.length; i++) {
    g.channelError.set({ sensor, channel: t.channels[i] as string }, t.shares[i] ?? NaN);
  }
}

/** Removes every series of a sensor. */
function removeSeries(g: SensorGauges, sensor: string, t: Tracked): void {
  for (const gauge of [g.anomalyScore, g.rawScore, g.reconstructionError, g.threshold, g.anomaly, g.severity])
    gauge.remove({ sensor });
  g.anomaliesTotal.remove({ sensor });
  if (t.openEvent !== undefined) g.eventInfo.remove({ sensor, event: t.openEvent });
  for (const channel of t.channels) g.channelError.remove({ sensor, channel });
}

/** What the ranking tells the series: a sensor lost or got its series, or the count of sensors without any changed. */
interface RankingChanges {
  removed(sensor: string, t: Tracked): void;
  admitted(sensor: string): void;
  dropped(count: number): void;
}

/**
 * Which sensors have series: at most `max`, a newcomer taking the place of the tracked sensor
 * with the lowest latest score if its own is higher; the others are counted as dropped.
 */
class SensorRanking {
  readonly tracked = new Map<string, Tracked>();
  private readonly untracked = new Set<string>();
  // Lowest-scoring tracked sensor, cached so a stream of untracked sensors does not rescan the
  // map for every window; `null` means unknown (rescan when needed).
  private lowest: { sensor: string; score: number } | null = null;

  constructor(
    private readonly max: number,
    private readonly on: RankingChanges,
  ) {}

  /** The sensor's entry, admitting it if it may have series; undefined when it may not. */
  entry(sensor: string, score: number): Tracked | undefined {
    return this.tracked.get(sensor) ?? this.admit(sensor, score);
  }

  setScore(sensor: string, t: Tracked, score: number): void {
    t.score = score;
    if (this.lowest === null) return;
    if (this.lowest.sensor === sensor) this.lowest = score <= this.lowest.score ? { sensor, score } : null;
    else if (score < this.lowest.score) this.lowest = { sensor, score };
  }

  /** Drops a sensor's series and its place among the dropped. */
  forget(sensor: string): void {
    this.remove(sensor);
    this.untracked.delete(sensor);
    this.on.dropped(this.untracked.size);
  }

  private findLowest(): { sensor: string; score: number } | null {
    if (this.lowest === null) {
      for (const [sensor, t] of this.tracked) {
        if (this.lowest === null || t.score < this.lowest.score) this.lowest = { sensor, score: t.score };
      }
    }
    return this.lowest;
  }

  private remove(sensor: string): void {
    const t = this.tracked.get(sensor);
    if (t === undefined) return;
    this.on.removed(sensor, t);
    this.tracked.delete(sensor);
    if (this.lowest?.sensor === sensor) this.lowest = null;
  }

  private admit(sensor: string, score: number): Tracked | undefined {
    if (this.tracked.size >= this.max) {
      const victim = this.findLowest();
      if (victim === null || !(score > victim.score)) {
        // Every window of an untracked sensor comes here: the gauge changes only for a newcomer.
        if (!this.untracked.has(sensor)) {
          this.untracked.add(sensor);
          this.on.dropped(this.untracked.size);
        }
        return undefined;
      }
      this.remove(victim.sensor);
      this.untracked.add(victim.sensor);
    }
    const t: Tracked = {
      score,
      channels: [],
      value: NaN,
      raw: NaN,
      error: NaN,
      threshold: NaN,
      anomaly: undefined,
      severity: undefined,
      shares: [],
      openEvent: undefined,
      dirty: false,
    };
    this.tracked.set(sensor, t);
    this.on.admitted(sensor);
    this.untracked.delete(sensor);
    this.on.dropped(this.untracked.size);
    if (this.lowest !== null && score < this.lowest.score) this.lowest = { sensor, score };
    return t;
  }
}

export function sensorSeriesMetrics(registers: Registry[], cfg: { maxSensors: number }): SensorSeriesMetrics {
  const g = sensorGauges(registers, () => flushWindows());
  const ranking = new SensorRanking(cfg.maxSensors, {
    removed: (sensor, t) => removeSeries(g, sensor, t),
    // Exported from 0, so increase() sees a sensor's first anomaly.
    admitted: (sensor) => g.anomaliesTotal.inc({ sensor }, 0),
    dropped: (n) => g.seriesDropped.set(n),
  });

  // Sets the gauges of every sensor observed since the last scrape (each per-sensor gauge's
  // `collect`: whichever a scrape reads first does it for all).
  function flushWindows(): void {
    for (const [sensor, t] of ranking.tracked) {
      if (!t.dirty) continue;
      t.dirty = false;
      writeSeries(g, sensor, t);
    }
  }

  return {
    observeWindow(o) {
      const score = rank(o.score);
      const t = ranking.entry(o.sensor, score);
      if (t === undefined) return;
      ranking.setScore(o.sensor, t, score);
      t.value = o.score;
      t.raw = o.rawScore;
      t.error = o.error;
      t.threshold = o.threshold;
      if (o.anomaly !== undefined) t.anomaly = o.anomaly ? 1 : 0;
      if (o.severity !== undefined) t.severity = o.severity;
      if (t.channels !== o.channels) {
        for (const channel of t.channels) {
          if (!o.channels.includes(channel)) g.channelError.remove({ sensor: o.sensor, channel });
        }
        t.channels = o.channels;
      }
      t.shares = o.channelShares;
      t.dirty = true;
    },
    anomalyOpened(sensor, event) {
      const t = ranking.tracked.get(sensor);
      if (t === undefined) return;
      g.anomaliesTotal.inc({ sensor });
      // One series per sensor at most: the alert rules join on it.
      if (t.openEvent !== undefined) g.eventInfo.remove({ sensor, event: t.openEvent });
      t.openEvent = event;
      g.eventInfo.set({ sensor, event }, 1);
    },
    anomalyClosed(sensor, event) {
      const t = ranking.tracked.get(sensor);
      if (t === undefined || t.openEvent !== event) return;
      g.eventInfo.remove({ sensor, event });
      t.openEvent = undefined;
    },
    forgetSensor(sensor) {
      ranking.forget(sensor);
    },
    trackedSensors() {
      return [...ranking.tracked.keys()];
    },
  };
}
