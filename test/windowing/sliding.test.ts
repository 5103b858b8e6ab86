import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject, from, throwError, concat, toArray } from 'rxjs';
import { slidingWindows } from '../../src/windowing/sliding.js';
import type { Reading, Rejection, SensorWindow, WindowOutput } from '../../src/pipeline/contracts.js';
import { valueOf } from '../pipeline/fixtures.js';
import { prng, reading, upstreamRejection } from './fixtures.js';

type Cfg = { size: number; stride: number; maxGapMs: number };

function run(inputs: ReadonlyArray<Reading | Rejection>, cfg: Cfg): WindowOutput[] {
  let out: WindowOutput[] = [];
  from(inputs)
    .pipe(slidingWindows(cfg), toArray())
    .subscribe((v) => (out = v));
  return out;
}

function win(sensor: string, rows: readonly Reading[], readings: readonly Reading[], channels: string[]): SensorWindow {
  const end = rows[rows.length - 1]!.ts;
  return {
    kind: 'window',
    id: `${sensor}@${end}`,
    sensor,
    group: channels.join(','),
    channels,
    start: rows[0]!.ts,
    end,
    data: Float32Array.from(rows.flatMap((r) => channels.map((c) => valueOf(r, c)!))),
    readings,
  };
}

test('a window holds size rows of raw values, oldest first, columns in sorted channel order', () => {
  const [r1, r2, r3, r4] = [1000, 2000, 3000, 4000].map((ts, i) =>
    reading('p', ts, { temp: 10 + i, amp: 0.5 * i, flow: 2 - i }),
  );
  const out = run([r1!, r2!, r3!, r4!], { size: 3, stride: 1, maxGapMs: 60_000 });
  assert.deepEqual(out, [
    { kind: 'warming', sensor: 'p', group: 'amp,flow,temp', readings: [r1] },
    { kind: 'warming', sensor: 'p', group: 'amp,flow,temp', readings: [r2] },
    {
      kind: 'window',
      id: 'p@3000',
      sensor: 'p',
      group: 'amp,flow,temp',
      channels: ['amp', 'flow', 'temp'],
      start: 1000,
      end: 3000,
      data: new Float32Array([0, 2, 10, 0.5, 1, 11, 1, 0, 12]),
      readings: [r3],
    },
    {
      kind: 'window',
      id: 'p@4000',
      sensor: 'p',
      group: 'amp,flow,temp',
      channels: ['amp', 'flow', 'temp'],
      start: 2000,
      end: 4000,
      data: new Float32Array([0.5, 1, 11, 1, 0, 12, 1.5, -1, 13]),
      readings: [r4],
    },
  ]);
});

test('after the first full window, one window every stride readings; the rest leave as warming on complete', () => {
  const rs = [1, 2, 3, 4, 5, 6, 7].map((t) => reading('s', t * 100, { v: t }));
  const [r1, r2, r3, r4, r5, r6, r7] = rs as [Reading, Reading, Reading, Reading, Reading, Reading, Reading];
  const out = run(rs, { size: 2, stride: 3, maxGapMs: 1000 });
  assert.deepEqual(out, [
    { kind: 'warming', sensor: 's', group: 'v', readings: [r1] },
    win('s', [r1, r2], [r2], ['v']),
    win('s', [r4, r5], [r3, r4, r5], ['v']),
    { kind: 'warming', sensor: 's', group: 'v', readings: [r6, r7] },
  ]);
});

test('a gap longer than maxGapMs releases pending readings as warming and restarts the window', () => {
  const a = reading('s', 0);
  const b = reading('s', 1000); // exactly maxGapMs: not a gap
  const c = reading('s', 1500);
  const d = reading('s', 2501); // 1001 ms after c: a gap
  const e = reading('s', 2600);
  const x = upstreamRejection(7);
  const out = run([a, b, c, x, d, e], { size: 2, stride: 2, maxGapMs: 1000 });
  assert.deepEqual(out, [
    { kind: 'warming', sensor: 's', group: 'x', readings: [a] },
    win('s', [a, b], [b], ['x']),
    x,
    { kind: 'warming', sensor: 's', group: 'x', readings: [c] },
    { kind: 'warming', sensor: 's', group: 'x', readings: [d] },
    win('s', [d, e], [e], ['x']),
  ]);
});

test('a changed channel set restarts the sensor like a gap, under the new group', () => {
  const a = reading('s', 100, { u: 1 });
  const b = reading('s', 200, { u: 2 });
  const c = reading('s', 300, { u: 3, w: 0 });
  const d = reading('s', 400, { w: 4, u: 5 });
  const out = run([a, b, c, d], { size: 2, stride: 1, maxGapMs: 1000 });
  assert.deepEqual(out, [
    { kind: 'warming', sensor: 's', group: 'u', readings: [a] },
    win('s', [a, b], [b], ['u']),
    { kind: 'warming', sensor: 's', group: 'u,w', readings: [c] },
    win('s', [c, d], [d], ['u', 'w']),
  ]);
});

test('errors propagate without flushing', () => {
  const a = reading('s', 100);
  const b = reading('s', 200);
  const seen: WindowOutput[] = [];
  let error: unknown;
  concat(
    from([a, b]),
    throwError(() => new Error('boom')),
  )
    .pipe(slidingWindows({ size: 3, stride: 2, maxGapMs: 1000 }))
    .subscribe({ next: (v) => seen.push(v), error: (e: unknown) => (error = e) });
  assert.equal((error as Error).message, 'boom');
  assert.deepEqual(
    seen.map((o) => o.kind),
    ['warming', 'warming'],
  );
});

/**
 * Independent model of the windowing rule, by segment index: a segment is a sensor's run of
 * readings with no gap and one channel set. Segment index i < size-1 warms; i = size-1 and
 * every stride-th after it closes a window; readings after the last window leave when the
 * segment ends.
 */
function expected(
  inputs: ReadonlyArray<Reading | Rejection>,
  cfg: Cfg,
): { perInput: WindowOutput[][]; atComplete: WindowOutput[] } {
  const { size, stride, maxGapMs } = cfg;
  const groupOf = (r: Reading): string => [...r.channels].sort().join(',');
  const segs = new Map<string, Reading[]>();
  const trailing = (seg: Reading[]): Reading[] => {
    const lastEnd = seg.length < size ? -1 : size - 1 + Math.floor((seg.length - size) / stride) * stride;
    return seg.slice(Math.max(lastEnd + 1, size - 1));
  };
  const warm = (seg: readonly Reading[], readings: Reading[]): WindowOutput => ({
    kind: 'warming',
    sensor: seg[0]!.sensor,
    group: groupOf(seg[0]!),
    readings,
  });
  const perInput = inputs.map((item): WindowOutput[] => {
    if ('kind' in item) return [item];
    const outs: WindowOutput[] = [];
    let seg = segs.get(item.sensor);
    const prev = seg?.[seg.length - 1];
    if (seg === undefined || prev === undefined || item.ts - prev.ts > maxGapMs || groupOf(prev) !== groupOf(item)) {
      if (seg !== undefined && trailing(seg).length > 0) outs.push(warm(seg, trailing(seg)));
      seg = [];
      segs.set(item.sensor, seg);
    }
    seg.push(item);
    const i = seg.length - 1;
    if (i < size - 1) outs.push(warm(seg, [item]));
    else if (i === size - 1) outs.push(win(item.sensor, seg.slice(i - size + 1), [item], groupOf(item).split(',')));
    else if ((i - (size - 1)) % stride === 0)
      outs.push(win(item.sensor, seg.slice(i - size + 1), seg.slice(i - stride + 1), groupOf(item).split(',')));
    return outs;
  });
  const atComplete = [...segs.values()]
    .filter((seg) => trailing(seg).length > 0)
    .map((seg) => warm(seg, trailing(seg)));
  return { perInput, atComplete };
}

test('property: on random interleaved sensors every reading leaves exactly once, in the windows the rule predicts', () => {
  const channelSets = [['temp', 'pressure'], ['v'], ['c', 'a', 'b'], ['pressure', 'temp', 'flow']];
  for (let seed = 1; seed <= 200; seed++) {
    const rand = prng(seed);
    const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
    const cfg: Cfg = { size: int(2, 6), stride: int(1, 4), maxGapMs: 1000 };
    const streams = Array.from({ length: int(1, 5) }, (_, s) => {
      let ts = int(0, 10_000);
      let channels = channelSets[int(0, channelSets.length - 1)]!;
      return Array.from({ length: int(0, 40) }, () => {
        const jump = rand();
        ts += jump < 0.08 ? int(1001, 5000) : jump < 0.12 ? 1000 : int(1, 999);
        if (rand() < 0.04) channels = channelSets[int(0, channelSets.length - 1)]!;
        return reading(`sensor-${s}`, ts, Object.fromEntries(channels.map((c) => [c, Math.round(rand() * 1000) / 8])));
      });
    });
    const inputs: Array<Reading | Rejection> = [];
    const cursors = streams.map(() => 0);
    for (;;) {
      const open = streams.map((_, s) => s).filter((s) => cursors[s]! < streams[s]!.length);
      if (open.length === 0) break;
      const s = open[int(0, open.length - 1)]!;
      inputs.push(streams[s]![cursors[s]!++]!);
      if (rand() < 0.05) inputs.push(upstreamRejection(-inputs.length));
    }

    // Drive one input at a time so each output is tied to the input that caused it.
    const perInput: WindowOutput[][] = [];
    let current: WindowOutput[] = [];
    const subject = new Subject<Reading | Rejection>();
    subject.pipe(slidingWindows(cfg)).subscribe((o) => current.push(o));
    for (const item of inputs) {
      subject.next(item);
      perInput.push(current);
      current = [];
    }
    subject.complete();
    const atComplete = current;

    const all = [...perInput.flat(), ...atComplete];
    const seen = new Map<Reading | Rejection, number>();
    for (const o of all) {
      const items = o.kind === 'rejected' ? [o] : o.readings;
      for (const r of items) seen.set(r, (seen.get(r) ?? 0) + 1);
    }
    assert.equal(seen.size, inputs.length, `seed ${seed}: every input appears in some output`);
    assert.ok(
      [...seen.values()].every((n) => n === 1),
      `seed ${seed}: no input appears twice`,
    );
    for (const o of all) {
      if (o.kind === 'window') assert.equal(o.data.length, cfg.size * o.channels.length, `seed ${seed}: window shape`);
    }

    const want = expected(inputs, cfg);
    assert.deepEqual(perInput, want.perInput, `seed ${seed}: outputs per input`);
    assert.deepEqual(atComplete, want.atComplete, `seed ${seed}: outputs on complete`);
  }
});
