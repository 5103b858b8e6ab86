import { Observable } from 'rxjs';
import type { OperatorFunction } from 'rxjs';
import type { WindowingConfig } from '../config/schema.js';
import { AemonError } from '../errors.js';
import type { Reading, Rejection, SensorWindow, WindowOutput } from '../pipeline/contracts.js';
import type { OwnershipView } from '../pipeline/ownership.js';
import { sortedGroupKey } from '../shared/group.js';

type SlidingConfig = Pick<WindowingConfig, 'size' | 'stride' | 'maxGapMs'>;

interface SensorHistory {
  channels: readonly string[];
  group: string;
  /** Values of the last `size` readings since the sensor's (re)start, row-major (`channels.length`
   * columns) as a ring: row `head` is the oldest once full. Copied in once per reading, so a
   * window is two block copies. */
  ring: Float32Array;
  /** Event time of each ring row. */
  times: Float64Array;
  head: number;
  count: number;
  lastTs: number;
  /** Readings in the full history not yet released by a window. */
  pending: Reading[];
  /** Whether a window has been emitted since the (re)start: the first one goes out at once. */
  started: boolean;
  /** The last reading added, and the ownership endings counted when it was checked. */
  last: Reading | undefined;
  checked: number;
}

/**
 * Every sensor's history and what each reading releases (`warming` readings, windows), apart from
 * the subscription that feeds it.
 */
class SensorHistories {
  private readonly sensors = new Map<string, SensorHistory>();

  constructor(
    private readonly cfg: SlidingConfig,
    private readonly out: { next(o: WindowOutput): void },
    private readonly ownership: OwnershipView | undefined,
  ) {}

  add(r: Reading): void {
    const { size, stride, maxGapMs } = this.cfg;
    let h = this.sensors.get(r.sensor);
    if (h === undefined) {
      const { channels } = r;
      h = {
        channels,
        group: sortedGroupKey(channels),
        ring: new Float32Array(size * channels.length),
        times: new Float64Array(size),
        head: 0,
        count: 0,
        lastTs: r.ts,
        pending: [],
        started: false,
        last: undefined,
        checked: 0,
      };
      this.sensors.set(r.sensor, h);
    } else if (r.ts - h.lastTs > maxGapMs || !sameChannels(h.channels, r.channels) || this.ownerEnded(h)) {
      this.flushPending(h, r.sensor);
      this.restart(h, r.channels);
    }
    h.lastTs = r.ts;
    if (this.ownership !== undefined) h.last = r;

    let slot: number;
    if (h.count < size) {
      slot = h.count++;
    } else {
      slot = h.head;
      h.head = (h.head + 1) % size;
    }
    const { ring, channels } = h;
    const { values } = r;
    const width = channels.length;
    for (let c = 0, at = slot * width; c < width; c++) ring[at + c] = values[c]!;
    h.times[slot] = r.ts;
    if (h.count < size) {
      this.out.next({ kind: 'warming', sensor: r.sensor, group: h.group, readings: [r] });
      return;
    }
    h.pending.push(r);
    if (!h.started || h.pending.length >= stride) {
      h.started = true;
      const w = this.window(h, r);
      h.pending = [];
      this.out.next(w);
    }
  }

  /** The sensor's history was read under a partition assignment that ended: it starts afresh, as on a new owner. */
  private ownerEnded(h: SensorHistory): boolean {
    const { ownership } = this;
    if (ownership === undefined || ownership.endings === h.checked) return false;
    h.checked = ownership.endings;
    return h.last !== undefined && ownership.state(h.last.origin, h.last.seq) === 'ended';
  }

  /** The end of the input: every sensor's readings not yet in a window go out as `warming`. */
  flush(): void {
    for (const [sensor, h] of this.sensors) this.flushPending(h, sensor);
  }

  private flushPending(h: SensorHistory, sensor: string): void {
    if (h.pending.length === 0) return;
    this.out.next({ kind: 'warming', sensor, group: h.group, readings: h.pending });
    h.pending = [];
  }

  private restart(h: SensorHistory, channels: readonly string[]): void {
    if (channels.length !== h.channels.length) h.ring = new Float32Array(this.cfg.size * channels.length);
    h.channels = channels;
    h.group = sortedGroupKey(channels);
    h.head = 0;
    h.count = 0;
    h.started = false;
  }

  private window(h: SensorHistory, r: Reading): SensorWindow {
    const { size } = this.cfg;
    const { ring, head } = h;
    const width = h.channels.length;
    const data = new Float32Array(size * width);
    data.set(ring.subarray(head * width), 0);
    if (head > 0) data.set(ring.subarray(0, head * width), (size - head) * width);
    return {
      kind: 'window',
      id: `${r.sensor}@${r.ts}`,
      sensor: r.sensor,
      group: h.group,
      channels: h.channels,
      start: h.times[head]!,
      end: r.ts,
      data,
      readings: h.pending,
    };
  }
}

/**
 * Count-based sliding windows over each sensor's readings (expected in event-time order, e.g.
 * after {@link reorder}). Every reading leaves in exactly one output: warm-up readings, readings
 * before a gap and those left at the end go out as `warming`; the rest in the `readings` of the
 * window that first covers them. A window is emitted every `stride` readings once the sensor has
 * `size` of them, and at once for the first full window after a (re)start. A gap longer than
 * `maxGapMs` or a changed channel set restarts the sensor, and so does (with `ownership`) a
 * history read under a partition assignment that has ended. Rejections pass through untouched.
 */
export function slidingWindows(
  cfg: SlidingConfig,
  ownership?: OwnershipView,
): OperatorFunction<Reading | Rejection, WindowOutput> {
  const { size, stride, maxGapMs } = cfg;
  if (!Number.isInteger(size) || size < 1 || !Number.isInteger(stride) || stride < 1) {
    throw new AemonError(
      'AEMON_CONFIG_INVALID',
      `windowing size (${size}) and stride (${stride}) must be positive integers`,
      {
        stage: 'window',
      },
    );
  }
  return (source) =>
    new Observable<WindowOutput>((subscriber) => {
      const histories = new SensorHistories({ size, stride, maxGapMs }, subscriber, ownership);
      const sub = source.subscribe({
        next: (item) => {
          if ('kind' in item) {
            subscriber.next(item);
            return;
          }
          try {
            histories.add(item);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          histories.flush();
          subscriber.complete();
        },
      });
      return () => sub.unsubscribe();
    });
}

// Readings of one channel set share one array (the decoder interns it): identity is the fast path.
function sameChannels(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
