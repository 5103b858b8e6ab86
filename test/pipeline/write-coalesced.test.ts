import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lastValueFrom, Observable, Subject, toArray } from 'rxjs';
import type { Reading, Rejection, Sink, SourceRecord, WindowOutput } from '../../src/pipeline/contracts.js';
import { runPipeline, writeCoalesced } from '../../src/pipeline/runner.js';

/** A write that waits until the test lets it go; `started` resolves when the next write begins. */
function gatedWrites<T>() {
  const calls: T[][] = [];
  let release: (() => void)[] = [];
  let started: (() => void) | undefined;
  return {
    calls,
    write: (batches: readonly T[]) =>
      new Promise<void>((resolve) => {
        calls.push([...batches]);
        release.push(resolve);
        started?.();
      }),
    nextStart: () => new Promise<void>((r) => (started = r)),
    releaseAll: () => {
      const r = release;
      release = [];
      for (const f of r) f();
    },
  };
}

test('writeCoalesced: batches that arrive during a write go to the next write together, in order', async () => {
  const src = new Subject<string>();
  const w = gatedWrites<string>();
  const done = lastValueFrom(src.pipe(writeCoalesced(w.write), toArray()));
  let started = w.nextStart();
  src.next('a');
  await started;
  src.next('b');
  src.next('c');
  src.next('d');
  assert.deepEqual(w.calls, [['a']], 'one write at a time');
  started = w.nextStart();
  w.releaseAll();
  await started;
  assert.deepEqual(w.calls, [['a'], ['b', 'c', 'd']]);
  src.complete();
  src.next('late'); // after complete: ignored by the Subject
  w.releaseAll();
  assert.equal((await done).length, 2, 'one emission per write');
  assert.deepEqual(w.calls, [['a'], ['b', 'c', 'd']]);
});

test('writeCoalesced: completion waits for the write in flight; a failed write fails the stream and writes nothing after it', async () => {
  const src = new Subject<number>();
  const w = gatedWrites<number>();
  let completed = false;
  const done = lastValueFrom(src.pipe(writeCoalesced(w.write), toArray())).then((x) => ((completed = true), x));
  const started = w.nextStart();
  src.next(1);
  await started;
  src.complete();
  await Promise.resolve();
  assert.equal(completed, false, 'not complete while the write is in flight');
  w.releaseAll();
  assert.equal((await done).length, 1);

  const failing = new Subject<number>();
  const writes: number[][] = [];
  const failed = lastValueFrom(
    failing.pipe(
      writeCoalesced(async (b: readonly number[]) => {
        writes.push([...b]);
        await Promise.resolve();
        throw new Error('broker gone');
      }),
    ),
  );
  failing.next(1);
  failing.next(2);
  await assert.rejects(failed, /broker gone/);
  assert.deepEqual(writes, [[1]], 'the batch that waited is not written after the failure');
});

test('runPipeline: batches that wait for a slow sink are written in one call, and each record is acked only after the write that holds it', async () => {
  const acks: number[] = [];
  const record = (seq: number): SourceRecord => ({
    raw: `r${seq}`,
    origin: { source: 'test' },
    arrivedAt: 0,
    seq,
    ack: () => acks.push(seq),
  });
  const decode = (r: SourceRecord): Reading | Rejection => ({
    kind: 'rejected',
    reason: 'not_json',
    detail: 'test',
    raw: r.raw,
    origin: r.origin,
    arrivedAt: r.arrivedAt,
    seq: r.seq,
    ack: r.ack,
  });
  const window = (src: Observable<Reading | Rejection>): Observable<WindowOutput> => src as Observable<WindowOutput>;
  const detect = (src: Observable<WindowOutput>) =>
    new Observable<Rejection[]>((sub) =>
      src.subscribe({
        next: (o) => sub.next([o as Rejection]),
        error: (e) => sub.error(e),
        complete: () => sub.complete(),
      }),
    );
  const w = gatedWrites<number>();
  const ackedAtWrite: number[][] = [];
  const sink: Sink = {
    name: 'slow',
    write: async (outputs) => {
      ackedAtWrite.push([...acks]);
      await w.write(outputs.map((o) => (o as Rejection).seq));
      return undefined;
    },
    close: async () => {},
  };
  const feed = new Subject<SourceRecord>();
  const run = runPipeline({ records$: feed, decode, window, detect, sinks: [sink] });
  let started = w.nextStart();
  feed.next(record(0));
  await started;
  for (const i of [1, 2, 3]) feed.next(record(i));
  assert.deepEqual(acks, [], 'nothing acked while the first write is in flight');
  started = w.nextStart();
  w.releaseAll();
  await started;
  assert.deepEqual(acks, [0]);
  assert.deepEqual(w.calls, [[0], [1, 2, 3]], 'the three waiting batches went in one write');
  feed.complete();
  w.releaseAll();
  const stats = await run;
  assert.deepEqual(acks, [0, 1, 2, 3]);
  assert.deepEqual(ackedAtWrite, [[], [0]]);
  assert.equal(stats.acked, 4);
  assert.deepEqual(stats.rejected, { not_json: 4 });
});
