import { Observable, asyncScheduler } from 'rxjs';
import type { OperatorFunction, SchedulerLike, Subscription } from 'rxjs';
import type { WindowingConfig } from '../config/schema.js';
import { valuesRecord, type Reading, type RejectReason, type Rejection } from '../pipeline/contracts.js';
import type { OwnershipView } from '../pipeline/ownership.js';

type ReorderConfig = WindowingConfig['reorder'];

interface Buffered {
  reading: Reading;
  /** Processing time (scheduler clock) the reading entered the buffer. */
  at: number;
}

interface SensorBuffer {
  /** Sorted by `reading.ts`, no two equal. */
  entries: Buffered[];
  maxTs: number;
  lastReleasedTs: number | undefined;
  /** The sensor's one processing-time timer; set only while `entries` is not empty. */
  timer: Subscription | undefined;
  /** The last reading added, and the ownership endings counted when it was checked. */
  last: Reading | undefined;
  checked: number;
}

/**
 * Every sensor's buffer and its processing-time timer: what each reading and each timer
 * releases, apart from the subscription that feeds it.
 */
class SensorBuffers {
  private readonly sensors = new Map<string, SensorBuffer>();

  constructor(
    private readonly maxDelayMs: number,
    private readonly capacity: number,
    private readonly scheduler: SchedulerLike,
    private readonly out: { next(item: Reading | Rejection): void; error(err: unknown): void },
    private readonly ownership: OwnershipView | undefined,
  ) {}

  add(r: Reading): void {
    const { maxDelayMs, ownership } = this;
    let buf = this.sensors.get(r.sensor);
    if (buf === undefined) {
      buf = { entries: [], maxTs: r.ts, lastReleasedTs: undefined, timer: undefined, last: undefined, checked: 0 };
      this.sensors.set(r.sensor, buf);
    } else if (ownership !== undefined && ownership.endings !== buf.checked) {
      buf.checked = ownership.endings;
      if (buf.last && ownership.state(buf.last.origin, buf.last.seq) === 'ended') this.restart(buf, r.ts);
    }
    if (ownership !== undefined) buf.last = r;
    const last = buf.lastReleasedTs;
    if (last !== undefined && r.ts < last) {
      this.out.next(
        reject(
          r,
          'too_late',
          `${last - r.ts} ms older than the sensor's last released reading (reorder maxDelayMs ${maxDelayMs})`,
        ),
      );
      return;
    }
    const { entries } = buf;
    const i = insertionIndex(entries, r.ts);
    if (r.ts === last || (i < entries.length && entries[i]!.reading.ts === r.ts)) {
      this.out.next(reject(r, 'duplicate', `sensor ${r.sensor} already has a reading at ${isoOrNumber(r.ts)}`));
      return;
    }
    if (r.ts > buf.maxTs) buf.maxTs = r.ts;
    const watermark = buf.maxTs - maxDelayMs;
    if (entries.length === 0 && r.ts <= watermark) {
      // Nothing buffered and already past the watermark (e.g. maxDelayMs 0, in order): it
      // would be released at once, so it is never buffered.
      buf.lastReleasedTs = r.ts;
      this.out.next(r);
      return;
    }
    const entry = { reading: r, at: this.scheduler.now() };
    if (i === entries.length) entries.push(entry);
    else entries.splice(i, 0, entry);

    this.release(buf, countUpTo(entries, watermark));
    this.release(buf, entries.length - this.capacity);

    if (entries.length === 0) this.disarm(buf);
    else if (buf.timer === undefined) this.arm(buf);
  }

  /** The end of the input: every buffered reading, in order. */
  releaseAll(): void {
    for (const buf of this.sensors.values()) this.release(buf, buf.entries.length);
  }

  /**
   * The sensor's readings so far were read under a partition assignment that ended (their
   * outputs are void): what is buffered goes out in order, and the sensor starts afresh, as on
   * a new owner, so the records read again from the committed offset rebuild it.
   */
  private restart(buf: SensorBuffer, ts: number): void {
    this.release(buf, buf.entries.length);
    this.disarm(buf);
    buf.lastReleasedTs = undefined;
    buf.maxTs = ts;
  }

  /** No timer outlives the subscription. */
  disarmAll(): void {
    for (const buf of this.sensors.values()) this.disarm(buf);
  }

  /** Takes the first `n` entries out of the buffer, then emits their readings in order. */
  private release(buf: SensorBuffer, n: number): void {
    if (n <= 0) return;
    const { entries } = buf;
    buf.lastReleasedTs = entries[n - 1]!.reading.ts;
    if (n === 1) {
      this.out.next(entries.shift()!.reading);
      return;
    }
    for (const e of entries.splice(0, n)) this.out.next(e.reading);
  }

  private disarm(buf: SensorBuffer): void {
    buf.timer?.unsubscribe();
    buf.timer = undefined;
  }

  // One timer per sensor, due when its longest-waiting reading has waited maxDelayMs. It may
  // fire early (that reading was released by event time meanwhile); then it just re-arms.
  private arm(buf: SensorBuffer): void {
    const { maxDelayMs, scheduler } = this;
    let oldest = Infinity;
    for (const e of buf.entries) if (e.at < oldest) oldest = e.at;
    const delay = Math.max(0, oldest + maxDelayMs - scheduler.now());
    buf.timer = scheduler.schedule(() => {
      buf.timer = undefined;
      try {
        const now = scheduler.now();
        let upTo = -Infinity;
        for (const e of buf.entries) if (e.at + maxDelayMs <= now && e.reading.ts > upTo) upTo = e.reading.ts;
        // Releasing an expired reading releases every buffered one before it: order is kept.
        this.release(buf, countUpTo(buf.entries, upTo));
        if (buf.entries.length > 0) this.arm(buf);
      } catch (err) {
        this.out.error(err);
      }
    }, delay);
  }
}

/**
 * Bounded per-sensor reorder buffer in event time. A reading is held until the sensor's newest
 * event time is `maxDelayMs` ahead of it, until the buffer passes `capacity`, or until it has
 * waited `maxDelayMs` of processing time (so a paused live sensor is not held forever); released
 * readings of a sensor come out in event-time order. A reading whose ts is already buffered or
 * was the last one released is rejected as `duplicate`; one older than the last released reading
 * as `too_late`. Rejections arriving from upstream pass through in arrival order. With
 * `ownership`, a sensor whose last reading was read under a partition assignment that has ended
 * starts afresh (its buffer released first).
 *
 * The input type is wider than `Reading` so decode's rejections can flow through without a
 * split/merge; an `Observable<Reading>` is accepted as well.
 */
export function reorder(
  cfg: ReorderConfig,
  scheduler: SchedulerLike = asyncScheduler,
  ownership?: OwnershipView,
): OperatorFunction<Reading | Rejection, Reading | Rejection> {
  const { maxDelayMs, capacity } = cfg;
  return (source) =>
    new Observable<Reading | Rejection>((subscriber) => {
      const buffers = new SensorBuffers(maxDelayMs, capacity, scheduler, subscriber, ownership);
      const sub = source.subscribe({
        next: (item) => {
          if ('kind' in item) {
            subscriber.next(item);
            return;
          }
          try {
            buffers.add(item);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          buffers.releaseAll();
          subscriber.complete();
        },
      });

      // Runs on unsubscribe, error and complete alike: no timer outlives the subscription.
      return () => {
        sub.unsubscribe();
        buffers.disarmAll();
      };
    });
}

/** How many leading entries have a ts <= `ts` (entries sorted ascending). */
function countUpTo(entries: readonly Buffered[], ts: number): number {
  let n = 0;
  while (n < entries.length && entries[n]!.reading.ts <= ts) n++;
  return n;
}

/** First index whose ts is >= `ts` (entries sorted ascending). */
function insertionIndex(entries: readonly Buffered[], ts: number): number {
  // Readings mostly arrive in order: check the end before searching.
  const n = entries.length;
  if (n === 0 || entries[n - 1]!.reading.ts < ts) return n;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid]!.reading.ts < ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function reject(r: Reading, reason: RejectReason, detail: string): Rejection {
  const out: Rejection = {
    kind: 'rejected',
    reason,
    detail,
    // Without the original bytes (a reading built in code), the DLQ gets it in the documented layout.
    raw: r.raw ?? JSON.stringify({ sensor: r.sensor, ts: isoOrNumber(r.ts), values: valuesRecord(r) }),
    sensor: r.sensor,
    origin: r.origin,
    arrivedAt: r.arrivedAt,
    seq: r.seq,
    ack: r.ack,
  };
  if (r.key !== undefined) out.key = r.key;
  if (r.replayOnly) out.replayOnly = true;
  return out;
}

function isoOrNumber(ts: number): string | number {
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? ts : d.toISOString();
}
