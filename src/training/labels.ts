/** An operator's statement about a sensor's span of event time (docs/kafka.md#operator-labels, `aemon.labels`). */
export interface Label {
  sensor: string;
  from: number;
  to: number;
  label: 'normal' | 'anomaly';
}

/**
 * A maintenance span on the labels topic (`"label": "maintenance"`; sensor `*` is every sensor):
 * not a training label but a suppression, handed to the detector by the wiring.
 */
export interface MaintenanceLabel {
  sensor: string;
  from: number;
  to: number;
  label: 'maintenance';
}

function time(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  return Number.NaN;
}

/** Parses a label record `{"sensor","from","to","label"}` (sensor falls back to the key). */
export function parseLabel(raw: string | Uint8Array, key?: string): Label | MaintenanceLabel | { error: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw));
  } catch (err) {
    return { error: `not JSON: ${(err as Error).message}` };
  }
  if (typeof doc !== 'object' || doc === null) return { error: 'not an object' };
  const d = doc as Record<string, unknown>;
  const sensor = typeof d.sensor === 'string' && d.sensor !== '' ? d.sensor : key;
  if (!sensor) return { error: 'no sensor' };
  const from = time(d.from);
  const to = time(d.to);
  if (!Number.isFinite(from) || !Number.isFinite(to) || to < from)
    return { error: 'from/to must be times with from ≤ to' };
  if (d.label !== 'normal' && d.label !== 'anomaly' && d.label !== 'maintenance')
    return { error: 'label must be "normal", "anomaly" or "maintenance"' };
  return { sensor, from, to, label: d.label };
}

/**
 * Operator labels by sensor. The most recent label covering a time wins, so an operator can
 * correct an earlier one.
 */
export class LabelStore {
  private readonly bySensor = new Map<string, Label[]>();
  private readonly listeners: Array<(label: Label) => void> = [];
  private count = 0;

  add(label: Label): void {
    const list = this.bySensor.get(label.sensor);
    if (list) list.push(label);
    else this.bySensor.set(label.sensor, [label]);
    this.count++;
    for (const l of this.listeners) l(label);
  }

  /** Calls `listener` with every label added from now on (e.g. to purge buffered training data). */
  onAdd(listener: (label: Label) => void): void {
    this.listeners.push(listener);
  }

  get size(): number {
    return this.count;
  }

  labelAt(sensor: string, ts: number): Label['label'] | undefined {
    const list = this.bySensor.get(sensor);
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const l = list[i]!;
      if (ts >= l.from && ts <= l.to) return l.label;
    }
    return undefined;
  }

  /** Whether any reading of [from, to] is labelled anomalous. */
  anomalousWithin(sensor: string, from: number, to: number): boolean {
    const list = this.bySensor.get(sensor);
    return list?.some((l) => l.label === 'anomaly' && l.from <= to && l.to >= from) ?? false;
  }
}
