import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startAdminServer } from '../../src/admin/server.js';
import { parseConfig } from '../../src/config/load.js';
import { adminAlarmRoutes, createEngine } from '../../src/main.js';
import { createLogger } from '../../src/observability/logger.js';
import type { AnomalyEvent, PipelineOutput, ScoredReading, Sink } from '../../src/pipeline/contracts.js';
import type { ModelBundle } from '../../src/pipeline/model.js';
import { metricsSink } from '../../src/sinks/prometheus.js';
import { fileSource } from '../../src/sources/file.js';
import { parseLabel } from '../../src/training/labels.js';
import { DATASETS } from '../cli/run.js';

// A real SKAB file (valve1/1.csv): its labelled anomaly runs from about 10:44 to 10:51.
const SKAB_1 = join(DATASETS, 'skab/valve1/1.csv');
const log = createLogger('silent');
const TOKEN = 'replay-secret';

// Retraining on (so the normal-data buffer exists) but never due during the file.
const cfg = parseConfig({
  training: { bootstrapReadings: 400, afterWindows: 1_000_000 },
  model: { epochs: 8 },
  metrics: { enabled: false },
  admin: { token: TOKEN },
});

function collector(): Sink & { rows: ScoredReading[]; events: AnomalyEvent[] } {
  const rows: ScoredReading[] = [];
  const events: AnomalyEvent[] = [];
  return {
    name: 'collect',
    rows,
    events,
    async write(outputs: readonly PipelineOutput[]) {
      for (const o of outputs) {
        if (o.kind === 'scored') rows.push(...o.rows);
        else if (o.kind === 'event') events.push(o.event);
      }
    },
    async close() {},
  };
}

test('a maintenance span posted to the admin API: no anomaly inside it, its windows counted and kept out of the retraining buffer', async (t) => {
  // Without the span: aemon opens an anomaly in SKAB's labelled fault (what the span must silence).
  const plain = await createEngine(cfg, { mode: 'replay', log });
  const before = collector();
  await plain.run(fileSource(SKAB_1, { flow: plain.gate }), [before]);
  const opened = before.events.filter((e) => e.kind === 'opened');
  assert.ok(opened.length > 0, 'the plain replay opens an anomaly');
  const first = opened[0]!;
  const span = { start: first.start - 120_000, end: first.start + 300_000 };
  const sensor = first.sensor;

  // The same model, with the span posted over HTTP to a real admin server wired to the engine.
  const bundles: ModelBundle[] = plain.trainer.models();
  const engine = await createEngine(cfg, { mode: 'replay', log, bundles });
  const admin = await startAdminServer({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    parseLabel: (raw: string) => parseLabel(raw),
    labels: { add: (l) => engine.label(l) },
    routes: adminAlarmRoutes(engine, log),
  });
  t.after(() => admin.close());
  const res = await fetch(`${admin.url}/suppress`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      sensor,
      start: new Date(span.start).toISOString(),
      end: new Date(span.end).toISOString(),
      reason: 'valve maintenance',
    }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(
    ((await res.json()) as { suppressed: { end: string } }).suppressed.end,
    new Date(span.end).toISOString(),
  );

  const after = collector();
  await engine.run(fileSource(SKAB_1, { flow: engine.gate }), [after, metricsSink(engine.metrics)]);

  const inside = (ts: number): boolean => ts >= span.start && ts < span.end;
  const openedInside = after.events.filter((e) => e.kind === 'opened' && inside(e.start));
  assert.deepEqual(openedInside, [], 'no anomaly opened inside the span');
  const rowsInside = after.rows.filter((r) => inside(r.reading.ts) && r.score !== null);
  assert.ok(rowsInside.length > 200, `${rowsInside.length} scored readings inside the span`);
  assert.ok(
    rowsInside.every((r) => r.suppressed === 'maintenance' && !r.anomaly),
    'every reading inside is suppressed, none anomalous',
  );
  assert.ok(
    after.rows.some((r) => r.score !== null && r.suppressed === undefined),
    'readings outside the span are decided as usual',
  );

  // The buffer the next model learns from: windows from outside the span only.
  const snap = engine.retrainer!.buffer.snapshot(first.group)!;
  const windows = snap.sensors.flatMap((s) => s.windows);
  assert.ok(windows.length > 50, `${windows.length} normal windows buffered outside the span`);
  const overlapping = windows.filter((w) => w.start < span.end && w.end >= span.start);
  assert.deepEqual(overlapping, [], 'no buffered window overlaps the span');

  // Counted: one per suppressed window.
  const suppressedWindows = new Set(after.rows.filter((r) => r.suppressed).map((r) => r.windowId)).size;
  const text = await engine.registry.metrics();
  const counted = Number(/aemon_suppressed_windows_total\{reason="maintenance"\} (\d+)/.exec(text)?.[1]);
  assert.equal(counted, suppressedWindows);
  t.diagnostic(
    `plain replay: ${opened.length} anomaly opened at ${new Date(first.start).toISOString()}; with the span ` +
      `${counted} windows suppressed, ${windows.length} normal windows buffered`,
  );
});
