import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { metricsSink } from '../src/sinks/prometheus.js';
import { LiveView } from '../src/view/live.js';
import { benchConfig, benchEngine, benchValues, fleet, jsonRecord, rowInChild } from './pipeline.js';

/** Heap a running fleet keeps per sensor: the engine's state, the metrics' series and the live view's rings. */
export interface MemoryRow {
  name: 'memory';
  sensors: number;
  readingsPerSensor: number;
  /**
   * Memory in use after the run (every sensor's windows, decisions, series and live-view ring
   * full), less before it, after a full GC each time: the JS heap plus the typed arrays' buffers
   * outside it.
   */
  bytes: number;
  bytesPer1000Sensors: number;
  /** Of `bytes`, the JS heap's part (the rest is typed arrays' buffers). */
  heapBytes: number;
}

/** Collects garbage fully (V8's gc, exposed for this process only). */
function collect(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
}

/**
 * Retained heap of `sensors` sensors (4 channels, windows of 32 every 8, no-op scorer) once each
 * has sent `readingsPerSensor` readings as JSON: everything `aemon run` keeps per sensor in
 * memory — reorder and window state, decisions, per-sensor metric series and the live view's
 * ring of points — measured as memory in use (JS heap and typed arrays' buffers) after the run
 * less before it, each after a full garbage collection.
 */
export async function benchMemory(sensors: number, readingsPerSensor: number): Promise<MemoryRow> {
  const cfg = benchConfig(sensors);
  const { engine, model } = await benchEngine(cfg, sensors, 'none');
  const view = new LiveView({ maxSensors: sensors, staleAfterMs: cfg.sensors.staleAfterMs, backend: engine.backend });
  const ids = Array.from({ length: sensors }, (_, s) => `s${s}`);
  const t0 = Date.UTC(2026, 0, 1);
  const records$ = fleet(engine.gate, sensors, readingsPerSensor, (i, s, seq) =>
    jsonRecord(ids[s]!, t0 + i * 1000, benchValues(i, s), seq, 0),
  );
  collect();
  const before = process.memoryUsage();
  await engine.run(records$, [metricsSink(engine.metrics), view]);
  collect();
  const after = process.memoryUsage();
  model.dispose();
  const heapBytes = after.heapUsed - before.heapUsed;
  const bytes = heapBytes + after.external - before.external;
  return {
    name: 'memory',
    sensors,
    readingsPerSensor,
    bytes,
    bytesPer1000Sensors: Math.round((bytes / sensors) * 1000),
    heapBytes,
  };
}

/** {@link benchMemory} in a process of its own, so no other row's heap is in its figure. */
export function benchMemoryFresh(sensors: number, readingsPerSensor: number): Promise<MemoryRow> {
  return rowInChild<MemoryRow>('memory-row.ts', [String(sensors), String(readingsPerSensor)]);
}
