import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstValueFrom, take, toArray } from 'rxjs';
import type { SchedulerLike } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { readingSchema, simulatorSchema, simulatorSettings, trainingSchema } from '../../src/config/schema.js';
import type { SimulatorConfig } from '../../src/config/schema.js';
import type { FlowControl, SourceRecord } from '../../src/pipeline/contracts.js';
import { createDecoder, isRejection } from '../../src/sources/decode.js';
import { ANOMALY_KINDS, sensorNames, Simulator, simulatorSource } from '../../src/sources/simulator.js';
import type { Injection } from '../../src/sources/simulator.js';

const START = Date.UTC(2026, 0, 5, 8, 0, 0);
const sim = (over: Partial<SimulatorConfig> = {}): SimulatorConfig => ({
  ...simulatorSettings({ simulator: simulatorSchema.parse({}), training: trainingSchema.parse({}) }),
  ...over,
});

function run(s: Simulator, ticks: number): SourceRecord[] {
  const out: SourceRecord[] = [];
  for (let i = 0; i < ticks; i++) out.push(...s.next().records);
  return out;
}
const valuesOf = (r: SourceRecord): Record<string, number> => r.fields?.values as Record<string, number>;

function covering(injections: readonly Injection[], r: SourceRecord): Injection | undefined {
  const ts = r.fields?.ts as number;
  return injections.find((i) => i.sensor === r.key && i.start <= ts && ts < i.end);
}

test('sensors are named sensor-1..N, zero-padded from 10 on so they sort', () => {
  assert.deepEqual(sensorNames(3), ['sensor-1', 'sensor-2', 'sensor-3']);
  const twelve = sensorNames(12);
  assert.equal(twelve[0], 'sensor-01');
  assert.equal(twelve[11], 'sensor-12');
  assert.deepEqual([...twelve].sort(), twelve);
});

test('the same seed gives the same records, another seed different ones', () => {
  const cfg = sim({ seed: 7, quietSeconds: 10, anomalyEverySeconds: 20, anomalySeconds: 10 });
  const a = run(new Simulator(cfg, START), 300).map((r) => r.raw);
  const b = run(new Simulator(cfg, START), 300).map((r) => r.raw);
  assert.deepEqual(a, b);
  const c = run(new Simulator({ ...cfg, seed: 8 }, START), 300).map((r) => r.raw);
  assert.notEqual(a[0], c[0]);
  assert.ok(a.filter((raw, i) => raw !== c[i]).length > 290);
});

test('a step moves every sensor to a new operating point and keeps it there: each channel by a constant from then on', () => {
  // No injected anomaly within the 600 ticks, so every difference is the step's.
  const cfg = sim({ seed: 3, quietSeconds: 10_000 });
  const plain = run(new Simulator(cfg, START), 600);
  const stepped = run(new Simulator({ ...cfg, step: 0.3, stepAfterSeconds: 200 }, START), 600);
  assert.equal(plain.length, stepped.length);
  const shift = new Map<string, number>();
  for (const [i, r] of plain.entries()) {
    const ts = r.fields?.ts as number;
    const a = valuesOf(r);
    const b = valuesOf(stepped[i]!);
    for (const c of Object.keys(a)) {
      const d = b[c]! - a[c]!;
      if (ts - START < 200_000) assert.equal(d, 0, `before the step, ${c} at ${ts}`);
      else {
        const key = `${r.key}/${c}`;
        const seen = shift.get(key);
        if (seen === undefined) shift.set(key, d);
        // Readings carry 4 decimals: two rounded differences agree within 2 × 10⁻⁴.
        else assert.ok(Math.abs(d - seen) <= 2.0001e-4, `${key}: ${d} vs ${seen}`);
      }
    }
  }
  // Every channel follows the load: all moved.
  assert.equal(shift.size, cfg.sensors * cfg.channels.length);
  for (const [key, d] of shift) assert.ok(Math.abs(d) > 1e-3, `${key} moved ${d}`);
});

test('records: raw is the documented reading JSON of the fields, one per sensor per tick, seq increasing, all decode', () => {
  const cfg = sim({ sensors: 3, rateHz: 4 });
  const s = new Simulator(cfg, START);
  const records = run(s, 40);
  assert.equal(records.length, 120);
  const decode = createDecoder(readingSchema.parse({}), { now: () => START + 60_000 });
  records.forEach((r, i) => {
    assert.equal(r.seq, i);
    assert.equal(r.key, sensorNames(3)[i % 3]);
    assert.equal(r.fields?.ts, START + Math.floor(i / 3) * 250);
    assert.deepEqual(r.origin, { source: 'simulator' });
    assert.equal(r.arrivedAt, r.fields?.ts);
    const doc = JSON.parse(r.raw as string) as { sensor: string; ts: string; values: Record<string, number> };
    assert.deepEqual(Object.keys(doc), ['sensor', 'ts', 'values']);
    assert.equal(doc.sensor, r.key);
    assert.equal(Date.parse(doc.ts), r.fields?.ts);
    assert.deepEqual(doc.values, r.fields?.values);
    const out = decode({ ...r, fields: undefined });
    assert.ok(!isRejection(out), isRejection(out) ? out.detail : '');
    assert.deepEqual(out.channels, [...cfg.channels].sort());
  });
});

test('channels follow one shared load: they are strongly correlated over a machine cycle', () => {
  const s = new Simulator(sim({ sensors: 1, quietSeconds: 1e9, channels: ['a', 'b', 'c'] }), START);
  const rows = run(s, 600).map(valuesOf);
  const col = (c: string): number[] => rows.map((v) => v[c] as number);
  const corr = (x: number[], y: number[]): number => {
    const mx = x.reduce((p, q) => p + q) / x.length;
    const my = y.reduce((p, q) => p + q) / y.length;
    let sxy = 0,
      sxx = 0,
      syy = 0;
    x.forEach((xi, i) => {
      sxy += (xi - mx) * ((y[i] as number) - my);
      sxx += (xi - mx) ** 2;
      syy += ((y[i] as number) - my) ** 2;
    });
    return sxy / Math.sqrt(sxx * syy);
  };
  for (const [x, y] of [
    ['a', 'b'],
    ['b', 'c'],
    ['a', 'c'],
  ] as const) {
    assert.ok(Math.abs(corr(col(x), col(y))) > 0.8, `${x}~${y}: ${corr(col(x), col(y))}`);
  }
});

test('over a long run: every kind occurs, labels match injections, none in the quiet period', () => {
  const cfg = sim({ sensors: 4, rateHz: 1, seed: 3, quietSeconds: 120, anomalyEverySeconds: 60, anomalySeconds: 20 });
  const s = new Simulator(cfg, START);
  const records = run(s, 4 * 3600);
  const inj = s.injections;
  assert.ok(inj.length > 400, `${inj.length} injections`);
  assert.deepEqual(new Set(inj.map((i) => i.kind)), new Set(ANOMALY_KINDS));
  for (const i of inj) {
    assert.ok(i.start >= START + cfg.quietSeconds * 1000, `injection at ${i.start - START} ms in the quiet period`);
    assert.ok(
      i.end - i.start >= 0.75 * 20_000 - 1000 && i.end - i.start <= 1.25 * 20_000 + 1000,
      `lasts ${i.end - i.start} ms`,
    );
    assert.ok(i.channels.length >= 1 && i.channels.every((c) => cfg.channels.includes(c)));
    assert.deepEqual([...i.channels].sort(), i.channels);
    if (i.kind === 'decorrelation') assert.equal(i.channels.length, 1);
  }
  const gaps: number[] = [];
  for (const name of s.sensors) {
    const mine = inj.filter((i) => i.sensor === name);
    for (let k = 1; k < mine.length; k++) gaps.push((mine[k] as Injection).start - (mine[k - 1] as Injection).end);
  }
  assert.ok(
    gaps.every((g) => g >= 20_000),
    'anomalies stay apart',
  );
  const meanGap = gaps.reduce((a, b) => a + b) / gaps.length;
  assert.ok(Math.abs(meanGap - 60_000) < 6_000, `mean gap ${meanGap} ms`);
  let labelled = 0;
  for (const r of records) {
    assert.equal(r.label, covering(inj, r) === undefined ? 0 : 1, `${r.key} at ${(r.fields?.ts as number) - START}`);
    labelled += r.label ?? 0;
  }
  // An injection still open at the end of the run is cut short.
  const runEnd = START + 4 * 3600 * 1000;
  const expected = inj.reduce((n, i) => n + (Math.min(i.end, runEnd) - i.start) / 1000, 0);
  assert.equal(labelled, expected);
});

test('anomalies touch only their channels and ticks, and stand at least 5 noise sigmas clear', () => {
  const cfg = sim({ sensors: 3, rateHz: 1, seed: 11, quietSeconds: 60, anomalyEverySeconds: 90, anomalySeconds: 30 });
  const ticks = 3 * 3600;
  const withAnomalies = new Simulator(cfg, START);
  const anomalous = run(withAnomalies, ticks);
  // Same seed, no anomaly within the run: the normal signal is the same stream.
  const normal = run(new Simulator({ ...cfg, quietSeconds: 1e9 }, START), ticks);
  const sigma = new Map<string, number>();
  for (const name of withAnomalies.sensors) {
    const rows = normal.filter((r) => r.key === name).map(valuesOf);
    for (const c of cfg.channels) {
      const d = rows.slice(1).map((v, i) => (v[c] as number) - ((rows[i] as Record<string, number>)[c] as number));
      sigma.set(`${name}/${c}`, Math.sqrt(d.reduce((a, x) => a + x * x, 0) / d.length / 2));
    }
  }
  const peak = new Map<Injection, Map<string, number>>();
  anomalous.forEach((r, k) => {
    const n = normal[k] as SourceRecord;
    const inj = covering(withAnomalies.injections, r);
    for (const c of cfg.channels) {
      const diff = Math.abs((valuesOf(r)[c] as number) - (valuesOf(n)[c] as number));
      if (inj === undefined || !inj.channels.includes(c)) {
        assert.equal(diff, 0, `${r.key}/${c} changed outside an injection`);
        continue;
      }
      const m = peak.get(inj) ?? new Map<string, number>();
      m.set(c, Math.max(m.get(c) ?? 0, diff));
      peak.set(inj, m);
    }
  });
  assert.ok(withAnomalies.injections.length > 100);
  for (const inj of withAnomalies.injections) {
    for (const c of inj.channels) {
      const p = peak.get(inj)?.get(c) ?? 0;
      const s = sigma.get(`${inj.sensor}/${c}`) as number;
      assert.ok(p >= 5 * s, `${inj.kind} on ${inj.sensor}/${c}: peak ${p.toFixed(3)} < 5 × ${s.toFixed(3)}`);
    }
  }
});

test('a decorrelation oscillates with a period set in readings: at 20 Hz it is the 1 Hz stream, reading for reading', () => {
  // The time scales derived from the rate (quiet period, spacing, length) are in readings, so the
  // same seed injects the same anomalies at the same ticks at both rates, with the same noise.
  const stream = (rateHz: number): { s: Simulator; records: SourceRecord[] } => {
    const cfg = simulatorSettings({
      simulator: simulatorSchema.parse({ sensors: 4, rateHz, seed: 5 }),
      training: trainingSchema.parse({}),
    });
    const s = new Simulator(cfg, START);
    return { s, records: run(s, 6000) };
  };
  const slow = stream(1);
  const fast = stream(20);
  const ticksOf = (s: Simulator, i: Injection): [number, number] => [
    Math.round((i.start - START) / s.intervalMs),
    Math.round((i.end - START) / s.intervalMs),
  ];
  assert.deepEqual(
    fast.s.injections.map((i) => [i.sensor, i.kind, i.channels, ...ticksOf(fast.s, i)]),
    slow.s.injections.map((i) => [i.sensor, i.kind, i.channels, ...ticksOf(slow.s, i)]),
  );
  const decorrelations = slow.s.injections.filter((i) => i.kind === 'decorrelation');
  assert.ok(decorrelations.length >= 2, `${decorrelations.length} decorrelations`);
  const sensors = slow.s.sensors.length;
  for (const [k, inj] of slow.s.injections.entries()) {
    if (inj.kind !== 'decorrelation') continue;
    const [from, to] = ticksOf(slow.s, inj);
    if (to > 6000) continue; // still running at the end
    const channel = inj.channels[0] as string;
    const sensor = slow.s.sensors.indexOf(inj.sensor);
    // The oscillation around the level it left from, without that level (which follows the load).
    const path = (records: SourceRecord[]): number[] => {
      const v = (t: number): number => valuesOf(records[t * sensors + sensor] as SourceRecord)[channel] as number;
      return Array.from({ length: to - from }, (_, t) => v(from + t) - v(from));
    };
    const a = path(slow.records);
    const b = path(fast.records);
    b.forEach((x, t) =>
      assert.ok(Math.abs(x - (a[t] as number)) < 3e-4, `injection ${k}, reading ${t}: ${x} at 20 Hz, ${a[t]} at 1 Hz`),
    );
    // Within a period (20–60 readings) it swings from one crest to the other.
    const swing = Math.max(...a.slice(0, 60)) - Math.min(...a.slice(0, 60));
    assert.ok(swing > 3 * Math.max(...a.slice(0, 3).map(Math.abs)), `injection ${k}: swing ${swing}`);
  }
});

test('simulatorSource with a duration starts no anomaly the end of the stream would cut short', async () => {
  const cfg = simulatorSettings({
    simulator: simulatorSchema.parse({ sensors: 6, rateHz: 20, seed: 3 }),
    training: trainingSchema.parse({}),
  });
  const durationMs = 120_000;
  const { records$, simulator } = simulatorSource(cfg, { startMs: START, durationMs, realtime: false });
  const records = await firstValueFrom(records$.pipe(toArray()));
  const lastTs = records.at(-1)?.fields?.ts as number;
  assert.ok(simulator.injections.length > 5);
  for (const i of simulator.injections)
    assert.ok(
      i.end <= START + durationMs,
      `${i.sensor} ${i.kind} ends ${i.end - START - durationMs} ms after the stream`,
    );
  // Every labelled reading was emitted: an injection's readings are start <= ts < end.
  const labelled = records.reduce((n, r) => n + (r.label ?? 0), 0);
  assert.equal(
    labelled,
    simulator.injections.reduce((n, i) => n + (i.end - i.start) / simulator.intervalMs, 0),
  );
  assert.ok(lastTs < START + durationMs);
  // The same stream without an end injects the same anomalies up to there, and at least one more
  // that runs past it.
  const open = new Simulator(cfg, START);
  run(open, durationMs / open.intervalMs);
  assert.deepEqual(open.injections.slice(0, simulator.injections.length), simulator.injections);
  assert.ok(open.injections.length > simulator.injections.length);
  assert.ok(open.injections.slice(simulator.injections.length).every((i) => i.end > START + durationMs));
});

test('simulatorSource, not realtime: runs for durationMs of event time, acks reach onAck once each', async () => {
  let acks = 0;
  const clock = {
    now: () => 1234,
    schedule: () => assert.fail('not realtime: nothing is scheduled'),
  } as unknown as SchedulerLike;
  const { records$, simulator } = simulatorSource(sim({ sensors: 3, rateHz: 2 }), {
    startMs: START,
    durationMs: 10_000,
    realtime: false,
    scheduler: clock,
    onAck: () => acks++,
  });
  const records = await firstValueFrom(records$.pipe(toArray()));
  assert.equal(records.length, 20 * 3);
  assert.equal(records.at(-1)?.fields?.ts, START + 9_500);
  assert.ok(records.every((r) => r.arrivedAt === 1234));
  assert.equal(simulator.nextTs, START + 10_000);
  for (const r of records) {
    r.ack();
    r.ack();
  }
  assert.equal(acks, 60);
  await assert.rejects(firstValueFrom(records$), /subscribed once/);
});

test('simulatorSource, not realtime: a tick waits for the flow, and unsubscribing stops the loop', async () => {
  const resolvers: Array<() => void> = [];
  let pending = false;
  const flow: FlowControl = {
    ready: () => {
      pending = true;
      return new Promise<void>((resolve) => resolvers.push(() => ((pending = false), resolve())));
    },
  };
  const { records$, simulator } = simulatorSource(sim({ sensors: 2 }), { startMs: START, realtime: false, flow });
  const seen: SourceRecord[] = [];
  let firstTick!: () => void;
  const gotTick = new Promise<void>((resolve) => (firstTick = resolve));
  const sub = records$.subscribe((r) => {
    assert.equal(pending, false, 'emitted while the flow was not ready');
    seen.push(r);
    if (seen.length === 2) firstTick();
  });
  assert.equal(resolvers.length, 1);
  assert.equal(seen.length, 0);
  resolvers[0]?.();
  await gotTick;
  assert.equal(resolvers.length, 2, 'the next tick asks the flow again');
  sub.unsubscribe();
  resolvers[1]?.();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(seen.length, 2);
  assert.equal(simulator.nextTs, START + 1000, 'no tick generated after unsubscribe');
  assert.equal(resolvers.length, 2);
});

test('simulatorSource, not realtime, forever: take() ends it without flow control', { timeout: 10_000 }, async () => {
  const { records$, simulator } = simulatorSource(sim({ sensors: 1, rateHz: 10 }), { startMs: START, realtime: false });
  const records = await firstValueFrom(records$.pipe(take(2500), toArray()));
  assert.equal(records.length, 2500);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(simulator.nextTs, START + 250_000);
});

test('simulatorSource, realtime: one tick per interval / speedup of virtual time, then complete', () => {
  const ts = new TestScheduler(assert.deepEqual);
  const seen: Array<[number, string, number]> = [];
  let completedAt = -1;
  ts.run(() => {
    const { records$ } = simulatorSource(sim({ sensors: 2, rateHz: 2, speedup: 10 }), {
      startMs: START,
      durationMs: 2_000,
      realtime: true,
      scheduler: ts,
    });
    records$.subscribe({
      next: (r) => seen.push([r.arrivedAt, r.key as string, (r.fields?.ts as number) - START]),
      complete: () => (completedAt = ts.now()),
    });
  });
  assert.deepEqual(seen, [
    [0, 'sensor-1', 0],
    [0, 'sensor-2', 0],
    [50, 'sensor-1', 500],
    [50, 'sensor-2', 500],
    [100, 'sensor-1', 1000],
    [100, 'sensor-2', 1000],
    [150, 'sensor-1', 1500],
    [150, 'sensor-2', 1500],
  ]);
  assert.equal(completedAt, 150);
});

test('simulatorSource, realtime: unsubscribing stops the ticks', () => {
  const ts = new TestScheduler(assert.deepEqual);
  const times: number[] = [];
  ts.run(() => {
    const { records$ } = simulatorSource(sim({ sensors: 1, rateHz: 1, speedup: 1 }), {
      startMs: START,
      realtime: true,
      scheduler: ts,
    });
    const sub = records$.subscribe((r) => times.push(r.arrivedAt));
    ts.schedule(() => sub.unsubscribe(), 2_500);
  });
  assert.deepEqual(times, [0, 1000, 2000]);
});

test('simulatorSource, realtime: a tick waits while the flow is not ready, then the schedule resumes from it', async () => {
  const ts = new TestScheduler(assert.deepEqual);
  let release!: () => void;
  let calls = 0;
  const flow: FlowControl = {
    ready: () => (++calls === 2 ? new Promise<void>((resolve) => (release = resolve)) : undefined),
  };
  const { records$ } = simulatorSource(sim({ sensors: 1, rateHz: 10, speedup: 1 }), {
    startMs: START,
    durationMs: 400,
    realtime: true,
    scheduler: ts,
    flow,
  });
  const times: number[] = [];
  let done = false;
  records$.subscribe({ next: (r) => times.push(r.arrivedAt), complete: () => (done = true) });
  ts.flush();
  assert.deepEqual(times, [0], 'the second tick waits for the flow');
  ts.schedule(() => {}, 30);
  ts.flush();
  assert.deepEqual(times, [0]);
  release();
  await Promise.resolve();
  assert.deepEqual(times, [0, 130], 'the late tick goes out when the flow is ready');
  ts.flush();
  assert.deepEqual(times, [0, 130, 230, 330]);
  assert.ok(done);
});
