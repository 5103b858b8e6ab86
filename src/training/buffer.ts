import type { SensorWindow } from '../pipeline/contracts.js';
import type { LabelStore } from './labels.js';

export interface NormalBufferConfig {
  /** Normal windows kept per sensor (the most recent); bounds memory. */
  windowsPerSensor: number;
  /** Labelled-anomalous windows kept per model group, for the promotion gate. */
  anomalousPerGroup: number;
  /** A window is taken as normal automatically only when its score is below this (× threshold); absent: any score. */
  autoNormalBelow?: number;
  /** Event time around an anomaly (opened by aemon or labelled) whose windows are never normal. */
  neighbourhoodMs: number;
  /** Every n-th accepted window is kept (training.stride). */
  stride: number;
  /**
   * The new normal: event time (ms) a sensor must stay out of the automatic normal range, steady,
   * before its windows are taken as normal anyway; 0 = never (see {@link NormalBuffer}).
   */
  newNormalAfterMs?: number;
  /** Steady: each channel's mean moved at most this many of its normal spreads over that time. */
  newNormalTolerance?: number;
}

/** Time slices of the new-normal span, each with its windows' summed score and channel means. */
const SLICES = 8;

interface Slice {
  index: number;
  n: number;
  score: number;
  /** Per channel, the sum of its windows' means and of their standard deviations over the steps. */
  means: Float64Array;
  stds: Float64Array;
}

/** A sensor's normal windows, summarised per channel: the spread of their means, their mean standard deviation. */
export interface NormalShape {
  spread: Float64Array;
  std: Float64Array;
}

/**
 * A sensor's run of windows that were not taken as normal, since the last one that was: when it
 * began, the shape of the normal windows buffered before it (worked out once the run has lasted
 * a whole span; none are taken during it), and the run's recent slices.
 */
interface Excursion {
  start: number;
  /** undefined until needed; null with too few normal windows to tell. */
  normal: NormalShape | null | undefined;
  slices: Slice[];
  adopted: boolean;
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
  excursion: Excursion | undefined;
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
 * are normal — labelled normal by an operator, or out of the anomaly state far from any anomaly
 * (and below `autoNormalBelow` × threshold when it is given) — and never a window labelled
 * anomalous or near one (an anomaly is never learned as normal). Labelled-anomalous windows are
 * kept apart for the promotion gate. Memory is bounded: `windowsPerSensor` windows per sensor,
 * `anomalousPerGroup` per group.
 *
 * The new normal: with `newNormalAfterMs` > 0, a sensor whose windows have not been taken for
 * that long, and steady over that span — each channel's mean moved by at most
 * `newNormalTolerance` × its spread among the normal windows buffered before, its variation
 * within a window still like theirs (within ×3), its score not climbing (the last quarter's mean
 * at most twice the first's) — has the span's held windows taken as normal, and its next windows
 * while it stays steady. A fault that keeps changing never is; an anomalous label near a window
 * still keeps it out, and restarts the span.
 */
export class NormalBuffer {
  private readonly groups = new Map<string, GroupBuffer>();
  /** Windows taken as the new normal since the last {@link takeNewNormalCount}. */
  private newNormalCount = 0;

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
      ring.excursion = undefined;
      if (this.labels.anomalousWithin(window.sensor, window.start, window.end))
        this.keepAnomalous(g, window.sensor, item);
      return false;
    }
    const labelledNormal =
      this.labels?.labelAt(window.sensor, window.start) === 'normal' &&
      this.labels.labelAt(window.sensor, window.end) === 'normal';
    const auto =
      !anomalous && score < (this.cfg.autoNormalBelow ?? Infinity) && window.start > ring.lastAnomalyEnd + nb;
    if (labelledNormal || auto) ring.excursion = undefined;
    else if (!this.newNormal(g, ring, window, score)) {
      this.hold(ring, item);
      return false;
    }
    if (ring.accepted++ % this.cfg.stride !== 0) return false;
    this.keepNormal(g, ring, item);
    return true;
  }

  /**
   * Counts a window that was not taken into the sensor's excursion; true when the excursion has
   * become the new normal (the span's held windows are taken in, once) and this window is too.
   */
  private newNormal(g: GroupBuffer, ring: SensorRing, window: SensorWindow, score: number): boolean {
    const span = this.cfg.newNormalAfterMs ?? 0;
    if (span <= 0) return false;
    const channels = window.channels.length;
    let ex = ring.excursion;
    if (ex === undefined) {
      ex = { start: window.end, normal: undefined, slices: [], adopted: false };
      ring.excursion = ex;
    }
    const index = Math.floor(((window.end - ex.start) * SLICES) / span);
    let slice = ex.slices.at(-1);
    if (slice?.index !== index) {
      slice = { index, n: 0, score: 0, means: new Float64Array(channels), stds: new Float64Array(channels) };
      ex.slices.push(slice);
      // Keep the slices of the last span (and the one being filled).
      while (ex.slices.length > 0 && ex.slices[0]!.index < index - SLICES) ex.slices.shift();
    }
    slice.n++;
    slice.score += score;
    addMoments(slice.means, slice.stds, window.data, channels);
    if (index >= SLICES) ex.normal ??= normalShape(ring.windows, channels);
    if (!steady(ex, index, this.cfg.newNormalTolerance ?? 1)) {
      ex.adopted = false;
      return false;
    }
    if (!ex.adopted) {
      ex.adopted = true;
      this.adoptHeld(g, ring, window.sensor, window.end - span);
    }
    this.newNormalCount++;
    return true;
  }

  /** Windows taken as the new normal since the last call (aemon_new_normal_windows_total); resets the count. */
  takeNewNormalCount(): number {
    const n = this.newNormalCount;
    this.newNormalCount = 0;
    return n;
  }

  /** The sensor's held windows that ended at or after `from` join its normal windows (the new normal's span). */
  private adoptHeld(g: GroupBuffer, ring: SensorRing, sensor: string, from: number): void {
    this.releaseHeld(ring, (w) => {
      if (w.end < from || this.labels?.anomalousWithin(sensor, w.start, w.end)) return false;
      if (ring.accepted++ % this.cfg.stride === 0) {
        this.keepNormal(g, ring, w);
        this.newNormalCount++;
      }
      return true;
    });
  }

  /** Walks the ring's held windows oldest first; those `take` took (it returned true) leave the ring. */
  private releaseHeld(ring: SensorRing, take: (w: BufferedWindow) => boolean): void {
    const stay: BufferedWindow[] = [];
    for (const w of [...ring.held.slice(ring.nextHeld), ...ring.held.slice(0, ring.nextHeld)])
      if (!take(w)) stay.push(w);
    ring.held = stay;
    ring.nextHeld = 0;
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
      this.releaseHeld(ring, (w) => {
        const inside = w.end >= from && w.end <= to;
        if (!inside || (label === 'normal' && this.labels?.anomalousWithin(sensor, w.start, w.end))) return false;
        moved++;
        if (label === 'anomaly') this.keepAnomalous(g, sensor, w);
        else this.keepNormal(g, ring, w);
        return true;
      });
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
      r = {
        windows: [],
        next: 0,
        accepted: 0,
        lastAnomalyEnd: -Infinity,
        anomalous: false,
        held: [],
        nextHeld: 0,
        excursion: undefined,
      };
      g.sensors.set(sensor, r);
    }
    return r;
  }
}

/** Adds each channel's mean over the window (size × channels, row-major) to `means`, its standard deviation to `stds`. */
function addMoments(means: Float64Array, stds: Float64Array, data: Float32Array, channels: number): void {
  const steps = data.length / channels;
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    let sq = 0;
    for (let t = 0; t < steps; t++) {
      const v = data[t * channels + c]!;
      sum += v;
      sq += v * v;
    }
    const mean = sum / steps;
    means[c]! += mean;
    stds[c]! += Math.sqrt(Math.max(0, sq / steps - mean * mean));
  }
}

/** Per channel, the standard deviation of the window means of `windows` and their mean standard deviation; null with fewer than 8. */
export function normalShape(windows: readonly BufferedWindow[], channels: number): NormalShape | null {
  if (windows.length < 8) return null;
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  const std = new Float64Array(channels);
  const m = new Float64Array(channels);
  for (const w of windows) {
    m.fill(0);
    addMoments(m, std, w.data, channels);
    for (let c = 0; c < channels; c++) {
      sum[c]! += m[c]!;
      sq[c]! += m[c]! * m[c]!;
    }
  }
  const n = windows.length;
  return {
    spread: sum.map((s, c) => Math.sqrt(Math.max(0, (sq[c]! - (s * s) / n) / (n - 1)))),
    std: std.map((s) => s / n),
  };
}

/** How far a steady channel's variation within its windows may move from normal: within ×3 either way. */
const STD_RATIO = 3;

/**
 * Whether the excursion has lasted a whole span and stayed steady over it: at least 6 of the
 * span's 8 slices hold windows; each channel's slice means lie within `tolerance` × its normal
 * spread of each other, and its variation within a window stays within ×3 of its normal one
 * either way (a stuck sensor or a burst of noise is no new normal); and the mean score of the
 * span's last quarter is at most twice its first's.
 */
function steady(ex: Excursion, index: number, tolerance: number): boolean {
  if (ex.normal == null || index < SLICES) return false;
  // The span: the SLICES slices before the one being filled.
  const span = ex.slices.filter((s) => s.index >= index - SLICES && s.index < index);
  if (span.length < SLICES - 2) return false;
  const { spread, std } = ex.normal;
  const n = span.reduce((a, s) => a + s.n, 0);
  for (let c = 0; c < spread.length; c++) {
    let lo = Infinity;
    let hi = -Infinity;
    let stds = 0;
    for (const s of span) {
      const m = s.means[c]! / s.n;
      if (m < lo) lo = m;
      if (m > hi) hi = m;
      stds += s.stds[c]!;
    }
    // A channel that did not vary at all among the normal windows must not vary now either.
    const allowed = tolerance * spread[c]! + 1e-9 * (1 + Math.abs(hi));
    if (hi - lo > allowed) return false;
    const within = stds / n;
    if (within * STD_RATIO < std[c]! || within > STD_RATIO * std[c]! + 1e-9 * (1 + Math.abs(hi))) return false;
  }
  const quarter = Math.max(1, Math.floor(span.length / 4));
  const meanScore = (part: Slice[]) => part.reduce((a, s) => a + s.score, 0) / part.reduce((a, s) => a + s.n, 0);
  return meanScore(span.slice(-quarter)) <= 2 * meanScore(span.slice(0, quarter));
}
