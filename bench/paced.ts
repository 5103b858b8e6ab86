import { Observable } from 'rxjs';
import type { PipelineOutput, Sink, SourceRecord } from '../src/pipeline/contracts.js';
import { quantile } from '../src/pipeline/calibration.js';
import { metricsSink } from '../src/sinks/prometheus.js';
import { benchConfig, benchEngine, benchValues, jsonRecord, type BenchScorer } from './pipeline.js';

export interface PacedRow {
  name: 'pipeline-paced';
  sensors: number;
  /** Readings offered per second: one per sensor per second. */
  ratePerSecond: number;
  /** Length of the paced phase. */
  seconds: number;
  readings: number;
  /** Readings the source got in per second of the paced phase (below the rate: it fell behind). */
  achievedPerSecond: number;
  /** Arrival of the reading that completed a window → that window's score written. */
  p50WindowSeconds: number;
  p99WindowSeconds: number;
  /** Every reading a window released, arrival → score: includes waiting for the next `stride` readings. */
  p99ReadingSeconds: number;
  /** Process CPU seconds per wall second during the paced phase (1 = one core busy). */
  cpuShare: number;
  engine: string;
}

/**
 * Latency at a real arrival rate: `sensors` sensors send one reading per second each (event time
 * advances 1 s per reading), JSON bytes keyed by sensor as a Kafka consumer hands them out. First
 * every sensor gets its first full window, as fast as the pipeline takes the readings (not
 * measured); sensor `s` starts `s % stride` readings late, so the sensors' windows are spread
 * over the stride as in a fleet that did not all start in the same second (started together,
 * every sensor's window would fall due in the same second of each `stride`). Once those windows
 * are written, readings arrive paced at `sensors`/s for `seconds` seconds, each stamped with the
 * time it was due (a source that falls behind shows as latency, not as a later arrival).
 * Latency is measured from that arrival to the write of the score, for readings of the paced phase.
 */
export async function benchPaced(sensors: number, seconds: number, scorer: BenchScorer = 'lstm'): Promise<PacedRow> {
  const cfg = benchConfig();
  const { engine, model } = await benchEngine(cfg, sensors, scorer);
  const { size, stride } = cfg.windowing;
  const rate = sensors;
  const ids = Array.from({ length: sensors }, (_, s) => `s${s}`);
  // Warm-up rounds: sensor s sends in rounds s % stride … warm-1, so it has at least `size`
  // readings, its first window went out at its size-th, and fewer than `stride` wait for the next.
  const warm = size + stride - 1;
  let warmReadings = 0;
  for (let s = 0; s < sensors; s++) warmReadings += warm - (s % stride);
  // Event time ends near the wall clock, so no reading is ahead of it (future_timestamp).
  const t0 = Date.now() - warm * 1000;
  const total = rate * seconds;

  const windowLatency = new Float64Array(Math.ceil(total / stride) + sensors);
  const readingLatency = new Float64Array(total);
  let nw = 0;
  let nr = 0;
  let written = 0;
  let warmedUp: () => void = () => {};
  const firstWindows = new Promise<void>((resolve) => (warmedUp = resolve));
  const latency: Sink = {
    name: 'latency',
    async write(outputs: readonly PipelineOutput[]) {
      const now = Date.now();
      for (const o of outputs) {
        if (o.kind !== 'scored') continue;
        written += o.rows.length;
        const last = o.rows[o.rows.length - 1]?.reading;
        if (o.window === null || last === undefined || last.seq < warmReadings) continue;
        for (const r of o.rows)
          if (r.reading.seq >= warmReadings) readingLatency[nr++] = (now - r.reading.arrivedAt) / 1000;
        windowLatency[nw++] = (now - last.arrivedAt) / 1000;
      }
      if (written >= size * sensors) warmedUp();
    },
    async close() {},
  };

  let pacedSeconds = 0;
  let cpuSeconds = 0;
  const records$ = new Observable<SourceRecord>((sub) => {
    let stop = false;
    const { gate } = engine;
    void (async () => {
      let seq = 0;
      for (let i = 0; i < warm && !stop; i++) {
        for (let s = 0; s < sensors && !stop; s++) {
          if (i < s % stride) continue;
          const wait = gate.ready();
          if (wait) await wait;
          sub.next(jsonRecord(ids[s]!, t0 + i * 1000, benchValues(i, s), seq++, Date.now()));
        }
        if (i % 8 === 7) await new Promise((r) => setImmediate(r));
      }
      await firstWindows;
      const start = Date.now();
      const cpu0 = process.cpuUsage();
      for (let k = 0; k < total && !stop;) {
        const due = Math.min(total, Math.floor(((Date.now() - start) * rate) / 1000) + 1);
        for (; k < due && !stop; k++) {
          const wait = gate.ready();
          if (wait) await wait;
          const round = warm + Math.floor(k / sensors);
          const s = k % sensors;
          sub.next(jsonRecord(ids[s]!, t0 + round * 1000, benchValues(round, s), seq++, start + (k * 1000) / rate));
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      const cpu = process.cpuUsage(cpu0);
      pacedSeconds = (Date.now() - start) / 1000;
      cpuSeconds = (cpu.user + cpu.system) / 1e6;
      sub.complete();
    })();
    return () => {
      stop = true;
    };
  });
  await engine.run(records$, [metricsSink(engine.metrics), latency]);
  model.dispose();
  const windows = windowLatency.subarray(0, nw);
  return {
    name: 'pipeline-paced',
    sensors,
    ratePerSecond: rate,
    seconds,
    readings: total,
    achievedPerSecond: Math.round(total / pacedSeconds),
    p50WindowSeconds: Number(quantile(windows, 0.5).toFixed(4)),
    p99WindowSeconds: Number(quantile(windows, 0.99).toFixed(4)),
    p99ReadingSeconds: Number(quantile(readingLatency.subarray(0, nr), 0.99).toFixed(4)),
    cpuShare: Number((cpuSeconds / pacedSeconds).toFixed(2)),
    engine: scorer === 'lstm' ? engine.backend : 'none',
  };
}
