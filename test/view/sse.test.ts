import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { startHttpServer } from '../../src/observability/http.js';
import { createLiveView } from '../../src/view/routes.js';
import { reading, scoredOutput } from '../sinks/fixtures.js';
import { readFrames } from './sse-frames.js';

test('1,000 sensors written to between flushes give each client one fleet-delta and one points message, not a storm', async (t) => {
  const view = createLiveView({
    backend: 'cpu',
    maxSensors: 2000,
    staleAfterMs: 60_000,
    capacity: 50,
    intervalMs: 3_600_000,
  });
  const server = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    registry: new Registry(),
    ready: () => true,
    extraRoutes: view.routes,
  });
  const abort = new AbortController();
  t.after(async () => {
    abort.abort();
    view.close();
    await server.close();
  });

  let i = 0;
  const writeAll = async (): Promise<void> => {
    const outputs = [];
    for (let s = 0; s < 1000; s++)
      outputs.push(
        scoredOutput([reading(`s${String(s).padStart(4, '0')}`, i, { x: s, y: 1 })], ['x', 'y'], {
          score: 0.5,
          threshold: 2,
          shares: [0.5, 0.5],
          anomaly: false,
        }),
      );
    i++;
    await view.sink.write(outputs);
  };
  await writeAll();

  const frames: Array<{ event: string; data: unknown }> = [];
  const res = await fetch(`${server.url}/events?sensor=s0007`, { signal: abort.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const reading$ = readFrames(res, frames, abort.signal);
  const deadline = async (what: string, ok: () => boolean): Promise<void> => {
    const end = Date.now() + 5_000;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${frames.map((f) => f.event).join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await deadline('fleet and sensor snapshots', () => frames.length >= 2);
  assert.deepEqual(
    frames.map((f) => f.event),
    ['fleet', 'sensor'],
  );
  assert.equal((frames[0]!.data as { sensors: unknown[] }).sensors.length, 1000);

  // Three rounds of 1,000 sensors each, then one flush (the timer's job; its interval is an hour here).
  for (let k = 0; k < 3; k++) await writeAll();
  view.flush();
  await deadline('the flush', () => frames.length >= 4);
  assert.deepEqual(
    frames.slice(2).map((f) => f.event),
    ['fleet-delta', 'points'],
  );
  const delta = frames[2]!.data as { sensors: Array<{ id: string }> };
  assert.equal(delta.sensors.length, 1000, 'each changed sensor once, however often it was written');
  const points = frames[3]!.data as { id: string; points: { ts: number[]; values: number[][]; total: number } };
  assert.equal(points.id, 's0007');
  assert.equal(points.points.ts.length, 3, 'only the points the client does not have yet');
  assert.equal(points.points.total, 4);
  assert.deepEqual(points.points.values[0], [7, 7, 7]);

  // Nothing changed: a flush sends nothing.
  view.flush();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(frames.length, 4);
  abort.abort();
  await reading$;
});
