import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Observable, map } from 'rxjs';
import type {
  PipelineOutput,
  Reading,
  RecordDecoder,
  Rejection,
  Sink,
  SourceRecord,
  WindowOutput,
} from '../../src/pipeline/contracts.js';
import { InFlightGate, runPipeline, WriteBarrier } from '../../src/pipeline/runner.js';
import { channelValues } from './fixtures.js';

function record(seq: number, acks: number[]): SourceRecord {
  return { raw: `r${seq}`, origin: { source: 'test' }, arrivedAt: 0, seq, ack: () => acks.push(seq) };
}

/** Decode: even seqs become readings, odd ones rejections; every reading goes out unscored. */
const decode = (r: SourceRecord): Reading | Rejection =>
  r.seq % 2 === 0
    ? {
        sensor: 's',
        ts: r.seq,
        ...channelValues({ x: r.seq }),
        origin: r.origin,
        arrivedAt: r.arrivedAt,
        seq: r.seq,
        ack: r.ack,
      }
    : {
        kind: 'rejected',
        reason: 'not_json',
        detail: 'odd',
        raw: r.raw,
        origin: r.origin,
        arrivedAt: r.arrivedAt,
        seq: r.seq,
        ack: r.ack,
      };
const window = map((x: Reading | Rejection): WindowOutput =>
  'kind' in x ? x : { kind: 'warming', sensor: x.sensor, group: 'x', readings: [x] },
);
const detect = map((w: WindowOutput): PipelineOutput[] =>
  w.kind === 'warming'
    ? [
        {
          kind: 'scored',
          window: null,
          rows: w.readings.map((reading) => ({
            reading,
            score: null,
            rawScore: null,
            error: null,
            threshold: null,
            anomaly: false,
            channels: ['x'],
            channelShares: null,
            windowId: null,
            training: false,
          })),
        },
      ]
    : w.kind === 'rejected'
      ? [w]
      : [],
);

test('a record is acked only after every sink has written what came from it', async () => {
  const acks: number[] = [];
  const seenAtWrite: number[][] = [];
  const sink: Sink = {
    name: 'probe',
    write: async () => void seenAtWrite.push([...acks]),
    close: async () => {},
  };
  const records$ = new Observable<SourceRecord>((s) => {
    for (let i = 0; i < 6; i++) s.next(record(i, acks));
    s.complete();
  });
  const stats = await runPipeline({ records$, decode, window, detect, sinks: [sink] });
  assert.deepEqual(acks, [0, 1, 2, 3, 4, 5]);
  // Each write saw only the acks of earlier outputs: record i is acked after its own write.
  seenAtWrite.forEach((before, i) => assert.deepEqual(before, [0, 1, 2, 3, 4, 5].slice(0, i)));
  assert.equal(stats.acked, 6);
  assert.equal(stats.readings, 3);
  assert.deepEqual(stats.rejected, { not_json: 3 });
});

test('a failing sink fails the run and leaves its records unacked; sinks are still closed', async () => {
  const acks: number[] = [];
  let closed = 0;
  const sink: Sink = {
    name: 'broken',
    write: async () => {
      throw new Error('disk full');
    },
    close: async () => void closed++,
  };
  const records$ = new Observable<SourceRecord>((s) => {
    s.next(record(0, acks));
    s.complete();
  });
  await assert.rejects(runPipeline({ records$, decode, window, detect, sinks: [sink] }), /disk full/);
  assert.deepEqual(acks, []);
  assert.equal(closed, 1);
});

test('records a sink reports held are never acked (and stay in flight); the others are acked', async () => {
  const acks: number[] = [];
  const gate = new InFlightGate(100);
  const sink: Sink = {
    name: 'refusing',
    write: async (outputs) => {
      const held = new Set<Reading | Rejection>();
      for (const o of outputs) {
        if (o.kind === 'rejected' && o.seq === 3) held.add(o);
        if (o.kind === 'scored') for (const r of o.rows) if (r.reading.seq === 4) held.add(r.reading);
      }
      return { held };
    },
    close: async () => {},
  };
  const records$ = new Observable<SourceRecord>((s) => {
    for (let i = 0; i < 6; i++) s.next(record(i, acks));
    s.complete();
  });
  const stats = await runPipeline({ records$, decode, window, detect, sinks: [sink], gate });
  assert.deepEqual(acks, [0, 1, 2, 5]);
  assert.equal(stats.acked, 4);
  assert.equal(gate.size, 2, 'the held records are still in flight');
});

test('the in-flight gate makes a source wait at the high-water mark and lets it go on after acks', async () => {
  const gate = new InFlightGate(2);
  assert.equal(gate.ready(), undefined);
  gate.taken();
  gate.taken();
  const waiting = gate.ready();
  assert.ok(waiting instanceof Promise);
  let resolved = false;
  void waiting.then(() => (resolved = true));
  await Promise.resolve();
  assert.equal(resolved, false);
  gate.released();
  await waiting;
  assert.equal(resolved, true);
  assert.equal(gate.size, 1);
});

test('a source that respects the gate never has more than the high-water mark in flight', async () => {
  const acks: number[] = [];
  const gate = new InFlightGate(3);
  let maxInFlight = 0;
  const records$ = new Observable<SourceRecord>((s) => {
    void (async () => {
      for (let i = 0; i < 20; i++) {
        await gate.ready();
        s.next(record(i * 2, acks));
        maxInFlight = Math.max(maxInFlight, gate.size);
      }
      s.complete();
    })();
  });
  const slowSink: Sink = { name: 'slow', write: () => new Promise((r) => setImmediate(r)), close: async () => {} };
  const stats = await runPipeline({ records$, decode, window, detect, sinks: [slowSink], gate });
  assert.equal(stats.acked, 20);
  assert.ok(maxInFlight <= 3, `in flight reached ${maxInFlight}`);
  assert.equal(gate.size, 0);
});

test('outputs of records read again to rebuild windows are not written, but still acked', async () => {
  const { withoutReplayed } = await import('../../src/pipeline/runner.js');
  const acks: number[] = [];
  const mk = (seq: number, replayOnly: boolean) => {
    const r = decode(record(seq, acks)) as Reading;
    return { ...r, ...(replayOnly ? { replayOnly: true } : {}) };
  };
  const row = (reading: Reading) => ({
    reading,
    score: 1,
    rawScore: 1,
    error: 1,
    threshold: 1,
    anomaly: true,
    channels: ['x'],
    channelShares: null,
    windowId: 'w',
    training: false,
  });
  const event = {
    kind: 'event' as const,
    event: {
      id: 'a',
      kind: 'opened' as const,
      sensor: 's',
      group: 'x',
      start: 0,
      peakScore: 2,
      severity: 'major' as const,
      topChannels: [],
      modelVersion: 'm',
    },
  };
  const rej = (seq: number, replayOnly: boolean): Rejection => ({
    ...(decode(record(seq, acks)) as Rejection),
    ...(replayOnly ? { replayOnly: true } : {}),
  });
  const outputs: PipelineOutput[] = [
    { kind: 'scored', window: null, rows: [row(mk(0, true))] },
    event,
    rej(1, true),
    { kind: 'scored', window: null, rows: [row(mk(2, true)), row(mk(4, false))] },
    event,
    rej(3, false),
  ];
  const visible = withoutReplayed(outputs);
  assert.equal(visible.length, 3);
  assert.equal(visible[0]!.kind, 'scored');
  assert.deepEqual(
    (visible[0] as { rows: ReadonlyArray<{ reading: Reading }> }).rows.map((r) => r.reading.seq),
    [4],
  );
  assert.equal(visible[1], event);
  assert.equal((visible[2] as Rejection).seq, 3);
  const plain = outputs.slice(5);
  assert.equal(withoutReplayed(plain), plain, 'nothing replayed: the same array, no copy');
});

test('readings held inside the windowing stage do not count against the in-flight limit (no stall with many sensors)', async () => {
  const acks: number[] = [];
  const gate = new InFlightGate(3);
  // A windowing stage that holds every reading until 5 have arrived (like a stride of 5 across
  // sensors): with the limit at 3, counting held readings would stall the source for good.
  const holdFive = (source: Observable<Reading | Rejection>) =>
    new Observable<WindowOutput>((sub) => {
      let held: Reading[] = [];
      return source.subscribe({
        next: (x) => {
          if ('kind' in x) return sub.next(x);
          held.push(x);
          if (held.length === 5) {
            sub.next({ kind: 'warming', sensor: 's', group: 'x', readings: held });
            held = [];
          }
        },
        error: (e) => sub.error(e),
        complete: () => {
          if (held.length > 0) sub.next({ kind: 'warming', sensor: 's', group: 'x', readings: held });
          sub.complete();
        },
      });
    });
  const records$ = new Observable<SourceRecord>((s) => {
    void (async () => {
      for (let i = 0; i < 20; i++) {
        await gate.ready();
        s.next(record(i * 2, acks));
      }
      s.complete();
    })();
  });
  const stats = await runPipeline({ records$, decode, window: holdFive, detect, sinks: [], gate });
  assert.equal(stats.acked, 20);
  assert.equal(gate.size, 0);
});

test('WriteBarrier: settled waits until every emitted batch is written', async () => {
  const barrier = new WriteBarrier();
  assert.equal(barrier.settled(), undefined);
  barrier.emitted();
  let done = false;
  const waiting = barrier.settled()!.then(() => (done = true));
  await Promise.resolve();
  assert.equal(done, false);
  barrier.written();
  await waiting;
  assert.equal(done, true);
  assert.equal(barrier.settled(), undefined);
});

test('a RecordDecoder may give several outputs per record or hold records: each output is acked, held ones come out at the end, not on a stop', async () => {
  const held: SourceRecord[] = [];
  const reading = (r: SourceRecord, x: number, ack: () => void): Reading => ({
    sensor: 's',
    ts: r.seq * 10 + x,
    ...channelValues({ x }),
    origin: r.origin,
    arrivedAt: 0,
    seq: r.seq,
    ack,
  });
  const decoder: RecordDecoder = {
    // seq 0: two readings sharing the record's ack; seq 1: held until the end; others: one each.
    decode: (r) => {
      if (r.seq === 1) {
        held.push(r);
        return [];
      }
      if (r.seq !== 0) return reading(r, 0, r.ack);
      let left = 2;
      const share = (): void => void (--left === 0 && r.ack());
      return [reading(r, 0, share), reading(r, 1, share)];
    },
    decodeMany: () => [],
    flush: () => held.splice(0).map((r) => reading(r, 0, r.ack)),
  };
  const run = async (
    signal?: AbortSignal,
  ): Promise<{ acks: number[]; stats: Awaited<ReturnType<typeof runPipeline>> }> => {
    const acks: number[] = [];
    const records$ = new Observable<SourceRecord>((s) => {
      for (let i = 0; i < 3; i++) s.next(record(i, acks));
      if (signal) (signal as AbortSignal & { abortNow?: () => void }).abortNow?.();
      s.complete();
    });
    const stats = await runPipeline({
      records$,
      decode: decoder,
      window,
      detect,
      sinks: [],
      ...(signal ? { signal } : {}),
    });
    return { acks, stats };
  };
  const whole = await run();
  assert.deepEqual([...whole.acks].sort(), [0, 1, 2]);
  assert.equal(whole.stats.records, 3);
  assert.equal(whole.stats.decoded, 4);
  assert.equal(whole.stats.acked, 4);
  // A stop (the signal aborted) leaves the held record unacked: it is read again after a restart.
  const ctl = new AbortController();
  const signal = Object.assign(ctl.signal, { abortNow: () => ctl.abort() });
  const stopped = await run(signal);
  assert.ok(!stopped.acks.includes(1), `acked ${stopped.acks.join(',')}`);
  assert.equal(held.length, 1);
});
