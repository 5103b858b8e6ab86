import type { ReadingConfig } from '../config/schema.js';
import type { Reading, Rejection, SourceRecord } from '../pipeline/contracts.js';
import { createJsonDecoder } from './decoders/json.js';
import type { DecoderOptions } from './decoders/validate.js';

export type { DecoderOptions } from './decoders/validate.js';
export { groupKey } from '../shared/group.js';
export { parseTimestamp } from '../shared/time.js';

/** One record in, one reading or rejection out: the `json` format a record at a time. */
export type Decoder = (rec: SourceRecord) => Reading | Rejection;

export function isRejection(out: Reading | Rejection): out is Rejection {
  return (out as Rejection).kind === 'rejected';
}

/**
 * Builds the `json` decode/validate step a record at a time: a record becomes a {@link Reading}
 * or a {@link Rejection} (never an exception). The decoder remembers, per sensor without a
 * model, the channel set of its first valid reading. Every format: `createRecordDecoder`.
 */
export function createDecoder(cfg: ReadingConfig, options: DecoderOptions = {}): Decoder {
  return createJsonDecoder(cfg, options).one;
}
