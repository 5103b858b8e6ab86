import type { DetectionConfig } from '../config/schema.js';
import type { WindowScore } from '../pipeline/contracts.js';
import { AnomalyDetector, type DecisionGates, type SensorSnapshot } from './detector.js';

/** A decided window, as the committed copy needs it to decide it again. */
interface Entry {
  ws: WindowScore;
  gates: DecisionGates;
  /** The partitions the window's readings came from, and in each the highest offset among them (same order). */
  parts: string[];
  offsets: number[];
}

const partKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/**
 * What deciding `ws` again reads of it, and nothing more: its score and the model's verdict
 * inputs, and of the window its identity, times and last row (the row the reconstruction is of,
 * which the explanation shows). The readings it released (with their bytes) and its other rows
 * are left behind, so a window waiting for its commit costs a few hundred bytes.
 */
export function decisionInputs(ws: WindowScore): WindowScore {
  const { window } = ws;
  const width = window.channels.length;
  const out: WindowScore = {
    window: {
      kind: 'window',
      id: window.id,
      sensor: window.sensor,
      group: window.group,
      channels: window.channels,
      start: window.start,
      end: window.end,
      data: window.data.slice(Math.max(0, window.data.length - width)),
      readings: [],
    },
    error: ws.error,
    channelShares: ws.channelShares,
    threshold: ws.threshold,
    score: ws.score,
    modelVersion: ws.modelVersion,
  };
  if (ws.reconstruction !== undefined) out.reconstruction = ws.reconstruction;
  return out;
}

/**
 * The decision state as of the committed offsets. A new owner of a partition rebuilds its windows
 * and decides every window that released a reading at or past the committed offset again (the
 * earlier ones are replay-only), so the state it must start from is each sensor's state just
 * before the first such window. That is kept here: a second detector, the committed copy, lags
 * the live one, and each commit of a partition advances it over the logged windows of that
 * partition's sensors that released only readings before the committed offset. Each window is
 * decided again with the gates it was decided with (suppressions, mutes), so the copy is exactly
 * what the live detector was then; a decision is cheap beside the model call that scored it.
 */
export class CommittedDecisions {
  readonly copy: AnomalyDetector;
  /** Per sensor, the windows the live detector decided that the copy has not taken yet, in order. */
  private readonly pending = new Map<string, Entry[]>();
  /** Per partition, its sensors with pending windows. */
  private readonly sensorsOf = new Map<string, Set<string>>();
  /** Per sensor, the partition its state is kept under (that of the last reading of its last window). */
  private readonly home = new Map<string, string>();
  /** Per partition, the committed offset. */
  private readonly cut = new Map<string, number>();
  /** Per partition, its sensors whose committed state moved since {@link written}. */
  private readonly changed = new Map<string, Set<string>>();

  constructor(
    cfg: DetectionConfig,
    private readonly live: AnomalyDetector,
  ) {
    this.copy = new AnomalyDetector(cfg);
    live.onDecided = (ws, gates) => this.decided(ws, gates);
  }

  /** The live detector decided a window. Windows of readings from no Kafka partition are never committed, so not logged. */
  decided(ws: WindowScore, gates: DecisionGates): void {
    const parts: string[] = [];
    const offsets: number[] = [];
    let last: string | undefined;
    // A window's readings mostly come from one partition: its key is made once, not per reading.
    let lastTopic: string | undefined;
    let lastPartition: number | undefined;
    let k = '';
    for (const r of ws.window.readings) {
      const { topic, partition, offset } = r.origin;
      if (topic === undefined || partition === undefined || offset === undefined) continue;
      if (topic !== lastTopic || partition !== lastPartition) {
        k = partKey(topic, partition);
        lastTopic = topic;
        lastPartition = partition;
      }
      const o = Number(offset);
      const i = parts.indexOf(k);
      if (i < 0) {
        parts.push(k);
        offsets.push(o);
      } else if (offsets[i]! < o) offsets[i] = o;
      last = k;
    }
    if (last === undefined) return;
    const { sensor } = ws.window;
    let q = this.pending.get(sensor);
    if (!q) this.pending.set(sensor, (q = []));
    q.push({ ws: decisionInputs(ws), gates, parts, offsets });
    this.home.set(sensor, last);
    for (const k of parts) {
      let s = this.sensorsOf.get(k);
      if (!s) this.sensorsOf.set(k, (s = new Set()));
      s.add(sensor);
    }
  }

  /**
   * The partition's offsets before `offset` are (about to be) committed: its sensors' committed
   * states advance over their windows that released only readings before it (in every partition
   * those came from), up to the first that did not.
   */
  advance(topic: string, partition: number, offset: number): void {
    const k = partKey(topic, partition);
    if ((this.cut.get(k) ?? -1) < offset) this.cut.set(k, offset);
    const sensors = this.sensorsOf.get(k);
    if (!sensors) return;
    for (const sensor of sensors) {
      const q = this.pending.get(sensor);
      let n = 0;
      while (q && n < q.length && this.covered(q[n]!)) {
        this.copy.decide(q[n]!.ws, q[n]!.gates);
        n++;
      }
      if (n > 0) {
        q!.splice(0, n);
        const h = this.home.get(sensor)!;
        let c = this.changed.get(h);
        if (!c) this.changed.set(h, (c = new Set()));
        c.add(sensor);
      }
      if (!q || q.length === 0) {
        this.pending.delete(sensor);
        sensors.delete(sensor);
      }
    }
  }

  /** Windows logged and not yet committed, over all sensors. */
  get pendingWindows(): number {
    let n = 0;
    for (const q of this.pending.values()) n += q.length;
    return n;
  }

  /** The partition's sensors whose committed state moved since it was last {@link written}, with that state. */
  moved(topic: string, partition: number): Array<{ sensor: string; state: SensorSnapshot }> {
    const out: Array<{ sensor: string; state: SensorSnapshot }> = [];
    for (const sensor of this.changed.get(partKey(topic, partition)) ?? []) {
      const state = this.copy.snapshot(sensor);
      if (state) out.push({ sensor, state });
    }
    return out;
  }

  /** These sensors' states, as `moved` gave them, are written (and their offsets committed). */
  written(topic: string, partition: number, sensors: Iterable<string>): void {
    const c = this.changed.get(partKey(topic, partition));
    if (!c) return;
    for (const s of sensors) c.delete(s);
  }

  /** A new owner's start: the committed copy and the live detector both take the sensor's committed state. */
  restore(live: AnomalyDetector, sensor: string, state: unknown): { ok: true } | { ok: false; why: string } {
    const res = live.restore(sensor, state);
    if (!res.ok) return res;
    this.copy.restore(sensor, state);
    this.pending.delete(sensor);
    return res;
  }

  /**
   * The partition is another instance's now: what was logged for its sensors is dropped, and the
   * sensors whose state was kept under it forget it (live and committed), so that if the partition
   * comes back they start from its committed state, or afresh, as a new owner would.
   */
  revoked(topic: string, partition: number): void {
    const k = partKey(topic, partition);
    for (const sensor of this.sensorsOf.get(k) ?? []) this.pending.delete(sensor);
    for (const [sensor, h] of this.home) {
      if (h !== k) continue;
      this.home.delete(sensor);
      this.pending.delete(sensor);
      this.live.drop(sensor);
      this.copy.drop(sensor);
    }
    this.sensorsOf.delete(k);
    this.changed.delete(k);
    this.cut.delete(k);
  }

  private covered(e: Entry): boolean {
    for (let i = 0; i < e.parts.length; i++) if (!((this.cut.get(e.parts[i]!) ?? -1) > e.offsets[i]!)) return false;
    return true;
  }
}
