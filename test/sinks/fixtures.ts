import { channelValues } from '../pipeline/fixtures.js';
import type { PipelineOutput, Reading, Rejection, ScoredReading, WindowScore } from '../../src/pipeline/contracts.js';

export const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const noop = (): void => {};

export function reading(sensor: string, i: number, values: Record<string, number>, arrivedAt = T0 + i * 1000): Reading {
  return {
    sensor,
    ts: T0 + i * 1000,
    ...channelValues(values),
    origin: { source: 'file', file: 'in.csv', line: i + 2 },
    arrivedAt,
    seq: i,
    ack: noop,
  };
}

export function warming(r: Reading, channels: readonly string[]): ScoredReading {
  return {
    reading: r,
    score: null,
    error: null,
    threshold: null,
    anomaly: false,
    channels,
    channelShares: null,
    windowId: null,
    training: false,
  };
}

export function scoredOutput(
  rows: readonly Reading[],
  channels: readonly string[],
  s: { score: number; threshold: number; shares: number[]; anomaly: boolean },
): PipelineOutput {
  const last = rows[rows.length - 1] as Reading;
  const id = `${last.sensor}@${last.ts}`;
  const channelShares = Float32Array.from(s.shares);
  const window: WindowScore = {
    window: {
      kind: 'window',
      id,
      sensor: last.sensor,
      group: channels.join(','),
      channels,
      start: T0,
      end: last.ts,
      data: new Float32Array(0),
      readings: rows,
    },
    error: s.score * s.threshold,
    channelShares,
    threshold: s.threshold,
    score: s.score,
    modelVersion: 'v1',
  };
  return {
    kind: 'scored',
    window,
    rows: rows.map((reading) => ({
      reading,
      score: s.score,
      error: s.score * s.threshold,
      threshold: s.threshold,
      anomaly: s.anomaly,
      channels,
      channelShares,
      windowId: id,
      training: false,
    })),
  };
}

export function rejection(
  raw: string | Uint8Array,
  reason: Rejection['reason'] = 'not_json',
  sensor?: string,
): Rejection {
  return {
    kind: 'rejected',
    reason,
    detail: `bad: ${reason}`,
    raw,
    ...(sensor === undefined ? {} : { sensor }),
    origin: { source: 'kafka', topic: 'sensors', partition: 2, offset: '41' },
    arrivedAt: T0,
    seq: 99,
    ack: noop,
  };
}

const PT = ['pressure', 'temperature'] as const;
const pt = { pressure: 1, temperature: 2 };

/** Warming rows, a rejection, a window of two readings and one of another sensor with other channels. */
export function sampleOutputs(): PipelineOutput[] {
  return [
    { kind: 'scored', window: null, rows: [warming(reading('a', 0, pt), PT)] },
    rejection('nope'),
    scoredOutput([reading('a', 1, pt), reading('a', 2, pt)], PT, {
      score: 1.23456789,
      threshold: 0.0123,
      shares: [0.1, 0.9],
      anomaly: true,
    }),
    scoredOutput([reading('b,1', 3, { rpm: 7 })], ['rpm'], { score: 0.5, threshold: 2, shares: [1], anomaly: false }),
  ];
}
