import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Health } from '../health.js';

/** Writes that are retried, truncated or sent to the fallback file. */
export interface SinkMetrics {
  /** `aemon_dlq_truncated_total`: DLQ records whose value was cut to fit the topic's `max.message.bytes`. */
  dlqTruncated(n: number): void;
  /** `aemon_sink_write_retries_total{sink}`: failed writes that are retried. */
  sinkRetry(sink: string): void;
  /** `aemon_sink_fallback_total{topic}`: records written to `kafka.dlqFallbackFile` because `topic` refused them. */
  sinkFallback(topic: string, n: number): void;
}

/** `watchHealth` makes `aemon_sink_failing{sink}` read `health` when scraped, and zeroes each sink's retries. */
export function sinkMetrics(
  registers: Registry[],
): SinkMetrics & { watchHealth(health: Health, sinks: readonly string[]): void } {
  let health: { h: Health; sinks: readonly string[] } | undefined;
  const dlqTruncatedTotal = new Counter({
    name: 'aemon_dlq_truncated_total',
    help: "Dead-letter records whose value was truncated to fit the DLQ topic's max.message.bytes (headers keep the original size and SHA-256).",
    registers,
  });
  const sinkRetries = new Counter({
    name: 'aemon_sink_write_retries_total',
    help: 'Sink writes that failed for a retryable reason and are retried (commits wait meanwhile).',
    labelNames: ['sink'] as const,
    registers,
  });
  const sinkFallbacks = new Counter({
    name: 'aemon_sink_fallback_total',
    help: 'Records a topic refused for good, written to kafka.dlqFallbackFile instead.',
    labelNames: ['topic'] as const,
    registers,
  });
  const sinkFailing = new Gauge({
    name: 'aemon_sink_failing',
    help: '1 while a sink retries a failed write, else 0.',
    labelNames: ['sink'] as const,
    registers,
    collect() {
      if (health) for (const sink of health.sinks) sinkFailing.set({ sink }, health.h.isSinkFailing(sink) ? 1 : 0);
    },
  });

  return {
    watchHealth(h, sinks) {
      health = { h, sinks };
      for (const sink of sinks) sinkRetries.inc({ sink }, 0);
    },
    dlqTruncated(n) {
      dlqTruncatedTotal.inc(n);
    },
    sinkRetry(sink) {
      sinkRetries.inc({ sink });
    },
    sinkFallback(topic, n) {
      sinkFallbacks.inc({ topic }, n);
    },
  };
}
