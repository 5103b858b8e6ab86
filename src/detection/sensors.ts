import type { SensorState } from '../pipeline/contracts.js';

/** Tracks each sensor's lifecycle for `aemon_sensors{state}`: warming, scoring, stale. */
export class SensorTracker {
  private readonly sensors = new Map<string, { lastSeen: number; scoring: boolean }>();

  constructor(private readonly staleAfterMs: number) {}

  note(sensor: string, now: number, scoring: boolean): void {
    const s = this.sensors.get(sensor);
    if (s) {
      s.lastSeen = now;
      s.scoring = s.scoring || scoring;
    } else {
      this.sensors.set(sensor, { lastSeen: now, scoring });
    }
  }

  state(sensor: string, now: number): SensorState | undefined {
    const s = this.sensors.get(sensor);
    if (!s) return undefined;
    if (now - s.lastSeen > this.staleAfterMs) return 'stale';
    return s.scoring ? 'scoring' : 'warming';
  }

  counts(now: number): Record<SensorState, number> {
    const out: Record<SensorState, number> = { warming: 0, scoring: 0, stale: 0 };
    for (const sensor of this.sensors.keys()) out[this.state(sensor, now)!]++;
    return out;
  }
}
