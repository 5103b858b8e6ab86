import { Observable } from 'rxjs';
import type { OperatorFunction } from 'rxjs';
import type { WindowingConfig } from '../config/schema.js';
import { AemonError } from '../errors.js';
import type { Reading, Rejection, SensorWindow, WindowOutput } from '../pipeline/contracts.js';

type SlidingConfig = Pick<WindowingConfig, 'size' | 'stride' | 'maxGapMs'>;

interface SensorHistory {
  channels: readonly string[];
  group: string;
  /** Ring of the last `size` readings since the sensor's (re)start; `head` is the oldest once full. */
  ring: Reading[];
  head: number;
  count: number;
  lastTs: number;
  /** Readings in the full history not yet released by a window. */
  pending: Reading[];
  /** Whether a window has been emitted since the (re)start: the first one goes out at once. */
  started: boolean;
}

/**
 * Count-based sliding windows over each sensor's readings (expected in event-time order, e.g.
 * after {@link reorder}). Every reading leaves in exactly one output: warm-up readings, readings
 * before a gap and those left at the end go out as `warming`; the rest in the `readings` of the
 * window that first covers them. A window is emitted every `stride` readings once the sensor has
 * `size` of them, and at once for the first full window after a (re)start. A gap longer than
 * `maxGapMs` or a changed channel set restarts the sensor. Rejections pass through untouched.
 */
export function slidingWindows(cfg: SlidingConfig): OperatorFunction<Reading | Rejection, WindowOutput> {
  const { size, stride, maxGapMs } = cfg;
  if (!Number.isInteger(size) || size < 1 || !Number.isInteger(stride) || stride < 1) {
    throw new AemonError('AEMON_CONFIG_INVALID', `windowing size (${size}) and stride (${stride}) must be positive integers`, {
      stage: 'window',
    });
  }
  return (source) =>
    new Observable<WindowOutput>((subscriber) => {
      const sensors = new Map<string, SensorHistory>();

      const flushPending = (h: SensorHistory, sensor: string): void => {
        if (h.pending.length === 0) return;
        subscriber.next({ kind: 'warming', sensor, group: h.group, readings: h.pending });
        h.pending = [];
      };

      const restart = (h: SensorHistory, channels: readonly string[]): void => {
        h.channels = channels;
        h.group = channels.join(',');
        h.ring = [];
        h.head = 0;
        h.count = 0;
        h.started = false;
      };

      const window = (h: SensorHistory, r: Reading): SensorWindow => {
        const { channels, ring, head } = h;
        const width = channels.length;
        const data = new Float32Array(size * width);
        for (let row = 0; row < size; row++) {
          const values = ring[(head + row) % size]!.values;
          for (let col = 0; col < width; col++) data[row * width + col] = values[channels[col]!]!;
        }
        return {
          kind: 'window',
          id: `${r.sensor}@${r.ts}`,
          sensor: r.sensor,
          group: h.group,
          channels,
          start: ring[head]!.ts,
          end: r.ts,
          data,
          readings: h.pending,
        };
      };

      const onReading = (r: Reading): void => {
        let h = sensors.get(r.sensor);
        if (h === undefined) {
          const channels = sortedChannels(r.values);
          h = { channels, group: '', ring: [], head: 0, count: 0, lastTs: r.ts, pending: [], started: false };
          restart(h, channels);
          sensors.set(r.sensor, h);
        } else if (r.ts - h.lastTs > maxGapMs || !sameChannels(h.channels, r.values)) {
          flushPending(h, r.sensor);
          restart(h, sortedChannels(r.values));
        }
        h.lastTs = r.ts;

        if (h.count < size) {
          h.ring.push(r);
          h.count++;
        } else {
          h.ring[h.head] = r;
          h.head = (h.head + 1) % size;
        }
        if (h.count < size) {
          subscriber.next({ kind: 'warming', sensor: r.sensor, group: h.group, readings: [r] });
          return;
        }
        h.pending.push(r);
        if (!h.started || h.pending.length >= stride) {
          h.started = true;
          const w = window(h, r);
          h.pending = [];
          subscriber.next(w);
        }
      };

      const sub = source.subscribe({
        next: (item) => {
          if ('kind' in item) {
            subscriber.next(item);
            return;
          }
          try {
            onReading(item);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          for (const [sensor, h] of sensors) flushPending(h, sensor);
          subscriber.complete();
        },
      });
      return () => sub.unsubscribe();
    });
}

function sortedChannels(values: Readonly<Record<string, number>>): readonly string[] {
  return Object.keys(values).sort();
}

// Runs per reading, so it avoids allocating: same count of keys and every known channel present.
function sameChannels(channels: readonly string[], values: Readonly<Record<string, number>>): boolean {
  let n = 0;
  for (const key in values) if (Object.hasOwn(values, key)) n++;
  if (n !== channels.length) return false;
  for (const c of channels) if (!Object.hasOwn(values, c)) return false;
  return true;
}
