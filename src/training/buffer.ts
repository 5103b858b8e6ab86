import type { SensorWindow } from '../pipeline/contracts.js';
import type { LabelStore } from './labels.js';

export interface NormalBufferConfig {
  /** Normal windows kept per sensor (the most recent); bounds memory. */
  windowsPerSensor: number;
  /** Labelled-anomalous windows kept per model group, for the promotion gate. */
  anomalousPerGroup: number;
  /** A window is taken as normal automatically when its score is below this (× threshold). */
  autoNormalBelow: number;
  /** Event time around an anomaly (opened by aemon or labelled) whose windows are never normal. */
  neighbourhoodMs: number;
  /** Every n-th accepted window is kept (training.stride). */
  stride: number;
}

/** A buffered window: raw values (size × channels) and its event-time span. */
export interface BufferedWindow {
  data: Float32Array;
  start: number;
  end: number;
}

interface SensorRing {
  windows: BufferedWindow[];
  /** Next slot to overwrite once full. */
  next: number;
  accepted: number;
  /** End of the last anomaly aemon opened for the sensor (event time), or -Infinity. */
  lastAnomalyEnd: number;
  anomalous: boolean;
  /**
   * Recent windows that were not taken (anomalous, near an anomaly, scored too high), at most
   * `windowsPerSensor`: a later label can still take them in — an operator who marks an event a
   * false alarm means its windows were normal after all.
   */
  held: BufferedWindow[];
  nextHeld: number;
}

interface GroupBuffer {
  channels: readonly string[];
  sensors: Map<string, SensorRing>;
  anomalous: Array<BufferedWindow & { sensor: string }>;
  nextAnomalous: number;
  /** Normal windows accepted since the last snapshot. */
  fresh: number;
}

/** A copy of a group's buffer for one training run. */
export interface BufferSnapshot {
  group: string;
  channels: readonly string[];
  /** Per sensor, oldest first. */
  sensors: Array<{ sensor: string; windows: BufferedWindow[] }>;
  anomalous: Array<BufferedWindow & { sensor: string }>;
}

/**
 * What the next model learns from, per model group: the most recent windows of each sensor that
 * are normal — labelled normal by an operator, or scored well below threshold far from any
 * anomaly — and never a window labelled anomalous or near one (an anomaly is never learned as
 * normal). Labelled-anomalous windows are kept apart for the promotion gate. Memory is bounded:
 * `windowsPerSensor` windows per sensor, `anomalousPerGroup` per group.
 */
export class NormalBuffer {
  private readonly groups = new Map<string, GroupBuffer>();

  constructor(
    private readonly cfg: NormalBufferConfig,
    private readonly labels?: LabelStore,
  ) {}

  /**
   * Offers a scored window. `score` is error ÷ threshold; `anomalous` the sensor's state after
   * hysteresis. Returns whether the window went into the normal buffer.
   */
  offer(window: SensorWindow, score: number, anomalous: boolean): boolean {
    const g = this.group(window.group, window.channels);
    const ring = this.ring(g, window.sensor);
    const nb = this.cfg.neighbourhoodMs;
    if (anomalous) ring.lastAnomalyEnd = window.end;
    else if (ring.anomalous) ring.lastAnomalyEnd = window.end;
    ring.anomalous = anomalous;
    const item: BufferedWindow = { data: window.data, start: window.start, end: window.end };
    if (this.labels?.anomalousWithin(window.sensor, window.start - nb, window.end + nb)) {
      if (this.labels.anomalousWithin(window.sensor, window.start, window.end))
        this.keepAnomalous(g, window.sensor, item);
      return false;
    }
    const labelledNormal =
      this.labels?.labelAt(window.sensor, window.start) === 'normal' &&
      this.labels.labelAt(window.sensor, window.end) === 'normal';
    const auto = !anomalous && score < this.cfg.autoNormalBelow && window.start > ring.lastAnomalyEnd + nb;
    if (!labelledNormal && !auto) {
      this.hold(ring, item);
      return false;
    }
    if (ring.accepted++ % this.cfg.stride !== 0) return false;
    this.keepNormal(g, ring, item);
    return true;
  }

  private keepNormal(g: GroupBuffer, ring: SensorRing, item: BufferedWindow): void {
    if (ring.windows.length < this.cfg.windowsPerSensor) ring.windows.push(item);
    else {
      ring.windows[ring.next] = item;
      ring.next = (ring.next + 1) % this.cfg.windowsPerSensor;
    }
    g.fresh++;
  }

  private hold(ring: SensorRing, item: BufferedWindow): void {
    if (ring.held.length < this.cfg.windowsPerSensor) ring.held.push(item);
    else {
      ring.held[ring.nextHeld] = item;
      ring.nextHeld = (ring.nextHeld + 1) % this.cfg.windowsPerSensor;
    }
  }

  /** Drops buffered normal windows of `sensor` that overlap [from, to] widened by the neighbourhood (a new anomalous label). */
  purge(sensor: string, from: number, to: number): number {
    const nb = this.cfg.neighbourhoodMs;
    let dropped = 0;
    for (const g of this.groups.values()) {
      const ring = g.sensors.get(sensor);
      if (!ring) continue;
      const ordered = this.ordered(ring);
      const kept = ordered.filter((w) => w.end < from - nb || w.start > to + nb);
      dropped += ordered.length - kept.length;
      ring.windows = kept;
      ring.next = 0;
    }
    return dropped;
  }

  /**
   * A label that came after its windows were offered: windows of `sensor` held back that ended
   * within [from, to] (an anomaly event's span is one of window ends) join the normal buffer (a `normal` label) or the gate's anomalous set (`anomaly`).
   * Returns how many moved.
   */
  adopt(sensor: string, from: number, to: number, label: 'normal' | 'anomaly'): number {
    let moved = 0;
    for (const g of this.groups.values()) {
      const ring = g.sensors.get(sensor);
      if (!ring) continue;
      const stay: BufferedWindow[] = [];
      for (const w of [...ring.held.slice(ring.nextHeld), ...ring.held.slice(0, ring.nextHeld)]) {
        const inside = w.end >= from && w.end <= to;
        if (!inside || (label === 'normal' && this.labels?.anomalousWithin(sensor, w.start, w.end))) {
          stay.push(w);
          continue;
        }
        moved++;
        if (label === 'anomaly') this.keepAnomalous(g, sensor, w);
        else this.keepNormal(g, ring, w);
      }
      ring.held = stay;
      ring.nextHeld = 0;
    }
    return moved;
  }

  /** Normal windows of `sensor` buffered that overlap [from, to] (what the next training learns from there). */
  normalWithin(sensor: string, from: number, to: number): BufferedWindow[] {
    const out: BufferedWindow[] = [];
    for (const g of this.groups.values()) {
      const ring = g.sensors.get(sensor);
      if (ring) for (const w of this.ordered(ring)) if (w.end >= from && w.start <= to) out.push(w);
    }
    return out;
  }

  /** Normal windows buffered, over all groups (aemon_normal_windows). */
  get size(): number {
    let n = 0;
    for (const g of this.groups.values()) for (const r of g.sensors.values()) n += r.windows.length;
    return n;
  }

  /** Normal windows accepted for `group` since its last snapshot. */
  fresh(group: string): number {
    return this.groups.get(group)?.fresh ?? 0;
  }

  /** Normal windows buffered for `group`. */
  windows(group: string): number {
    const g = this.groups.get(group);
    if (!g) return 0;
    let n = 0;
    for (const r of g.sensors.values()) n += r.windows.length;
    return n;
  }

  /** A copy of `group`'s buffer (windows oldest first per sensor); resets its fresh count. */
  snapshot(group: string): BufferSnapshot | undefined {
    const g = this.groups.get(group);
    if (!g) return undefined;
    g.fresh = 0;
    return {
      group,
      channels: g.channels,
      sensors: [...g.sensors]
        .filter(([, r]) => r.windows.length > 0)
        .map(([sensor, r]) => ({ sensor, windows: this.ordered(r) })),
      anomalous: [...g.anomalous],
    };
  }

  private ordered(ring: SensorRing): BufferedWindow[] {
    return [...ring.windows.slice(ring.next), ...ring.windows.slice(0, ring.next)];
  }

  private keepAnomalous(g: GroupBuffer, sensor: string, w: BufferedWindow): void {
    const item = { ...w, sensor };
    if (g.anomalous.length < this.cfg.anomalousPerGroup) g.anomalous.push(item);
    else {
      g.anomalous[g.nextAnomalous] = item;
      g.nextAnomalous = (g.nextAnomalous + 1) % this.cfg.anomalousPerGroup;
    }
  }

  private group(group: string, channels: readonly string[]): GroupBuffer {
    let g = this.groups.get(group);
    if (!g) {
      g = { channels, sensors: new Map(), anomalous: [], nextAnomalous: 0, fresh: 0 };
      this.groups.set(group, g);
    }
    return g;
  }

  private ring(g: GroupBuffer, sensor: string): SensorRing {
    let r = g.sensors.get(sensor);
    if (!r) {
      r = { windows: [], next: 0, accepted: 0, lastAnomalyEnd: -Infinity, anomalous: false, held: [], nextHeld: 0 };
      g.sensors.set(sensor, r);
    }
    return r;
  }
}
