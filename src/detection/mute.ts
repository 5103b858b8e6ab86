/** A sensor's mute, as {@link Mutes.state} gives it. */
export interface Mute {
  /** The peak score of the event marked a false alarm: a run above it opens anyway. */
  peak: number;
  /** Event time the mute ends; NaN until the sensor's next window starts its clock. */
  until: number;
}

/**
 * Sensors muted after a false alarm: for `forMs` of event time (from the sensor's first window
 * after the mark), a run of windows above threshold opens no anomaly unless its peak score rises
 * above the peak of the event that was marked. Event time, so a replay mutes as live would.
 */
export class Mutes {
  private readonly bySensor = new Map<string, Mute>();

  constructor(private readonly forMs: number) {}

  /** Whether a mark mutes at all (`detection.feedback.muteForMs` > 0). */
  get enabled(): boolean {
    return this.forMs > 0;
  }

  /** Mutes `sensor` (a later mark replaces an earlier one); with `forMs` 0 it does nothing. */
  add(sensor: string, peak: number): void {
    if (this.forMs <= 0) return;
    this.bySensor.set(sensor, { peak, until: Number.NaN });
  }

  /** Whether `sensor` is muted at window end `end`. */
  muted(sensor: string, end: number): boolean {
    return this.mute(sensor, end) !== undefined;
  }

  /**
   * Whether a run of `sensor` whose peak score so far is `peak` may not open at window end `end`.
   * Call it for every window of a muted sensor: the first call after a mark starts the clock.
   */
  blocks(sensor: string, end: number, peak: number): boolean {
    const m = this.mute(sensor, end);
    return m !== undefined && !(peak > m.peak);
  }

  /** The mute in force for `sensor` at window end `end` (the first call after a mark starts its clock). */
  active(sensor: string, end: number): Readonly<Mute> | undefined {
    return this.mute(sensor, end);
  }

  /** The sensor's mute as it stands (a copy), for a new owner of its partition. */
  state(sensor: string): Mute | undefined {
    const m = this.bySensor.get(sensor);
    return m && { ...m };
  }

  /** Puts a sensor's mute back as `state` gave it (`undefined`: none). */
  setState(sensor: string, m: Mute | undefined): void {
    if (m === undefined) this.bySensor.delete(sensor);
    else this.bySensor.set(sensor, { peak: m.peak, until: m.until });
  }

  private mute(sensor: string, end: number): Mute | undefined {
    const m = this.bySensor.get(sensor);
    if (m === undefined) return undefined;
    if (Number.isNaN(m.until)) m.until = end + this.forMs;
    if (end >= m.until) {
      this.bySensor.delete(sensor);
      return undefined;
    }
    return m;
  }
}
