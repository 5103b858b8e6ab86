import { test } from 'node:test';
import assert from 'node:assert/strict';
import { from, toArray } from 'rxjs';
import { reorder } from '../../src/windowing/reorder.js';
import type { Reading, Rejection } from '../../src/pipeline/contracts.js';
import { countingScheduler, prng, reading, rejectionOf, upstreamRejection, virtualTime } from './fixtures.js';

test('maxDelayMs 0 passes readings straight through in arrival order, still rejecting duplicates and late ones', () => {
  const ts = virtualTime();
  const timers = countingScheduler(ts);
  const a = reading('s', 1000);
  const b = reading('s', 3000);
  const late = reading('s', 2000);
  const dup = reading('s', 3000);
  const other = reading('t', 500);
  const c = reading('s', 4000);
  ts.run(({ cold, expectObservable }) => {
    const src = cold('abldoc|', { a, b, l: late, d: dup, o: other, c });
    expectObservable(src.pipe(reorder({ maxDelayMs: 0, capacity: 8 }, timers.scheduler))).toBe('abldoc|', {
      a,
      b,
      l: rejectionOf(late, 'too_late', "1000 ms older than the sensor's last released reading (reorder maxDelayMs 0)"),
      d: rejectionOf(dup, 'duplicate', 'sensor s already has a reading at 1970-01-01T00:00:03.000Z'),
      o: other,
      c,
    });
  });
  assert.equal(timers.total(), 0, 'no timer is needed when nothing is ever held');
});

test('readings are released in event-time order once the newest is maxDelayMs ahead; the rest on complete', () => {
  const ts = virtualTime();
  const timers = countingScheduler(ts);
  const r1000 = reading('s', 1000);
  const r3000 = reading('s', 3000);
  const r2000 = reading('s', 2000);
  const r4000 = reading('s', 4000);
  const r2500 = reading('s', 2500);
  const r6000 = reading('s', 6000);
  ts.run(({ cold, expectObservable }) => {
    const src = cold('a 9ms b 9ms c 9ms d 9ms e 9ms f 9ms |', {
      a: r1000,
      b: r3000,
      c: r2000,
      d: r4000,
      e: r2500,
      f: r6000,
    });
    const out = src.pipe(reorder({ maxDelayMs: 2000, capacity: 16 }, timers.scheduler));
    expectObservable(out).toBe('10ms a 19ms c 19ms (ebd) 5ms (f|)', {
      a: r1000,
      c: r2000,
      e: r2500,
      b: r3000,
      d: r4000,
      f: r6000,
    });
  });
  assert.equal(timers.maxLive(), 1, 'one timer for the one sensor, however many readings it holds');
  assert.equal(timers.live(), 0, 'no timer outlives the completed stream');
  assert.equal(timers.fired(), 0, 'the timer was cancelled on complete, not left to fire at frame 2000');
});

test('a reading equal to a buffered or the last released ts is a duplicate; one older than the last released is too late', () => {
  const ts = virtualTime();
  const a = reading('s', 1000);
  const b = reading('s', 1500);
  const dupBuffered = reading('s', 1500);
  const c = reading('s', 2200);
  const dupReleased = reading('s', 1000);
  const late = reading('s', 900);
  const justLate = reading('s', 999);
  ts.run(({ cold, expectObservable }) => {
    const src = cold('abxcyzw|', { a, b, x: dupBuffered, c, y: dupReleased, z: late, w: justLate });
    expectObservable(src.pipe(reorder({ maxDelayMs: 1000, capacity: 16 }, ts))).toBe('--xayzw(bc|)', {
      a,
      b,
      c,
      x: rejectionOf(dupBuffered, 'duplicate', 'sensor s already has a reading at 1970-01-01T00:00:01.500Z'),
      y: rejectionOf(dupReleased, 'duplicate', 'sensor s already has a reading at 1970-01-01T00:00:01.000Z'),
      z: rejectionOf(
        late,
        'too_late',
        "100 ms older than the sensor's last released reading (reorder maxDelayMs 1000)",
      ),
      w: rejectionOf(
        justLate,
        'too_late',
        "1 ms older than the sensor's last released reading (reorder maxDelayMs 1000)",
      ),
    });
  });
});

test('a sensor over capacity releases its oldest reading, and later readings before it are too late', () => {
  const ts = virtualTime();
  const a = reading('s', 1000);
  const b = reading('s', 2000);
  const c = reading('s', 3000);
  const d = reading('s', 4000);
  const other = reading('t', 10);
  const late = reading('s', 1500);
  ts.run(({ cold, expectObservable }) => {
    const src = cold('aobcdl|', { a, o: other, b, c, d, l: late });
    expectObservable(src.pipe(reorder({ maxDelayMs: 60_000, capacity: 2 }, ts))).toBe('---abl(cdo|)', {
      a,
      b,
      c,
      d,
      o: other,
      l: rejectionOf(
        late,
        'too_late',
        "500 ms older than the sensor's last released reading (reorder maxDelayMs 60000)",
      ),
    });
  });
});

test('a reading held maxDelayMs of processing time is released, with one timer per sensor', () => {
  const ts = virtualTime();
  const timers = countingScheduler(ts);
  const a = reading('s', 1000);
  const b = reading('s', 1050);
  const c = reading('s', 1020);
  const t = reading('t', 5000);
  const late = reading('s', 1030);
  ts.run(({ cold, expectObservable }) => {
    // s: a at frame 0, b at 30, c at 40; t at 50; a too-late s reading at 300; complete at 500.
    const src = cold('a 29ms b 9ms c 9ms t 249ms l 199ms |', { a, b, c, t, l: late });
    const out = src.pipe(reorder({ maxDelayMs: 100, capacity: 16 }, timers.scheduler));
    // a expires at 100; b expires at 130 and takes c (earlier ts, not yet expired) with it; t at 150.
    expectObservable(out).toBe('100ms a 29ms (cb) 16ms t 149ms l 199ms |', {
      a,
      b,
      c,
      t,
      l: rejectionOf(late, 'too_late', "20 ms older than the sensor's last released reading (reorder maxDelayMs 100)"),
    });
  });
  assert.equal(timers.maxLive(), 2, 'at most one live timer per sensor');
  assert.equal(timers.live(), 0, 'no timer is kept once the buffers are empty');
});

test('on complete every held reading is released in ts order, sensors in first-seen order; upstream rejections pass through', () => {
  const ts = virtualTime();
  const s3 = reading('s', 3000);
  const t100 = reading('t', 100);
  const s2 = reading('s', 2000);
  const t50 = reading('t', 50);
  const x = upstreamRejection(99);
  ts.run(({ cold, expectObservable }) => {
    const src = cold('atxbc|', { a: s3, t: t100, x, b: s2, c: t50 });
    expectObservable(src.pipe(reorder({ maxDelayMs: 5000, capacity: 16 }, ts))).toBe('--x--(abcd|)', {
      x,
      a: s2,
      b: s3,
      c: t50,
      d: t100,
    });
  });
});

test('errors propagate, and unsubscribing or erroring cancels the timers', () => {
  const ts = virtualTime();
  const timers = countingScheduler(ts);
  const err = new Error('boom');
  const a = reading('s', 1000);
  const b = reading('t', 1000);
  ts.run(({ cold, expectObservable }) => {
    expectObservable(cold('ab#', { a, b }, err).pipe(reorder({ maxDelayMs: 100, capacity: 4 }, timers.scheduler))).toBe(
      '--#',
      {},
      err,
    );
    expectObservable(
      cold('ab', { a, b }).pipe(reorder({ maxDelayMs: 100, capacity: 4 }, timers.scheduler)),
      '^ 20ms !',
    ).toBe('');
  });
  assert.equal(timers.total(), 4, 'each subscription armed one timer per sensor');
  assert.equal(timers.fired(), 0, 'error and unsubscribe cancelled the timers due at frame 100');
  assert.equal(timers.live(), 0);
});

test('property: disorder within maxDelayMs is undone exactly; over capacity, order still holds and nothing is lost', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rand = prng(seed);
    const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
    const maxDelayMs = int(1, 3000);
    const roomy = seed % 2 === 0;
    const capacity = roomy ? 10_000 : int(1, 6);
    const sensors = Array.from({ length: int(1, 4) }, (_, s) => `s${s}`);
    const inputs: Array<{ key: number; r: Reading }> = [];
    const duplicates = new Set<Reading>();
    const sorted = new Map<string, Reading[]>();
    for (const sensor of sensors) {
      let ts = int(0, 5000);
      const mine: Reading[] = [];
      for (let i = int(0, 40); i > 0; i--) {
        ts += int(1, 700);
        const r = reading(sensor, ts);
        mine.push(r);
        // Arrival order: every reading arrives before the sensor's newest is maxDelayMs ahead of it.
        const key = ts + rand() * maxDelayMs;
        inputs.push({ key, r });
        if (rand() < 0.05) {
          const dup = reading(sensor, ts);
          duplicates.add(dup);
          inputs.push({ key: key + 1e-6, r: dup });
        }
      }
      sorted.set(sensor, mine);
    }
    inputs.sort((a, b) => a.key - b.key);

    let out: Array<Reading | Rejection> = [];
    // The scheduler is never flushed: processing-time release plays no part, as in a replay.
    from(inputs.map((i) => i.r))
      .pipe(reorder({ maxDelayMs, capacity }, virtualTime()), toArray())
      .subscribe((v) => (out = v));

    const byAck = new Map(inputs.map(({ r }) => [r.ack, r]));
    const seen = new Set<Reading>();
    for (const o of out) {
      const r = byAck.get(o.ack)!;
      assert.ok(r !== undefined && !seen.has(r), `seed ${seed}: each input leaves once`);
      seen.add(r);
      if ('kind' in o)
        assert.ok(o.reason === 'duplicate' || (!roomy && o.reason === 'too_late'), `seed ${seed}: ${o.reason}`);
    }
    assert.equal(seen.size, inputs.length, `seed ${seed}: nothing is lost`);
    for (const sensor of sensors) {
      const released = out.filter((o): o is Reading => !('kind' in o) && o.sensor === sensor);
      assert.ok(
        released.every((r, i) => i === 0 || released[i - 1]!.ts < r.ts),
        `seed ${seed}: ${sensor} in ts order`,
      );
      if (roomy) assert.deepEqual(released, sorted.get(sensor), `seed ${seed}: ${sensor} fully reordered`);
    }
    if (roomy) {
      const rejected = out.filter((o): o is Rejection => 'kind' in o).map((o) => byAck.get(o.ack));
      assert.deepEqual(new Set(rejected), duplicates, `seed ${seed}: only the duplicates are rejected`);
    }
  }
});
