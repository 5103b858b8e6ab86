import { test } from 'node:test';
import assert from 'node:assert/strict';
import { from, map, toArray, type Observable } from 'rxjs';
import type {
  AnomalyEvent,
  Origin,
  PipelineOutput,
  Reading,
  Rejection,
  ScoredReading,
  Sink,
  SourceRecord,
  WindowOutput,
} from '../../src/pipeline/contracts.js';
import { Ownerships, ownedOutputs } from '../../src/pipeline/ownership.js';
import { runPipeline } from '../../src/pipeline/runner.js';
import { windowReadings } from '../../src/windowing/windows.js';
import { channelValues } from './fixtures.js';

const SESSION = 10_000;

/** A clock the test moves by hand. */
function clock(start = 1_000_000): { now: () => number; set(t: number): void } {
  let t = start;
  return { now: () => t, set: (v) => (t = v) };
}

const origin = (partition: number, offset = 0): Origin => ({
  source: 'kafka',
  topic: 'in',
  partition,
  offset: String(offset),
});

function reading(partition: number, seq: number, ts = seq * 1000, acks: number[] = []): Reading {
  return {
    sensor: `s${partition}`,
    ts,
    ...channelValues({ x: ts }),
    origin: origin(partition, seq),
    arrivedAt: 0,
    seq,
    ack: () => acks.push(seq),
  };
}

function row(r: Reading): ScoredReading {
  return {
    reading: r,
    score: 0.5,
    rawScore: 0.5,
    error: 0.1,
    threshold: 0.2,
    anomaly: false,
    channels: r.channels,
    channelShares: null,
    windowId: `${r.sensor}@${r.ts}`,
    training: false,
  };
}

const scored = (...rs: Reading[]): PipelineOutput => ({ kind: 'scored', rows: rs.map(row), window: null });

function event(sensor: string): PipelineOutput {
  const e: AnomalyEvent = {
    id: `${sensor}-e`,
    kind: 'opened',
    sensor,
    group: 'x',
    start: 0,
    peakScore: 2,
    severity: 'major',
    topChannels: [],
    modelVersion: 'm',
  };
  return { kind: 'event', event: e };
}

test('a record is live under its assignment while the lease holds, pending once it ran out, ended once the assignment ended', () => {
  const c = clock();
  const own = new Ownerships(SESSION, c.now);
  own.begin('in', 0, 5);
  // No confirmation yet: nothing is known.
  assert.equal(own.state(origin(0), 5), 'pending');
  own.confirmed(c.now());
  assert.equal(own.state(origin(0), 5), 'live');
  assert.equal(own.state(origin(0), 4), 'ended', 'read before this assignment began');
  assert.equal(own.state(origin(1), 5), 'ended', 'a partition never assigned');
  assert.equal(own.committable('in', 0), true);
  c.set(c.now() + SESSION);
  assert.equal(own.state(origin(0), 5), 'pending', 'the group may have dropped this member by now');
  assert.equal(own.committable('in', 0), false);
  // A confirmation sent before the last one does not move the lease back, nor forward.
  own.confirmed(c.now() - SESSION - 1);
  assert.equal(own.state(origin(0), 5), 'pending');
  own.confirmed(c.now() - 1);
  assert.equal(own.state(origin(0), 5), 'live');
  const before = own.endings;
  own.end('in', 0);
  assert.equal(own.state(origin(0), 5), 'ended');
  assert.equal(own.endings, before + 1);
  own.end('in', 0);
  assert.equal(own.endings, before + 1, 'ending what is not held counts nothing');
  // Records of other sources have no ownership.
  assert.equal(own.state({ source: 'file', file: 'x' }, 0), 'live');
});

test('a new assignment of a partition ends the one before: records read under the old one stay ended', () => {
  const c = clock();
  const own = new Ownerships(SESSION, c.now);
  own.confirmed(c.now());
  own.begin('in', 0, 0);
  own.begin('in', 0, 10);
  assert.equal(own.state(origin(0), 9), 'ended');
  assert.equal(own.state(origin(0), 10), 'live');
  assert.equal(own.endings, 1);
});

test('a partition being checked after a rejoin is pending until kept', () => {
  const c = clock();
  const own = new Ownerships(SESSION, c.now);
  own.confirmed(c.now());
  own.begin('in', 0, 0);
  own.check('in', 0);
  assert.equal(own.state(origin(0), 3), 'pending');
  assert.equal(own.committable('in', 0), false);
  own.kept('in', 0);
  assert.equal(own.state(origin(0), 3), 'live');
});

test('ownedOutputs drops the rows, rejections and events of ended assignments and counts them', async () => {
  const c = clock();
  const own = new Ownerships(SESSION, c.now);
  own.confirmed(c.now());
  own.begin('in', 0, 0);
  own.begin('in', 1, 0);
  const a = reading(0, 1);
  const b = reading(1, 2);
  const rej: Rejection = {
    kind: 'rejected',
    reason: 'not_json',
    detail: 'x',
    raw: 'x',
    origin: origin(1, 3),
    arrivedAt: 0,
    seq: 3,
    ack: () => {},
  };
  const outputs = [scored(a), event('s0'), scored(b), event('s1'), rej];
  assert.equal((await ownedOutputs(own, outputs)).outputs, outputs, 'all live: the same array');
  own.end('in', 1);
  const { outputs: kept, voided } = await ownedOutputs(own, outputs);
  assert.deepEqual(kept, [scored(a), event('s0')]);
  assert.equal(voided, 2);
});

test('ownedOutputs waits while an output is pending, and goes on at the confirmation', async () => {
  const c = clock();
  const own = new Ownerships(SESSION, c.now);
  own.confirmed(c.now());
  own.begin('in', 0, 0);
  c.set(c.now() + SESSION + 1);
  let settled = false;
  const done = ownedOutputs(own, [scored(reading(0, 1))]).then((r) => {
    settled = true;
    return r;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false, 'the lease ran out: it waits');
  own.confirmed(c.now());
  assert.equal((await done).voided, 0);
});

test('ownedOutputs waits while pending, then voids when the assignment ends instead', async () => {
  const c = clock();
  const own = new Ownerships(SESSION, c.now);
  own.confirmed(c.now());
  own.begin('in', 0, 0);
  own.check('in', 0);
  const done = ownedOutputs(own, [scored(reading(0, 1)), event('s0')]);
  own.end('in', 0);
  assert.deepEqual(await done, { outputs: [], voided: 1 });
});

/** Records of `partition` as a Kafka source would hand them out. */
function records(partition: number, seqs: number[], acks: number[]): SourceRecord[] {
  return seqs.map((seq) => ({
    raw: `r${seq}`,
    origin: origin(partition, seq),
    arrivedAt: 0,
    seq,
    ack: () => acks.push(seq),
  }));
}

test('the runner acks voided readings without writing them; the rest are written', async () => {
  const c = clock();
  const own = new Ownerships(SESSION, c.now);
  own.confirmed(c.now());
  own.begin('in', 0, 0);
  own.begin('in', 1, 0);
  const acks: number[] = [];
  const written: number[] = [];
  let voided = 0;
  const sink: Sink = {
    name: 'test',
    async write(outputs) {
      for (const o of outputs) if (o.kind === 'scored') for (const r of o.rows) written.push(r.reading.seq);
    },
    async close() {},
  };
  const input: Observable<SourceRecord> = from([...records(0, [0, 2], acks), ...records(1, [1, 3], acks)]);
  const stats = await runPipeline({
    records$: input,
    decode: (r) => ({
      sensor: `s${r.origin.partition}`,
      ts: r.seq,
      ...channelValues({ x: r.seq }),
      origin: r.origin,
      arrivedAt: 0,
      seq: r.seq,
      ack: r.ack,
    }),
    window: map((x: Reading | Rejection): WindowOutput =>
      'kind' in x ? x : { kind: 'warming', sensor: x.sensor, group: 'x', readings: [x] },
    ),
    detect: map((w: WindowOutput): PipelineOutput[] => {
      // Partition 1 is revoked while its readings are in flight.
      own.end('in', 1);
      return w.kind === 'rejected' ? [w] : [scored(...w.readings)];
    }),
    sinks: [sink],
    ownership: own,
    onVoided: (n) => (voided += n),
  });
  assert.deepEqual(written.sort(), [0, 2]);
  assert.deepEqual(acks.sort(), [0, 1, 2, 3], 'voided readings are acked too');
  assert.equal(voided, 2);
  assert.equal(stats.acked, 4);
});

const CFG = { size: 3, stride: 1, maxGapMs: 60_000, reorder: { maxDelayMs: 0, capacity: 100 } } as Parameters<
  typeof windowReadings
>[0];

function windowsOf(inputs: Reading[]): WindowOutput[] {
  let out: WindowOutput[] = [];
  from(inputs)
    .pipe(windowReadings(CFG), toArray())
    .subscribe((v) => (out = v));
  return out;
}

test('a sensor read under an assignment that ended starts afresh: records read again rebuild it, none is too late', () => {
  const c = clock();
  const own = new Ownerships(SESSION, c.now);
  own.confirmed(c.now());
  own.begin('in', 0, 0);
  const before = [1, 2, 3, 4].map((s) => reading(0, s));
  // The partition is set up again; the new owner reads from offset 2 again (seq 10 on).
  const again = [2, 3, 4, 5].map((s, i) => reading(0, 10 + i, s * 1000));
  let all: WindowOutput[] = [];
  from([...before, ...again])
    .pipe(
      map((r) => {
        // The assignment ends (and a new one begins) between the two reads.
        if (r.seq === 10) own.begin('in', 0, 10);
        return r;
      }),
      windowReadings(CFG, undefined, own),
      toArray(),
    )
    .subscribe((v) => (all = v));
  const rejected = all.filter((o) => o.kind === 'rejected');
  assert.deepEqual(rejected, [], 'no duplicate or too-late rejection of the records read again');
  const windows = all.filter((o) => o.kind === 'window').map((o) => (o.kind === 'window' ? o.id : ''));
  // Before: windows at 3 and 4; afresh from 2: the first full window is at 4 again, then 5.
  assert.deepEqual(windows, ['s0@3000', 's0@4000', 's0@4000', 's0@5000']);
  // Without ownership, the records read again are rejected against the old state.
  const plain = windowsOf([...before, ...again]);
  assert.ok(plain.some((o) => o.kind === 'rejected'));
});
