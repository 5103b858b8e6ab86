import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { AemonError } from '../errors.js';

/** Appends text to a file or stream; each `write` resolves once its bytes were handed to the OS. */
export interface TextWriter {
  write(text: string): Promise<void>;
  /** Ends a file and waits until it is flushed and closed (stdout is left open). Idempotent. */
  close(): Promise<void>;
}

/** `-` stands for stdout. */
export const STDOUT = '-';

function sinkError(name: string, err: unknown): AemonError {
  const detail = err instanceof Error ? err.message : String(err);
  return new AemonError('AEMON_SINK_WRITE', `cannot write ${name}: ${detail}`, { stage: 'sink', cause: err });
}

/** Truncates (or creates) `path` — or appends to it with `append` —, or writes to stdout for `-`. */
export function openTextWriter(path: string, options: { append?: boolean } = {}): TextWriter {
  if (path === STDOUT) return streamWriter(process.stdout, 'stdout', false);
  return streamWriter(createWriteStream(path, { flags: options.append ? 'a' : 'w', encoding: 'utf8' }), path, true);
}

/**
 * A write resolves only after the stream's write callback, not when the chunk was merely
 * buffered: readings are acked after the sink resolved, so "written" must mean written. That
 * also bounds the stream's buffer to what callers have in flight; when it still passes the
 * high-water mark we wait for 'drain' as well.
 */
export function streamWriter(stream: Writable, name: string, end: boolean): TextWriter {
  let failure: AemonError | undefined;
  const onStreamError = (err: Error): void => {
    failure ??= sinkError(name, err);
  };
  stream.on('error', onStreamError);
  let closing: Promise<void> | undefined;

  const waitDrain = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const onDrain = (): void => {
        stream.off('error', onError);
        resolve();
      };
      const onError = (err: Error): void => {
        stream.off('drain', onDrain);
        reject(sinkError(name, err));
      };
      stream.once('drain', onDrain);
      stream.once('error', onError);
    });

  return {
    async write(text) {
      if (failure !== undefined) throw failure;
      if (closing !== undefined) throw sinkError(name, new Error('write after close'));
      if (text.length === 0) return;
      let ok = true;
      const written = new Promise<void>((resolve, reject) => {
        ok = stream.write(text, (err) => (err ? reject(sinkError(name, err)) : resolve()));
      });
      try {
        await Promise.all([written, ok ? undefined : waitDrain()]);
      } catch (err) {
        throw failure ?? (err instanceof AemonError ? err : sinkError(name, err));
      }
    },
    close() {
      closing ??= (async () => {
        if (failure !== undefined) {
          if (end) stream.destroy();
          throw failure;
        }
        if (!end) {
          stream.off('error', onStreamError);
          return;
        }
        stream.end();
        try {
          await finished(stream);
        } catch (err) {
          throw failure ?? sinkError(name, err);
        }
      })();
      return closing;
    },
  };
}
