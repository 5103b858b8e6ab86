import { test } from 'node:test';
import { windowReadings } from '../../src/windowing/windows.js';
import type { WindowingConfig } from '../../src/config/schema.js';
import { valueOf } from '../pipeline/fixtures.js';
import { reading, rejectionOf, upstreamRejection, virtualTime } from './fixtures.js';

const cfg: WindowingConfig = { size: 2, stride: 1, maxGapMs: 10_000, reorder: { maxDelayMs: 1000, capacity: 8 } };

test('readings are reordered in event time before windowing; both stages pass rejections through in order', () => {
  const ts = virtualTime();
  const a = reading('s', 1000, { v: 1 });
  const x = upstreamRejection(1);
  const c = reading('s', 3000, { v: 3 });
  const b = reading('s', 2000, { v: 2 });
  const d = reading('s', 4500, { v: 4 });
  const late = reading('s', 2000, { v: 9 });
  const window = (rows: [typeof a, typeof a]) => ({
    kind: 'window' as const,
    id: `s@${rows[1].ts}`,
    sensor: 's',
    group: 'v',
    channels: ['v'],
    start: rows[0].ts,
    end: rows[1].ts,
    data: new Float32Array([valueOf(rows[0], 'v')!, valueOf(rows[1], 'v')!]),
    readings: [rows[1]],
  });
  ts.run(({ cold, expectObservable }) => {
    const src = cold('a 9ms x 9ms c 9ms b 9ms d 4ms l 4ms |', { a, x, c, b, d, l: late });
    expectObservable(src.pipe(windowReadings(cfg, ts))).toBe('10ms x 9ms w 9ms p 9ms q 4ms l 4ms (r|)', {
      x,
      w: { kind: 'warming', sensor: 's', group: 'v', readings: [a] },
      p: window([a, b]),
      q: window([b, c]),
      l: rejectionOf(
        late,
        'too_late',
        "1000 ms older than the sensor's last released reading (reorder maxDelayMs 1000)",
      ),
      r: window([c, d]),
    });
  });
});

test('the injected scheduler drives the reorder timeout, so a paused sensor still reaches the windows', () => {
  const ts = virtualTime();
  const a = reading('s', 1000);
  ts.run(({ cold, expectObservable }) => {
    expectObservable(cold('a 1999ms |', { a }).pipe(windowReadings(cfg, ts))).toBe('1000ms w 999ms |', {
      w: { kind: 'warming', sensor: 's', group: 'x', readings: [a] },
    });
  });
});
