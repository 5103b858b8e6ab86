import { Observable } from 'rxjs';
import type { Ack } from '../pipeline/contracts.js';

/** What an async producer sees of its subscriber. */
export interface Emitter<T> {
  /** Emits; false once the subscriber has gone (the producer must then stop). */
  next(value: T): boolean;
  readonly closed: boolean;
}

/**
 * An Observable driven by an async loop that honours unsubscription: the loop checks
 * `emitter.closed` after every await. The loop's rejection becomes the Observable's error.
 */
export function fromProducer<T>(produce: (emitter: Emitter<T>) => Promise<void>): Observable<T> {
  return new Observable<T>((subscriber) => {
    const emitter: Emitter<T> = {
      next(value) {
        if (subscriber.closed) return false;
        subscriber.next(value);
        return !subscriber.closed;
      },
      get closed() {
        return subscriber.closed;
      },
    };
    produce(emitter).then(
      () => subscriber.complete(),
      (err: unknown) => subscriber.error(err),
    );
  });
}

const noop: Ack = () => {};

/** An ack that calls `onAck` at most once, so a double ack cannot hide a lost record. */
export function ackOnce(onAck: (() => void) | undefined): Ack {
  if (onAck === undefined) return noop;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    onAck();
  };
}

/** Lets timers and I/O run during a long synchronous burst (e.g. a simulator with no flow control). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
