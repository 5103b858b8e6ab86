import { AemonError } from '../errors.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createLogger, type Logger } from '../observability/logger.js';

/** `180s`, `3m`, `1h`, `500ms`, or a bare number of seconds → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new AemonError('AEMON_USAGE', `not a duration: "${text}" (try 180s, 3m, 1h)`, { stage: 'cli' });
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    (m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'
  ];
  return Math.round(Number(m[1]) * unit);
}

export function parsePositiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0)
    throw new AemonError('AEMON_USAGE', `${flag} must be a positive integer, got "${text}"`, { stage: 'cli' });
  return n;
}

export function parseInteger(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n))
    throw new AemonError('AEMON_USAGE', `${flag} must be an integer, got "${text}"`, { stage: 'cli' });
  return n;
}

/** The command's defaults, then config file, AEMON_* env and the command's flags (shaped like the config). */
export function commandConfig(
  file: string | undefined,
  overrides: Record<string, unknown>,
  defaults: Record<string, unknown> = {},
): Readonly<Config> {
  return loadConfig({ defaults, file, env: process.env, overrides });
}

/**
 * One-shot commands print their own human progress; their JSON logs (stderr) stay at warnings
 * unless `--verbose` asks for the configured level.
 */
export function commandLogger(cfg: Readonly<Config>, verbose: boolean | undefined): Logger {
  return createLogger(verbose ? cfg.log.level : 'warn');
}

/** Drops keys whose value is undefined, so unset flags do not override config. */
export function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The settings that decide what a run detects (windowing, model, training, scoring, detection),
 * for a JSON record of a run; never kafka.* or reading.*, which may hold credentials.
 */
export function detectorSettings(cfg: Readonly<Config>) {
  return {
    windowing: cfg.windowing,
    model: cfg.model,
    training: cfg.training,
    scoring: cfg.scoring,
    detection: cfg.detection,
  };
}
