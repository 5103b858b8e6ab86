import { channelValues } from '../pipeline/fixtures.js';
import type { DecidedWindow, PipelineOutput, Reading, Rejection, ScoredReading } from '../../src/pipeline/contracts.js';

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
    rawScore: null,
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
  s: {
    score: number;
    threshold: number;
    shares: number[];
    anomaly: boolean;
    /** The decision's score and threshold when they differ from the raw ones. */
    decision?: { score: number; threshold: number | null };
  },
): PipelineOutput {
  const last = rows[rows.length - 1] as Reading;
  const id = `${last.sensor}@${last.ts}`;
  const channelShares = Float32Array.from(s.shares);
  const decision = s.decision ?? { score: s.score, threshold: s.threshold };
  const window: DecidedWindow = {
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
    verdict: {
      ...decision,
      rawScore: s.score,
      severity: decision.score > 1 ? 'minor' : null,
      topChannels: channels.map((channel, i) => ({
        channel,
        share: s.shares[i]!,
        reading: 1,
        expected: null,
        deviation: null,
        direction: null,
      })),
    },
    anomalySeverity: s.anomaly ? 'minor' : null,
  };
  return {
    kind: 'scored',
    window,
    rows: rows.map((reading) => ({
      reading,
      score: decision.score,
      rawScore: s.score,
      error: s.score * s.threshold,
      threshold: decision.threshold,
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
