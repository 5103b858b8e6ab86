/**
 * The latent-space scatter's data: the live view's ring of windows (bounded, states, the sample of
 * the sensor's own model), what the event stream carries of it, and the report's collected and
 * sampled windows. The pages that draw it are tested in Chromium (live.test.ts, report.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { PipelineOutput, Reading, SuppressReason } from '../../src/pipeline/contracts.js';
import type { LatentSpace } from '../../src/pipeline/latent.js';
import { startHttpServer } from '../../src/observability/http.js';
import { LiveView } from '../../src/view/live.js';
import { createLiveView } from '../../src/view/routes.js';
import { reportHtml, reportSensor } from '../../src/view/report.js';
import { SeriesCollector } from '../../src/view/series.js';
import { reading, scoredOutput, T0, warming } from '../sinks/fixtures.js';
import { readFrames } from './sse-frames.js';

/** A latent space whose sample and explained shares say which model they are of. */
function space(tag: number): LatentSpace {
  return {
    size: 2,
    mean: [0, 0],
    components: [
      [1, 0],
      [0, 1],
    ],
    explained: [0.5 + tag / 100, 0.2],
    precision: [1, 0, 0, 1],
    scale: 1,
    sample: [
      [tag, tag],
      [tag + 0.5, -tag],
    ],
  };
}

interface WindowSpec {
  /** Readings of the window written with it (the last one ends it and carries the point). */
  readings?: number;
  x: number;
  y?: number;
  anomaly?: boolean;
  suppressed?: SuppressReason;
  model?: string;
  /** No latent point (scoring.latent off). */
  plain?: boolean;
  label?: 0 | 1;
}

/** One scored window of `sensor`: `readings` rows from index `i`, the last carrying its latent point. */
function window(sensor: string, i: number, w: WindowSpec): PipelineOutput {
  const rows: Reading[] = [];
  for (let k = 0; k < (w.readings ?? 1); k++) {
    const r = reading(sensor, i + k, { a: i + k, b: 1 });
    rows.push(w.label === undefined ? r : { ...r, label: w.label });
  }
  const out = scoredOutput(rows, ['a', 'b'], {
    score: w.anomaly ? 2 : 0.5,
    threshold: 1,
    shares: [0.5, 0.5],
    anomaly: w.anomaly ?? false,
  });
  if (out.kind !== 'scored' || !out.window) throw new Error('a scored output');
  out.window.modelVersion = w.model ?? 'm-1';
  const last = out.rows.length - 1;
  const scored = out.rows.map((row, k) => ({
    ...row,
    ...(w.suppressed ? { suppressed: w.suppressed } : {}),
    ...(k === last && !w.plain
      ? { latent: { x: w.x, y: w.y ?? -w.x, distance: Math.abs(w.x) / 10, code: Float32Array.of(w.x, w.y ?? 0) } }
      : {}),
  }));
  return { ...out, rows: scored };
}

const view = (opts: Partial<ConstructorParameters<typeof LiveView>[0]> = {}): LiveView =>
  new LiveView({ backend: 'cpu', maxSensors: 10, staleAfterMs: 60_000, ...opts });

test('the live view keeps the latest windows in a bounded ring, one point per window, each with its state', async () => {
  const asked: string[] = [];
  const live = view({
    capacity: 50,
    latentCapacity: 5,
    latentSpace: (v) => {
      asked.push(v);
      return v === 'm-1' ? space(1) : undefined;
    },
  });
  // 12 windows of 3 readings each: 36 readings, 12 points; the ring keeps the last 5.
  const states = [
    {},
    { anomaly: true },
    { suppressed: 'maintenance' as const },
    { anomaly: true, suppressed: 'condition' as const },
  ];
  for (let k = 0; k < 12; k++) await live.write([window('s', 3 * k, { readings: 3, x: k, ...states[k % 4] })]);
  const d = live.sensor('s')!;
  assert.equal(d.points.total, 36);
  assert.ok(d.latent, 'the sensor has latent points');
  assert.deepEqual(d.latent.x, [7, 8, 9, 10, 11], 'the newest five windows, oldest first');
  assert.deepEqual(d.latent.y, [-7, -8, -9, -10, -11]);
  assert.deepEqual(d.latent.distance, [0.7, 0.8, 0.9, 1, 1.1]);
  assert.deepEqual(
    d.latent.ts,
    [7, 8, 9, 10, 11].map((k) => T0 + (3 * k + 2) * 1000),
    "each point at its window's last reading",
  );
  // Windows 7..11 are states[3], [0], [1], [2], [3]: a suppressed window shows as suppressed even while anomalous.
  assert.deepEqual(d.latent.state, ['suppressed', 'normal', 'anomalous', 'suppressed', 'suppressed']);
  assert.equal(d.latent.modelVersion, 'm-1');
  assert.deepEqual(d.latent.sample, space(1).sample);
  assert.deepEqual(d.latent.explained, space(1).explained);
  assert.deepEqual(asked, ['m-1'], "the sample is looked up by the sensor's model version");

  // The resume cursor is the readings': windows that ended at reading 30 or later (windows 10 and 11 end at 32 and 35).
  const later = live.sensor('s', 30)!;
  assert.deepEqual(later.latent?.x, [10, 11]);
  assert.equal(later.points.ts.length, 6);
});

test("the live view draws a sensor's windows in its current model's space: a new model starts the ring afresh", async () => {
  const live = view({ latentSpace: (v) => ({ 'm-1': space(1), 'm-2': space(2) })[v] });
  for (let k = 0; k < 4; k++) await live.write([window('s', k, { x: k })]);
  await live.write([window('t', 0, { x: 40, model: 'm-2' })]);
  assert.deepEqual(live.sensor('s')!.latent?.sample, space(1).sample);
  assert.deepEqual(live.sensor('t')!.latent?.sample, space(2).sample, "each sensor gets its own model's sample");

  await live.write([window('s', 4, { x: 100, model: 'm-2' }), window('s', 5, { x: 101, model: 'm-2' })]);
  const d = live.sensor('s')!;
  assert.equal(d.modelVersion, 'm-2');
  assert.equal(d.latent?.modelVersion, 'm-2');
  assert.deepEqual(d.latent?.x, [100, 101], "the old model's points (another space) are gone");
  assert.deepEqual(d.latent?.sample, space(2).sample);
  assert.deepEqual(d.latent?.explained, space(2).explained);

  // A model no longer held: the points still, without a sample.
  await live.write([window('s', 6, { x: 7, model: 'm-3' })]);
  const gone = live.sensor('s')!.latent!;
  assert.deepEqual(gone.x, [7]);
  assert.equal(gone.sample, undefined);
  assert.equal(gone.explained, undefined);
});

test('without scoring.latent the live view holds no latent data: the detail has no latent at all', async () => {
  const live = view({ latentSpace: () => space(1) });
  await live.write([{ kind: 'scored', window: null, rows: [warming(reading('s', 0, { a: 1, b: 1 }), ['a', 'b'])] }]);
  for (let k = 1; k < 5; k++) await live.write([window('s', k, { x: k, plain: true })]);
  const d = live.sensor('s')!;
  assert.equal(d.points.total, 5);
  assert.equal('latent' in d, false);
});

interface LatentFrame {
  latent?: { modelVersion: string; x: number[]; state: string[]; sample?: unknown };
}

test("the event stream sends the followed sensor's new windows with its points, and the model's sample only when it is new to the client", async (t) => {
  const live = createLiveView({
    backend: 'cpu',
    maxSensors: 10,
    staleAfterMs: 60_000,
    intervalMs: 3_600_000,
    latentSpace: (v) => ({ 'm-1': space(1), 'm-2': space(2) })[v],
  });
  const server = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    registry: new Registry(),
    ready: () => true,
    extraRoutes: live.routes,
  });
  const abort = new AbortController();
  t.after(async () => {
    abort.abort();
    live.close();
    await server.close();
  });
  await live.sink.write([window('s', 0, { x: 1 }), window('s', 1, { x: 2, anomaly: true })]);
  const frames: Array<{ event: string; data: unknown }> = [];
  const res = await fetch(`${server.url}/events?sensor=s`, { signal: abort.signal });
  const reading$ = readFrames(res, frames, abort.signal);
  const waitFor = async (n: number): Promise<void> => {
    const end = Date.now() + 5_000;
    while (frames.length < n) {
      if (Date.now() > end)
        throw new Error(`timed out waiting for ${n} frames: ${frames.map((f) => f.event).join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await waitFor(2);
  const snapshot = frames[1]!.data as LatentFrame;
  assert.equal(frames[1]!.event, 'sensor');
  assert.deepEqual(snapshot.latent?.x, [1, 2]);
  assert.deepEqual(snapshot.latent?.state, ['normal', 'anomalous']);
  assert.deepEqual(snapshot.latent?.sample, space(1).sample);

  // Two more windows, one flush: one points message with the two new windows and no sample (the client has it).
  await live.sink.write([window('s', 2, { x: 3, suppressed: 'calendar' }), window('s', 3, { x: 4 })]);
  live.flush();
  await waitFor(4);
  assert.deepEqual(
    frames.slice(2).map((f) => f.event),
    ['fleet-delta', 'points'],
  );
  const update = frames[3]!.data as LatentFrame;
  assert.deepEqual(update.latent?.x, [3, 4]);
  assert.deepEqual(update.latent?.state, ['suppressed', 'normal']);
  assert.equal(update.latent?.sample, undefined, 'the sample is not sent again');

  // A reading that ends no window: points, but no latent part.
  await live.sink.write([window('s', 4, { x: 0, plain: true })]);
  live.flush();
  await waitFor(6);
  assert.equal((frames[5]!.data as LatentFrame).latent, undefined);

  // A new model: its windows and its sample.
  await live.sink.write([window('s', 5, { x: 50, model: 'm-2' })]);
  live.flush();
  await waitFor(8);
  const swapped = frames[7]!.data as LatentFrame;
  assert.equal(swapped.latent?.modelVersion, 'm-2');
  assert.deepEqual(swapped.latent?.x, [50]);
  assert.deepEqual(swapped.latent?.sample, space(2).sample);
  abort.abort();
  await reading$;
});

test("the report collector keeps each window's latent point with its model; the report draws the last model's windows", async () => {
  const collector = new SeriesCollector();
  // 20 windows of 2 readings by m-1, then 30 by m-2; labels on readings 60..79 (windows 30..39).
  for (let k = 0; k < 50; k++)
    await collector.write([
      window('s', 2 * k, {
        readings: 2,
        x: k,
        model: k < 20 ? 'm-1' : 'm-2',
        anomaly: k >= 32 && k < 36,
        ...(k === 45 ? { suppressed: 'maintenance' as const } : {}),
        label: k >= 30 && k < 40 ? 1 : 0,
      }),
    ]);
  await collector.write([window('plain', 0, { x: 0, plain: true })]);
  const [s, plain] = collector.series();
  assert.ok(s?.latent && plain);
  assert.equal(s.ts.length, 100);
  assert.equal(s.latent.at.length, 50, 'one point per window, not per reading');
  assert.deepEqual(Array.from(s.latent.at.subarray(0, 3)), [1, 3, 5], "each at its window's last reading");
  assert.deepEqual(s.latent.versions, ['m-1', 'm-2']);
  assert.equal(plain.latent, undefined, 'a sensor without latent points has no latent series');

  const r = reportSensor(s, 100, undefined, { latentSpace: (v) => (v === 'm-2' ? space(2) : undefined) });
  const l = r.latent!;
  assert.equal(l.modelVersion, 'm-2');
  assert.equal(l.windows, 30);
  assert.equal(l.earlier, 20, "m-1's windows are in another space: counted, not drawn");
  assert.deepEqual(
    l.x,
    Array.from({ length: 30 }, (_v, i) => 20 + i),
  );
  assert.deepEqual(l.state.map((v, i) => (v === 'normal' ? null : `${20 + i} ${v}`)).filter(Boolean), [
    '32 anomalous',
    '33 anomalous',
    '34 anomalous',
    '35 anomalous',
    '45 suppressed',
  ]);
  assert.deepEqual(
    l.labelled!.map((v, i) => (v ? 20 + i : null)).filter((v) => v !== null),
    [30, 31, 32, 33, 34, 35, 36, 37, 38, 39],
  );
  assert.deepEqual(l.sample, space(2).sample);
  assert.deepEqual(l.explained, space(2).explained);

  // Labels given as spans (NAB's windows) instead of the readings': windows ending inside them.
  const spans = [[T0 + 81_000, T0 + 85_000] as const];
  const bySpan = reportSensor(s, 100, spans).latent!;
  assert.deepEqual(
    bySpan.labelled!.map((v, i) => (v ? 20 + i : null)).filter((v) => v !== null),
    [40, 41, 42],
  );
  assert.equal(bySpan.sample, null, 'no latent space given: no sample');
  // No labels anywhere: no labelled flags.
  const unlabelled = reportSensor({ ...s, label: new Int8Array(s.ts.length).fill(-1) }, 100).latent!;
  assert.equal(unlabelled.labelled, null);
  assert.equal(reportSensor(plain, 100).latent, undefined);
});

test('the report samples a long run down to a bounded number of windows, keeping every rare one and the last', async () => {
  const collector = new SeriesCollector();
  const n = 20_000;
  const batch: PipelineOutput[] = [];
  for (let k = 0; k < n; k++)
    batch.push(
      window('s', k, {
        x: k,
        anomaly: k % 1000 === 500,
        ...(k % 2500 === 7 ? { suppressed: 'calendar' as const } : {}),
      }),
    );
  await collector.write(batch);
  const [s] = collector.series();
  const l = reportSensor(s!, 100, undefined, { latentPoints: 300 }).latent!;
  assert.ok(l.x.length <= 300 && l.x.length >= 290, `${l.x.length} windows drawn`);
  assert.equal(l.windows, n);
  assert.equal(l.state.filter((v) => v === 'anomalous').length, 20, 'every anomalous window');
  assert.equal(l.state.filter((v) => v === 'suppressed').length, 8, 'every suppressed window');
  assert.equal(l.x[l.x.length - 1], n - 1, 'the last window');
  assert.ok(
    l.x.every((v, i) => i === 0 || v > l.x[i - 1]!),
    'in time order',
  );
  // The normal ones evenly spread over the run: no gap much wider than the even step.
  const normal = l.x.filter((_v, i) => l.state[i] === 'normal');
  const gaps = normal.slice(1).map((v, i) => v - normal[i]!);
  assert.ok(Math.max(...gaps) <= 1.5 * (n / normal.length), `largest gap ${Math.max(...gaps)}`);

  const html = reportHtml([s!], { title: 't', source: 's', backend: 'cpu', generated: T0 });
  const data = JSON.parse(/<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(html)![1]!) as {
    sensors: Array<{ latent: { x: number[] } }>;
  };
  assert.ok(data.sensors[0]!.latent.x.length <= 1000, 'the report holds at most REPORT_LATENT_POINTS windows');
});
