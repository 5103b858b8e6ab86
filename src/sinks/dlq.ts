import type { Origin, PipelineOutput, RejectReason, Rejection, Sink } from '../pipeline/contracts.js';
import type { Logger } from '../observability/logger.js';
import { openTextWriter } from './fileWriter.js';

/** One dead-letter line. `raw` is the original text, or base64 (with `rawBase64: true`) for bytes. */
export interface DeadLetterRecord {
  reason: RejectReason;
  detail: string;
  sensor?: string;
  key?: string;
  origin: Origin;
  raw: string;
  rawBase64?: true;
}

export function deadLetterRecord(r: Rejection): DeadLetterRecord {
  // Bytes may not be UTF-8 (that can be why they were rejected); base64 keeps them exact.
  const binary = typeof r.raw !== 'string';
  const raw =
    typeof r.raw === 'string'
      ? r.raw
      : Buffer.from(r.raw.buffer, r.raw.byteOffset, r.raw.byteLength).toString('base64');
  return {
    reason: r.reason,
    detail: r.detail,
    ...(r.sensor === undefined ? {} : { sensor: r.sensor }),
    ...(r.key === undefined ? {} : { key: r.key }),
    origin: r.origin,
    raw,
    ...(binary ? { rawBase64: true as const } : {}),
  };
}

const rejections = (outputs: readonly PipelineOutput[]): Rejection[] =>
  outputs.filter((o): o is Rejection => o.kind === 'rejected');

/** Dead letters as NDJSON in a file (`-`: stdout), for runs without Kafka (replay, demo). */
export function dlqFileSink(path: string): Sink {
  const file = openTextWriter(path);
  return {
    name: 'dlq-file',
    async write(outputs) {
      let text = '';
      for (const r of rejections(outputs)) text += JSON.stringify(deadLetterRecord(r)) + '\n';
      await file.write(text);
    },
    close: () => file.close(),
  };
}

/** Dead letters as warn log lines (reason, detail, origin; not the raw bytes). */
export function dlqLogSink(log: Logger): Sink {
  return {
    name: 'dlq-log',
    write(outputs) {
      for (const r of rejections(outputs)) {
        log.warn({ reason: r.reason, detail: r.detail, sensor: r.sensor, origin: r.origin }, 'reading rejected');
      }
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
}
