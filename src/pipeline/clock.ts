import { Subscription, type SchedulerAction, type SchedulerLike } from 'rxjs';

/**
 * A scheduler whose timers never fire: replays run on event time only, so processing-time
 * timeouts (e.g. the reorder buffer's) must not change what they output. Whatever such timers
 * would have flushed is flushed when the stream completes.
 */
export const eventTimeOnly: SchedulerLike = {
  now: () => 0,
  schedule<T>(_work: (this: SchedulerAction<T>, state?: T) => void, _delay?: number, _state?: T): Subscription {
    return new Subscription();
  },
};
