import type { DetectionConfig } from '../config/schema.js';
import type { ChannelExplanation, Severity, WindowScore } from '../pipeline/contracts.js';

/** The band of `detection.severity` a score falls in; `null` at or below 1 (not above the threshold). */
export function severityOf(score: number, bands: DetectionConfig['severity']): Severity | null {
  if (!(score > 1)) return null;
  if (score >= bands.critical) return 'critical';
  if (score >= bands.major) return 'major';
  return 'minor';
}

const round = (x: number): number => Number(x.toPrecision(6));

/**
 * The `n` channels with the largest error shares of a window, each with its last reading, the
 * model's reconstruction of it (in the channel's units: the scorer undoes the scaling) and the
 * difference. The last reading is the one the reconstruction is of.
 */
export function explainChannels(ws: WindowScore, n: number): ChannelExplanation[] {
  const { channels, data } = ws.window;
  const last = data.length - channels.length;
  const out: ChannelExplanation[] = channels.map((channel, c) => {
    const reading = last >= 0 ? data[last + c]! : Number.NaN;
    const e: ChannelExplanation = {
      channel,
      share: Number((ws.channelShares[c] ?? 0).toFixed(4)),
      reading: Number.isFinite(reading) ? round(reading) : null,
      expected: null,
      deviation: null,
      direction: null,
    };
    const expected = ws.reconstruction?.[c];
    if (expected !== undefined && Number.isFinite(expected) && Number.isFinite(reading)) {
      const deviation = reading - expected;
      e.expected = round(expected);
      e.deviation = round(deviation);
      e.direction = deviation >= 0 ? 'above' : 'below';
    }
    return e;
  });
  return out.sort((a, b) => b.share - a.share || a.channel.localeCompare(b.channel)).slice(0, n);
}
