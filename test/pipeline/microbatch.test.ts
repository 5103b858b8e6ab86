import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { Subject, lastValueFrom, toArray } from 'rxjs';
import { joinWhileBusy, microBatch } from '../../src/pipeline/microbatch.js';
import { AemonError } from '../../src/errors.js';

function virtualTime(): TestScheduler {
  return new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
}

/** Counts the timers the operator schedules and how many of them actually ran. */
function counting(inner: SchedulerLike): { scheduler: SchedulerLike; scheduled(): number; fired(): number } {
  let scheduled = 0;
  let fired = 0;
  const scheduler: SchedulerLike = {
    now: () => inner.now(),
    schedule<S>(work: (this: SchedulerAction<S>, state: S) => void, delay?: number, state?: S): Subscription {
      scheduled++;
      return inner.schedule(
        function (this: SchedulerAction<S>, s?: S) {
          fired++;
          work.call(this, s as S);
        },
        delay,
        state,
      );
    },
  };
  return { scheduler, scheduled: () => scheduled, fired: () => fired };
}

test('a full batch goes out at once; the remainder is flushed on complete', () => {
  const ts = virtualTime();
  ts.run(({ cold, expectObservable }) => {
    expectObservable(cold('abcde|').pipe(microBatch(3, 10, ts))).toBe('--x--(y|)', {
      x: ['a', 'b', 'c'],
      y: ['d', 'e'],
    });
  });
});

test('a batch goes out maxWaitMs after its first item, and no timer runs while idle', () => {
  const ts = virtualTime();
  const timers = counting(ts);
  ts.run(({ cold, expectObservable }) => {
    const src = cold('a 2ms b 9ms c 20ms |');
    expectObservable(src.pipe(microBatch(10, 5, timers.scheduler))).toBe('5ms x 12ms y 15ms |', {
      x: ['a', 'b'],
      y: ['c'],
    });
  });
  assert.equal(timers.scheduled(), 2, 'one timer per batch: none for b (batch open) and none while empty');
});

test('a batch that fills up cancels its timer', () => {
  const ts = virtualTime();
  const timers = counting(ts);
  ts.run(({ cold, expectObservable }) => {
    const src = cold('ab 10ms c 10ms |');
    expectObservable(src.pipe(microBatch(2, 5, timers.scheduler))).toBe('-x 15ms y 5ms |', { x: ['a', 'b'], y: ['c'] });
  });
  assert.deepEqual([timers.scheduled(), timers.fired()], [2, 1], "the full batch's timer never ran");
});

test('maxWaitMs 0 makes one batch per synchronous burst, never an empty one', () => {
  const ts = virtualTime();
  ts.run(({ cold, expectObservable }) => {
    expectObservable(cold('(abc) 3ms d|').pipe(microBatch(10, 0, ts))).toBe('x 7ms y|', {
      x: ['a', 'b', 'c'],
      y: ['d'],
    });
    expectObservable(cold('--|').pipe(microBatch(10, 0, ts))).toBe('--|');
  });
});

test('errors propagate, dropping the open batch; unsubscribing cancels the timer', () => {
  const ts = virtualTime();
  const timers = counting(ts);
  const err = new Error('boom');
  ts.run(({ cold, expectObservable }) => {
    expectObservable(cold('ab#', undefined, err).pipe(microBatch(10, 5, timers.scheduler))).toBe('--#', undefined, err);
    expectObservable(cold('ab').pipe(microBatch(10, 5, timers.scheduler)), '^ 3ms !').toBe('');
  });
  assert.deepEqual([timers.scheduled(), timers.fired()], [2, 0]);
});

test('a batch size below 1 or a negative or infinite wait is a config error', () => {
  assert.throws(
    () => microBatch(0, 10),
    (e: unknown) => e instanceof AemonError && e.code === 'AEMON_CONFIG_INVALID',
  );
  assert.throws(
    () => microBatch(4, -1),
    (e: unknown) => e instanceof AemonError && e.code === 'AEMON_CONFIG_INVALID',
  );
  assert.throws(
    () => microBatch(4, Infinity),
    (e: unknown) => e instanceof AemonError && e.code === 'AEMON_CONFIG_INVALID',
  );
  assert.doesNotThrow(() => microBatch(1, 0));
});

test('joinWhileBusy: one call at a time; batches that arrive meanwhile are joined in order, at most maxSize per call', async () => {
  const calls: string[][] = [];
  const release: Array<() => void> = [];
  const project = (batch: string[]): Promise<string> => {
    calls.push(batch);
    return new Promise((resolve) => release.push(() => resolve(batch.join(''))));
  };
  const input = new Subject<string[]>();
  const done = lastValueFrom(input.pipe(joinWhileBusy(3, project), toArray()));
  input.next(['a']);
  assert.deepEqual(calls, [['a']], 'idle: the batch is projected at once');
  input.next(['b', 'c']);
  input.next(['d']);
  input.next(['e', 'f']);
  assert.equal(calls.length, 1, 'busy: nothing else is projected');
  release.shift()!();
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(calls, [['a'], ['b', 'c', 'd']], 'the waiting batches are joined, up to maxSize');
  input.complete();
  release.shift()!();
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(calls.at(-1), ['e', 'f'], 'the rest goes in the next call');
  release.shift()!();
  assert.deepEqual(await done, ['a', 'bcd', 'ef'], 'results in order; completes after the last call');
});

test('joinWhileBusy: a failing call errors the stream and nothing more is projected', async () => {
  let calls = 0;
  const input = new Subject<number[]>();
  const done = lastValueFrom(
    input.pipe(
      joinWhileBusy(10, async (batch: number[]) => {
        calls++;
        if (batch.includes(2)) throw new Error('model failed');
        return batch.length;
      }),
      toArray(),
    ),
  );
  input.next([1]);
  input.next([2]);
  input.next([3]);
  await assert.rejects(done, /model failed/);
  input.next([4]);
  assert.equal(calls, 2);
});
