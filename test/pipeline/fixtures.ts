import type { Reading } from '../../src/pipeline/contracts.js';

/** A reading's `channels` and `values` from a channel → value record (channels sorted, as decode makes them). */
export function channelValues(record: Readonly<Record<string, number>>): Pick<Reading, 'channels' | 'values'> {
  const channels = Object.keys(record).sort();
  return { channels, values: Float64Array.from(channels, (c) => record[c]!) };
}

/** The value of `channel` in `r` (undefined when it has no such channel). */
export function valueOf(r: Pick<Reading, 'channels' | 'values'>, channel: string): number | undefined {
  const i = r.channels.indexOf(channel);
  return i < 0 ? undefined : r.values[i];
}
