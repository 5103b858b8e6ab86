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
    throw new AemonError('AEMON_CONFIG_INVALID', `micro-batch needs maxSize >= 1 and maxWaitMs >= 0 (got ${maxSize}, ${maxWaitMs})`, {
      stage: 'config',
    });
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
