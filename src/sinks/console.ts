import type { AnomalyEvent, ChannelExplanation, PipelineOutput, Sink } from '../pipeline/contracts.js';

const fmt = (x: number): string => String(Number(x.toPrecision(4)));

/** `temperature 84.2 (expected 71, +13.2) 62%`; without a reconstruction only the reading and share. */
export function formatChannel(c: ChannelExplanation): string {
  const share = `${(c.share * 100).toFixed(0)}%`;
  if (c.reading === null) return `${c.channel} ${share}`;
  if (c.expected === null || c.deviation === null) return `${c.channel} ${fmt(c.reading)} ${share}`;
  const sign = c.deviation >= 0 ? '+' : '−';
  return `${c.channel} ${fmt(c.reading)} (expected ${fmt(c.expected)}, ${sign}${fmt(Math.abs(c.deviation))}) ${share}`;
}

function fmtTopChannels(event: AnomalyEvent): string {
  return event.topChannels.map(formatChannel).join(', ');
}

/** One human line per anomaly event, e.g. for the demo's console view. */
export function formatEvent(event: AnomalyEvent): string {
  const start = new Date(event.start).toISOString();
  if (event.kind === 'opened') {
    return `ANOMALY OPENED  ${event.sensor}  at ${start}  score ${event.peakScore.toFixed(2)} (${event.severity})  top channels: ${fmtTopChannels(event)}  [${event.id}]`;
  }
  const end = new Date(event.end ?? event.start).toISOString();
  const seconds = ((event.end ?? event.start) - event.start) / 1000;
  return `anomaly closed  ${event.sensor}  ${start} → ${end} (${seconds.toFixed(0)} s)  peak ${event.peakScore.toFixed(2)} (${event.severity})  top channels: ${fmtTopChannels(event)}  [${event.id}]`;
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
