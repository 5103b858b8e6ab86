import type { EpochProgress } from '../pipeline/model.js';

/** Formats seconds as `1m05s` / `42s`. */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** One progress line: bar, epoch, loss, validation loss and ETA (from the mean epoch time). */
export function progressLine(label: string, p: EpochProgress, width = 24): string {
  const frac = Math.min(1, p.epoch / p.epochs);
  const filled = Math.round(frac * width);
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  const eta = (p.elapsedMs / 1000 / Math.max(1, p.epoch)) * (p.epochs - p.epoch);
  const val = p.valLoss === undefined ? '' : `  val ${p.valLoss.toExponential(3)}`;
  return `${label} [${bar}] epoch ${p.epoch}/${p.epochs}  loss ${p.loss.toExponential(3)}${val}  ETA ${formatEta(eta)}`;
}

/**
 * Training progress: a bar redrawn in place on a terminal, plain lines otherwise (logs, CI).
 * Early stopping may end before the last epoch; `done` finishes the line either way.
 */
export class TrainingProgress {
  constructor(
    private readonly stream: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean } = process.stderr,
  ) {}

  epoch(label: string, p: EpochProgress): void {
    const line = progressLine(label, p);
    if (this.stream.isTTY) this.stream.write(`\r${line}\x1b[K`);
    else this.stream.write(line + '\n');
  }

  done(message: string): void {
    this.stream.write((this.stream.isTTY ? '\r\x1b[K' : '') + message + '\n');
  }

  /** Training failed: clears a bar drawn in place, so the command's error line stands alone. */
  abandon(): void {
    if (this.stream.isTTY) this.stream.write('\r\x1b[K');
  }
}
