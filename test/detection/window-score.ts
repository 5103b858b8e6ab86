import type { Reading, SensorWindow, WindowScore } from '../../src/pipeline/contracts.js';

/** A scored window as the detection tests feed it: its error is `score` × `threshold`. */
export function windowScore(o: {
  sensor: string;
  end: number;
  score: number;
  channels?: readonly string[];
  shares?: readonly number[];
  threshold?: number;
  /** Event time from the window's start to its end. */
  span?: number;
  data?: Float32Array;
  readings?: Reading[];
  modelVersion?: string;
}): WindowScore {
  const channels = o.channels ?? ['a'];
  const threshold = o.threshold ?? 1;
  const window: SensorWindow = {
    kind: 'window',
    id: `${o.sensor}@${o.end}`,
    sensor: o.sensor,
    group: channels.join(','),
    channels: [...channels],
    start: o.end - (o.span ?? 10),
    end: o.end,
    data: o.data ?? new Float32Array(0),
    readings: o.readings ?? [],
  };
  return {
    window,
    error: o.score * threshold,
    channelShares: Float32Array.from(o.shares ?? [1]),
    threshold,
    score: o.score,
    modelVersion: o.modelVersion ?? 'm-1',
  };
}
