import assert from 'node:assert/strict';
import { TestScheduler } from 'rxjs/testing';
import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs';
import { valuesRecord, type Reading, type RejectReason, type Rejection } from '../../src/pipeline/contracts.js';
import { channelValues } from '../pipeline/fixtures.js';

let nextSeq = 0;

/** A valid reading; each has its own `ack`, so identity checks can tell them apart. */
export function reading(sensor: string, ts: number, values: Record<string, number> = { x: ts }): Reading {
  return {
    sensor,
    ts,
    ...channelValues(values),
    origin: { source: 'test' },
    arrivedAt: 0,
    seq: nextSeq++,
    ack: () => {},
  };
}

/** The rejection reorder is expected to make of `r`. */
export function rejectionOf(r: Reading, reason: RejectReason, detail: string): Rejection {
  return {
    kind: 'rejected',
    reason,
    detail,
    raw: JSON.stringify({ sensor: r.sensor, ts: new Date(r.ts).toISOString(), values: valuesRecord(r) }),
    sensor: r.sensor,
    origin: r.origin,
    arrivedAt: r.arrivedAt,
    seq: r.seq,
    ack: r.ack,
  };
}

/** An upstream (decode) rejection. */
export function upstreamRejection(seq: number): Rejection {
  return {
    kind: 'rejected',
    reason: 'not_json',
    detail: 'x',
    raw: '{',
    origin: { source: 'test' },
    arrivedAt: 0,
    seq,
    ack: () => {},
  };
}

export function virtualTime(): TestScheduler {
  return new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
}

/**
 * Delegates to `inner` and counts timers: scheduled, run, and alive (neither run nor cancelled), so
 * a test can see how many are alive at once and that none outlive the subscription.
 */
export function countingScheduler(inner: SchedulerLike): {
  scheduler: SchedulerLike;
  live(): number;
  maxLive(): number;
  total(): number;
  fired(): number;
} {
  let live = 0;
  let fired = 0;
  let maxLive = 0;
  let total = 0;
  const scheduler: SchedulerLike = {
    now: () => inner.now(),
    schedule<S>(work: (this: SchedulerAction<S>, state: S) => void, delay?: number, state?: S): Subscription {
      let done = false;
      const finish = (): void => {
        if (!done) {
          done = true;
          live--;
        }
      };
      live++;
      total++;
      maxLive = Math.max(maxLive, live);
      const sub = inner.schedule(
        function (this: SchedulerAction<S>, s?: S) {
          finish();
          fired++;
          work.call(this, s as S);
        },
        delay,
        state,
      );
      sub.add(finish);
      return sub;
    },
  };
  return { scheduler, live: () => live, maxLive: () => maxLive, total: () => total, fired: () => fired };
}

/** Deterministic PRNG (mulberry32) for property-style tests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
