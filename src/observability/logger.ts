import { hostname } from 'node:os';
import { destination, pino, stdTimeFunctions } from 'pino';
import type { DestinationStream, Level, Logger } from 'pino';

export type { Logger } from 'pino';
export type LogLevel = Level | 'silent';

export interface LoggerOptions {
  /** Where JSON lines go; stderr by default, so stdout stays free for data and the console view. */
  destination?: DestinationStream;
  /** Fields on every line besides pid and hostname, e.g. `{ instance }`. */
  base?: Record<string, unknown>;
}

/** Keys whose values never reach a log line, wherever they sit in the first three levels. */
export const SECRET_KEYS = [
  'password',
  'passwd',
  'sasl',
  'token',
  'accessToken',
  'refreshToken',
  'secret',
  'clientSecret',
  'apiKey',
  'authorization',
  'credentials',
] as const;

export const REDACTED = '[redacted]';

// The redaction library matches exact paths; `*` stands for one level, so list each depth.
const REDACT_PATHS = SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

/** aemon's structured logger: JSON lines (pino) on stderr, secrets redacted, ISO timestamps. */
export function createLogger(level: LogLevel, options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: 'aemon',
      level,
      base: { pid: process.pid, hostname: hostname(), ...options.base },
      timestamp: stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: REDACTED },
    },
    options.destination ?? destination({ fd: 2, sync: true }),
  );
}
