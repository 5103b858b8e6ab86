import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Event time of the demo's first reading: fixed, so the maintenance span is known in advance. */
export const T0 = Date.parse('2026-12-01T10:00:00Z');

/** A maintenance span of the demo (every sensor), in event time: after training, before any anomaly. */
export const MAINTENANCE = { start: T0 + 330_000, end: T0 + 420_000 };

/** Readings per window (`windowing.size`, set explicitly); the simulator reads once a second. */
export const WINDOW_SIZE = 32;
export const READING_MS = 1000;

/**
 * A fast demo (as the other live-view tests): a short bootstrap, few epochs, no anomaly injected
 * before 500 s of event time, retraining on but never due; with the admin token set the page
 * offers verdict buttons.
 */
export function demoEnv(token: string, speedup: number): Record<string, string> {
  return {
    AEMON_TRAINING_BOOTSTRAP_READINGS: '200',
    AEMON_MODEL_EPOCHS: '8',
    AEMON_SIMULATOR_SPEEDUP: String(speedup),
    AEMON_SIMULATOR_QUIET_SECONDS: '500',
    AEMON_SIMULATOR_ANOMALY_EVERY_SECONDS: '150',
    AEMON_ADMIN_TOKEN: token,
    AEMON_TRAINING_AFTER_WINDOWS: '1000000',
    AEMON_WINDOWING_SIZE: String(WINDOW_SIZE),
    AEMON_SIMULATOR_RATE_HZ: String(1000 / READING_MS),
  };
}

/**
 * Writes the demo's config file (a fixed start and a maintenance span, {@link MAINTENANCE} unless
 * given, as a calendar entry) to a fresh temporary folder; returns its path.
 */
export function writeDemoConfig(span: { start: number; end: number } = MAINTENANCE): string {
  const file = join(mkdtempSync(join(tmpdir(), 'aemon-view-')), 'demo.yaml');
  const iso = (ms: number): string => new Date(ms).toISOString();
  writeFileSync(
    file,
    `simulator:\n  start: "${iso(T0)}"\n` +
      `detection:\n  suppress:\n    calendar:\n` +
      `      - { start: "${iso(span.start)}", end: "${iso(span.end)}", reason: maintenance }\n`,
  );
  return file;
}
