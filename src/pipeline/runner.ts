import {
  defaultIfEmpty,
  EMPTY,
  fromEvent,
  lastValueFrom,
  Observable,
  type OperatorFunction,
  takeUntil,
  tap,
} from 'rxjs';
import type {
  Decoded,
  FlowControl,
  PipelineOutput,
  Reading,
  RecordDecoder,
  Rejection,
  SourceRecord,
  WindowOutput,
  Sink,
  RejectReason,
} from './contracts.js';
import { ownedOutputs, type OwnershipView } from './ownership.js';

/**
 * Bounds in-flight records (emitted by a source, not yet acked): a source awaits `ready()`
 * before each record, and gets a promise only while the high-water mark is reached.
 */
export class InFlightGate implements FlowControl {
  private inFlight = 0;
  private waiters: Array<() => void> = [];

  constructor(private readonly highWater: number) {}

  get size(): number {
    return this.inFlight;
  }

  ready(): Promise<void> | undefined {
    if (this.inFlight < this.highWater) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  taken(n = 1): void {
    this.inFlight += n;
  }

  released(n = 1): void {
    this.inFlight -= n;
    if (this.inFlight < this.highWater && this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }
}

/**
 * Keeps scoring one micro-batch behind the sinks: the detection stage awaits {@link settled}
 * before a batch, so a sink that changes the model (retraining in replay, where the stream waits
 * for each run) has written the previous batch — and promoted its model — before the next one
 * is scored. Without it the detection stage runs ahead of the sinks.
 */
export class WriteBarrier {
  private pending = 0;
  private waiters: Array<() => void> = [];

  /** The detection stage produced a batch's outputs. */
  emitted(): void {
    this.pending++;
  }

  /** The sinks wrote a batch's outputs. */
  written(): void {
    this.pending = Math.max(0, this.pending - 1);
    if (this.pending === 0 && this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }

  /** Settles once every batch produced so far is written. */
  settled(): Promise<void> | undefined {
    if (this.pending === 0) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

export interface RunStats {
  records: number;
  /** Readings and rejections out of decode: more than `records` when messages hold several readings, fewer when a decoder joins them. */
  decoded: number;
  readings: number;
  scoredRows: number;
  trainingRows: number;
  windowsScored: number;
  rejected: Partial<Record<RejectReason, number>>;
  anomaliesOpened: number;
  anomaliesClosed: number;
  acked: number;
}

export interface PipelineParts {
  records$: Observable<SourceRecord>;
  /** A record at a time (one output each), or a {@link RecordDecoder} (any number each). */
  decode: ((record: SourceRecord) => Reading | Rejection) | RecordDecoder;
  window: OperatorFunction<Reading | Rejection, WindowOutput>;
  detect: OperatorFunction<WindowOutput, PipelineOutput[]>;
  sinks: readonly Sink[];
  /** The gate the source was given; the runner counts records in and acks out. */
  gate?: InFlightGate;
  /** Stops reading: what is in flight is still scored, written and acked. */
  signal?: AbortSignal;
  /** Told after each batch of outputs is written (see {@link WriteBarrier}). */
  barrier?: WriteBarrier;
  /** Called after each write with the outputs it wrote and acked (the batches that waited for it, together). */
  onOutputs?: (outputs: readonly PipelineOutput[]) => void;
  /**
   * The source's partition ownerships: outputs wait while theirs is unknown, and what was read
   * under one that ended is acked without being written (see {@link ownedOutputs}).
   */
  ownership?: OwnershipView;
  /** Told how many records a write voided that way. */
  onVoided?: (records: number) => void;
}

function emptyStats(): RunStats {
  return {
    records: 0,
    decoded: 0,
    readings: 0,
    scoredRows: 0,
    trainingRows: 0,
    windowsScored: 0,
    rejected: {},
    anomaliesOpened: 0,
    anomaliesClosed: 0,
    acked: 0,
  };
}

/**
 * Drops what was derived only from records read again to rebuild window state after a restart
 * (their outputs were written by the run before): their rows, rejections, and the windows and
 * events that released no new reading. They are still acked.
 */
export function withoutReplayed(outputs: readonly PipelineOutput[]): readonly PipelineOutput[] {
  if (!anyReplayed(outputs)) return outputs;
  const out: PipelineOutput[] = [];
  let lastWindowReplayed = false;
  for (const o of outputs) {
    if (o.kind === 'rejected') {
      if (!o.replayOnly) out.push(o);
    } else if (o.kind === 'scored') {
      const rows = o.rows.filter((r) => !r.reading.replayOnly);
      lastWindowReplayed = rows.length === 0;
      if (rows.length > 0) out.push(rows.length === o.rows.length ? o : { ...o, rows });
    } else if (!lastWindowReplayed) {
      out.push(o);
    }
  }
  return out;
}

function anyReplayed(outputs: readonly PipelineOutput[]): boolean {
  for (const o of outputs) {
    if (o.kind === 'rejected') {
      if (o.replayOnly) return true;
    } else if (o.kind === 'scored') {
      for (const r of o.rows) if (r.reading.replayOnly) return true;
    }
  }
  return false;
}

/**
 * Writes the batches in order, one write at a time, like `concatMap`, except that the batches
 * that arrive while a write is in flight are handed to the next write together: a sink that
 * waits for a broker round trip makes one request per round trip, not one per batch. Emits once
 * per write; completes after the last write, errors with the first failed one.
 */
export function writeCoalesced<T>(write: (batches: readonly T[]) => Promise<void>): OperatorFunction<T, void> {
  return (source) =>
    new Observable<void>((sub) => {
      let pending: T[] = [];
      let busy = false;
      let ended = false;
      const drain = async (): Promise<void> => {
        busy = true;
        try {
          while (pending.length > 0 && !sub.closed) {
            const batches = pending;
            pending = [];
            await write(batches);
            sub.next();
          }
        } catch (err) {
          sub.error(err);
          return;
        } finally {
          busy = false;
        }
        if (ended) sub.complete();
      };
      const inner = source.subscribe({
        next: (batch) => {
          pending.push(batch);
          if (!busy) void drain();
        },
        error: (err: unknown) => sub.error(err),
        complete: () => {
          ended = true;
          if (!busy) sub.complete();
        },
      });
      return () => inner.unsubscribe();
    });
}

/**
 * Runs source → decode → windows → score/decide → sinks, and acks each record only after every
 * sink has written what was derived from it. Resolves with the run's counts when the source
 * completes (or the signal aborts and in-flight work has drained); sinks are closed at the end.
 */
export async function runPipeline(parts: PipelineParts): Promise<RunStats> {
  const stats = emptyStats();
  const stop$ = parts.signal ? fromEvent(parts.signal, 'abort') : EMPTY;
  const gate = parts.gate;
  const decoder: RecordDecoder = typeof parts.decode === 'function' ? oneEach(parts.decode) : parts.decode;

  // Batches that come while a write is in flight are written together by the next one.
  const write = async (batches: readonly (readonly PipelineOutput[])[]): Promise<void> => {
    try {
      await writeOutputs(batches.length === 1 ? batches[0]! : batches.flat(), batches);
    } finally {
      for (let i = 0; i < batches.length; i++) parts.barrier?.written();
    }
  };

  const writeOutputs = async (
    outputs: readonly PipelineOutput[],
    batches: readonly (readonly PipelineOutput[])[],
  ): Promise<void> => {
    if (outputs.length === 0) return;
    let owned = batches;
    if (parts.ownership) {
      let voided = 0;
      const kept: Array<readonly PipelineOutput[]> = [];
      for (const b of batches) {
        const r = await ownedOutputs(parts.ownership, b);
        kept.push(r.outputs);
        voided += r.voided;
      }
      owned = kept;
      if (voided > 0) parts.onVoided?.(voided);
    }
    // Per batch: an event goes with the windows of its own batch.
    const visible = owned.length === 1 ? withoutReplayed(owned[0]!) : owned.flatMap((b) => withoutReplayed(b));
    let held: Set<Reading | Rejection> | undefined;
    if (visible.length > 0) {
      for (const sink of parts.sinks) {
        const result = await sink.write(visible);
        if (result && result.held.size > 0) for (const h of result.held) (held ??= new Set()).add(h);
      }
    }
    // The runner is the one place acks are called (each reading and rejection leaves in exactly
    // one output), so it counts them here rather than wrapping every record's ack in a closure.
    let acked = 0;
    for (const out of outputs) {
      if (out.kind === 'rejected') {
        stats.rejected[out.reason] = (stats.rejected[out.reason] ?? 0) + 1;
        // A held record stays in flight (and its partition's commits wait), never acked.
        if (held?.has(out)) continue;
        out.ack();
        acked++;
      } else if (out.kind === 'scored') {
        if (out.window) stats.windowsScored++;
        for (const row of out.rows) {
          if (row.training) stats.trainingRows++;
          else if (row.score !== null) stats.scoredRows++;
          if (held?.has(row.reading)) continue;
          row.reading.ack();
          acked++;
        }
        stats.readings += out.rows.length;
      } else if (out.event.kind === 'opened') stats.anomaliesOpened++;
      else stats.anomaliesClosed++;
    }
    stats.acked += acked;
    if (acked > 0) gate?.released(acked);
    parts.onOutputs?.(outputs);
  };

  try {
    await lastValueFrom(
      parts.records$.pipe(
        takeUntil(stop$),
        decodeStage(decoder, stats, () => parts.signal?.aborted === true, gate),
        // Readings held inside the windowing stage (reorder buffer, a stride not yet complete)
        // do not count against the in-flight limit: with many sensors they alone could fill it
        // and stall the source for good. They count from when windowing releases them to their ack.
        parts.window,
        tap((out) => gate?.taken(out.kind === 'rejected' ? 1 : out.readings.length)),
        parts.detect,
        writeCoalesced(write),
        defaultIfEmpty(undefined),
      ),
    );
  } finally {
    for (const sink of parts.sinks) await sink.close();
  }
  return stats;
}

function oneEach(decode: (record: SourceRecord) => Reading | Rejection): RecordDecoder {
  return {
    decode,
    decodeMany: (records) => records.map(decode),
    flush: () => [],
  };
}

/**
 * Records → readings and rejections, any number per record. At the end of input the decoder's
 * held records come out too, except when stopping: a reading a join still waits on is not
 * dead-lettered by a shutdown; its records stay unacked and are read again on restart.
 *
 * A decoder with `prepare` (one that fetches schemas) may ask a record to wait: it and every
 * record after it queue, in order, until the promise settles. Queued records count as in
 * flight, so a long wait (a registry outage) stops the source rather than filling memory; when
 * stopping, queued records are dropped unacked and read again on restart.
 */
function decodeStage(
  decoder: RecordDecoder,
  stats: RunStats,
  stopping: () => boolean,
  gate?: InFlightGate,
): OperatorFunction<SourceRecord, Decoded> {
  return (source) =>
    new Observable<Decoded>((subscriber) => {
      const emit = (rec: SourceRecord): void => {
        const out = decoder.decode(rec);
        if (!Array.isArray(out)) {
          stats.decoded++;
          subscriber.next(out as Decoded);
          return;
        }
        for (const o of out as readonly Decoded[]) {
          stats.decoded++;
          subscriber.next(o);
        }
      };
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        if (!stopping()) {
          for (const o of decoder.flush()) {
            stats.decoded++;
            subscriber.next(o);
          }
        }
        subscriber.complete();
      };
      const prepare = decoder.prepare?.bind(decoder);
      const queue: SourceRecord[] = [];
      let waiting = false;
      let completed = false;
      // Emits queued records while none needs to wait; on a wait, resumes once it settles.
      const drain = (): void => {
        while (queue.length > 0) {
          if (stopping() || subscriber.closed) {
            gate?.released(queue.length);
            queue.length = 0;
            break;
          }
          const wait = prepare?.(queue[0]!);
          if (wait !== undefined) {
            waiting = true;
            void wait.then(() => {
              waiting = false;
              drain();
            });
            return;
          }
          const rec = queue.shift()!;
          gate?.released(1);
          emit(rec);
        }
        if (completed) finish();
      };
      const sub = source.subscribe({
        next(rec) {
          stats.records++;
          if (prepare === undefined) return emit(rec);
          if (!waiting && queue.length === 0) {
            const wait = prepare(rec);
            if (wait === undefined) return emit(rec);
          }
          queue.push(rec);
          gate?.taken(1);
          if (!waiting) drain();
        },
        error: (err: unknown) => subscriber.error(err),
        complete() {
          completed = true;
          if (stopping()) {
            gate?.released(queue.length);
            queue.length = 0;
          }
          if (queue.length === 0) finish();
        },
      });
      return sub;
    });
}
