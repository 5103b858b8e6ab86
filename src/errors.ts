/**
 * The one list of aemon's error codes. Every thrown error is an {@link AemonError} with one of
 * these; docs/operations.md#error-codes documents each (test/docs.test.ts keeps the two in step).
 */
export const ERROR_CODES = [
  'AEMON_CONFIG_INVALID',
  'AEMON_CONFIG_READ',
  'AEMON_USAGE',
  'AEMON_INPUT_READ',
  'AEMON_DECODE',
  'AEMON_MODEL_INVALID',
  'AEMON_MODEL_CHECKSUM',
  'AEMON_MODEL_IO',
  'AEMON_MODEL_NOT_FOUND',
  'AEMON_MODEL_ROLLBACK',
  'AEMON_BACKEND',
  'AEMON_TRAINING',
  'AEMON_SINK_WRITE',
  'AEMON_HTTP',
  'AEMON_KAFKA',
  'AEMON_SCHEMA_REGISTRY',
  'AEMON_INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The pipeline stage an error comes from; `startup` errors are fatal, the others are not. */
export type Stage =
  'startup' | 'config' | 'source' | 'decode' | 'window' | 'model' | 'detect' | 'training' | 'sink' | 'cli';

export interface AemonErrorOptions {
  stage: Stage;
  retryable?: boolean;
  cause?: unknown;
}

export class AemonError extends Error {
  readonly code: ErrorCode;
  readonly stage: Stage;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: AemonErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AemonError';
    this.code = code;
    this.stage = options.stage;
    this.retryable = options.retryable ?? false;
  }
}

/** One clear line for a fatal error: `aemon: AEMON_CONFIG_INVALID: …`. */
export function describeError(err: unknown): string {
  if (err instanceof AemonError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return `AEMON_INTERNAL: ${err.message}`;
  return `AEMON_INTERNAL: ${String(err)}`;
}
