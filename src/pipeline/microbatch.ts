import { Observable, asyncScheduler } from 'rxjs';
import type { OperatorFunction, SchedulerLike, Subscription } from 'rxjs';
import { AemonError } from '../errors.js';

/**
 * Groups items into batches of at most `maxSize`, emitted when full or `maxWaitMs` (scheduler
 * time) after the batch's first item, whichever comes first. The timer runs only while a batch
 * is open, so an idle stream costs nothing and no batch is ever empty; with `maxWaitMs` 0 a
 * batch closes after the current synchronous burst. On complete the open batch is flushed.
 * Unlike `bufferTime(maxWaitMs, null, maxSize)`, the wait starts at the first item, not at a
 * fixed period, so a lone item waits at most `maxWaitMs`.
 */
export function microBatch<T>(
  maxSize: number,
  maxWaitMs: number,
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<T, T[]> {
  if (!Number.isInteger(maxSize) || maxSize < 1 || !Number.isFinite(maxWaitMs) || maxWaitMs < 0) {
    throw new AemonError(
      'AEMON_CONFIG_INVALID',
      `micro-batch needs maxSize >= 1 and maxWaitMs >= 0 (got ${maxSize}, ${maxWaitMs})`,
      {
        stage: 'config',
      },
    );
  }
  return (source) =>
    new Observable<T[]>((subscriber) => {
      let batch: T[] = [];
      let timer: Subscription | undefined;

      const cancelTimer = (): void => {
        timer?.unsubscribe();
        timer = undefined;
      };

      const emit = (): void => {
        cancelTimer();
        if (batch.length === 0) return;
        const full = batch;
        batch = [];
        subscriber.next(full);
      };

      const sub = source.subscribe({
        next: (item) => {
          batch.push(item);
          if (batch.length >= maxSize) emit();
          else if (timer === undefined) timer = scheduler.schedule(emit, maxWaitMs);
        },
        error: (err: unknown) => {
          cancelTimer();
          batch = [];
          subscriber.error(err);
        },
        complete: () => {
          emit();
          subscriber.complete();
        },
      });

      return () => {
        sub.unsubscribe();
        cancelTimer();
      };
    });
}

/**
 * Runs `project` on one batch at a time, like `concatMap`, but batches that arrive while it is
 * busy are joined (in order, at most `maxSize` items per call) instead of queued one by one: when
 * the scorer falls behind, it makes fewer, larger calls, so it catches up rather than paying a
 * model call's fixed cost for every small batch in the queue.
 */
export function joinWhileBusy<T, R>(maxSize: number, project: (batch: T[]) => Promise<R>): OperatorFunction<T[], R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      let queue: T[] = [];
      let busy = false;
      let sourceDone = false;
      let stopped = false;

      const run = (): void => {
        if (busy || stopped) return;
        if (queue.length === 0) {
          if (sourceDone) subscriber.complete();
          return;
        }
        let batch = queue;
        if (queue.length <= maxSize) {
          queue = [];
        } else {
          batch = queue.slice(0, maxSize);
          queue = queue.slice(maxSize);
        }
        busy = true;
        let pending: Promise<R>;
        try {
          pending = project(batch);
        } catch (err) {
          pending = Promise.reject(err);
        }
        pending.then(
          (result) => {
            busy = false;
            if (stopped) return;
            subscriber.next(result);
            run();
          },
          (err: unknown) => {
            busy = false;
            stopped = true;
            subscriber.error(err);
          },
        );
      };

      const sub = source.subscribe({
        next: (items) => {
          if (queue.length === 0) queue = items;
          else for (const item of items) queue.push(item);
          run();
        },
        error: (err: unknown) => {
          stopped = true;
          subscriber.error(err);
        },
        complete: () => {
          sourceDone = true;
          run();
        },
      });

      return () => {
        stopped = true;
        sub.unsubscribe();
      };
    });
}
