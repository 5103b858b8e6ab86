import type { AnomalyEvent, PipelineOutput, Sink } from '../pipeline/contracts.js';

function fmtTopChannels(event: AnomalyEvent): string {
  return event.topChannels.map((c) => `${c.channel} ${(c.share * 100).toFixed(0)}%`).join(', ');
}

/** One human line per anomaly event, e.g. for the demo's console view. */
export function formatEvent(event: AnomalyEvent): string {
  const start = new Date(event.start).toISOString();
  if (event.kind === 'opened') {
    return `ANOMALY OPENED  ${event.sensor}  at ${start}  score ${event.peakScore.toFixed(2)}  top channels: ${fmtTopChannels(event)}  [${event.id}]`;
  }
  const end = new Date(event.end ?? event.start).toISOString();
  const seconds = ((event.end ?? event.start) - event.start) / 1000;
  return `anomaly closed  ${event.sensor}  ${start} → ${end} (${seconds.toFixed(0)} s)  peak ${event.peakScore.toFixed(2)}  top channels: ${fmtTopChannels(event)}  [${event.id}]`;
}

/** Prints anomaly events as they open and close (the demo's console view). */
export function consoleSink(out: { write(line: string): unknown } = process.stdout): Sink {
  return {
    name: 'console',
    async write(outputs: readonly PipelineOutput[]): Promise<void> {
      for (const o of outputs) if (o.kind === 'event') out.write(formatEvent(o.event) + '\n');
    },
    async close(): Promise<void> {},
  };
}
