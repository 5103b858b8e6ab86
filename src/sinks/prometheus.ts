import type { PipelineOutput, RejectReason, Sink, SuppressReason } from '../pipeline/contracts.js';
import { SEVERITY_LEVEL, type AemonMetrics } from '../observability/metrics.js';

function add<K>(counts: Map<K, number>, key: K, n = 1): void {
  counts.set(key, (counts.get(key) ?? 0) + n);
}

/**
 * Updates the metrics from what the pipeline emitted: once per window (per-sensor gauges), once
 * per batch for counters and latencies. Every input reading is counted once in
 * `aemon_readings_total`: as a scored or warming row, or as a rejection.
 */
export function metricsSink(metrics: AemonMetrics, now: () => number = Date.now): Sink {
  return {
    name: 'prometheus',
    write(outputs: readonly PipelineOutput[]) {
      const t = now();
      const readings = new Map<string, number>();
      const rejected = new Map<RejectReason, number>();
      const suppressed = new Map<SuppressReason, number>();
      const latencies: number[] = [];
      let windows = 0;
      // Readings mostly share a source: count runs of one source, not a map update per reading
      // (a source's entry is made when it first appears, so the counters keep that order).
      let source: string | undefined;
      let run = 0;
      const countSource = (s: string): void => {
        if (s === source) {
          run++;
          return;
        }
        if (run > 0) add(readings, source!, run);
        if (!readings.has(s)) readings.set(s, 0);
        source = s;
        run = 1;
      };
      for (const out of outputs) {
        if (out.kind === 'scored') {
          for (const row of out.rows) countSource(row.reading.origin.source);
          const w = out.window;
          if (w === null) continue;
          windows++;
          const why = out.rows.at(-1)?.suppressed;
          if (why) add(suppressed, why);
          metrics.observeWindow({
            sensor: w.window.sensor,
            score: w.verdict.score,
            rawScore: w.score,
            error: w.error,
            threshold: w.verdict.threshold,
            // Hysteresis state is carried by the rows, not the window score.
            anomaly: out.rows.at(-1)?.anomaly,
            severity: w.anomalySeverity === null ? 0 : SEVERITY_LEVEL[w.anomalySeverity],
            channels: w.window.channels,
            channelShares: w.channelShares,
          });
          for (const row of out.rows) latencies.push((t - row.reading.arrivedAt) / 1000);
        } else if (out.kind === 'event') {
          if (out.event.kind === 'opened') metrics.anomalyOpened(out.event.sensor, out.event.id);
          else metrics.anomalyClosed(out.event.sensor, out.event.id);
        } else {
          countSource(out.origin.source);
          add(rejected, out.reason);
        }
      }
      if (run > 0) add(readings, source!, run);
      for (const [s, n] of readings) metrics.readingsIn(s, n);
      for (const [reason, n] of rejected) metrics.rejected(reason, n);
      for (const [reason, n] of suppressed) metrics.suppressedWindows(reason, n);
      if (windows > 0) metrics.windowsScored(windows);
      if (latencies.length > 0) metrics.eventToScore(latencies);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
}
