import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainChannels, severityOf } from '../../src/detection/explain.js';
import { AnomalyDetector } from '../../src/detection/detector.js';
import { parseConfig } from '../../src/config/load.js';
import type { WindowScore } from '../../src/pipeline/contracts.js';

const detection = parseConfig({
  detection: { decision: 'threshold', openAfter: 1, topChannels: 2, severity: { major: 2, critical: 4 } },
}).detection;

/** Two rows of channels [pressure, temperature]; the last row is what the reconstruction is of. */
function ws(end: number, score: number, last: [number, number], reconstruction?: [number, number]): WindowScore {
  const out: WindowScore = {
    window: {
      kind: 'window',
      id: `s@${end}`,
      sensor: 's',
      group: 'pressure,temperature',
      channels: ['pressure', 'temperature'],
      start: end - 1000,
      end,
      data: Float32Array.of(3, 70, ...last),
      readings: [],
    },
    error: score * 0.1,
    channelShares: Float32Array.of(0.25, 0.75),
    threshold: 0.1,
    score,
    modelVersion: 'm',
  };
  if (reconstruction) out.reconstruction = Float32Array.from(reconstruction);
  return out;
}

test('severity bands: none at or below 1, then minor, major from `major`, critical from `critical`', () => {
  assert.deepEqual(
    [0.5, 1, 1.01, 1.99, 2, 3.9, 4, 40].map((s) => severityOf(s, detection.severity)),
    [null, null, 'minor', 'minor', 'major', 'major', 'critical', 'critical'],
  );
  assert.equal(severityOf(Number.NaN, detection.severity), null);
});

test('a channel is explained in its own units: its last reading, the reconstruction, the difference and its direction', () => {
  const [temperature, pressure] = explainChannels(ws(1, 2, [2.5, 84.25], [3, 71]), 2);
  assert.deepEqual(temperature, {
    channel: 'temperature',
    share: 0.75,
    reading: 84.25,
    expected: 71,
    deviation: 13.25,
    direction: 'above',
  });
  assert.deepEqual(pressure, {
    channel: 'pressure',
    share: 0.25,
    reading: 2.5,
    expected: 3,
    deviation: -0.5,
    direction: 'below',
  });
  assert.equal(explainChannels(ws(1, 2, [2.5, 84.25], [3, 71]), 1).length, 1, 'only the top n');
});

test('without a reconstruction a channel has its reading and share, and nulls for the rest', () => {
  const [top] = explainChannels(ws(1, 2, [2.5, 84.25]), 1);
  assert.deepEqual(top, {
    channel: 'temperature',
    share: 0.75,
    reading: 84.25,
    expected: null,
    deviation: null,
    direction: null,
  });
});

test("an event carries its peak window's explanation and the peak's severity; a closing keeps them", () => {
  const det = new AnomalyDetector({ ...detection, closeAfter: 1 });
  const opened = det.decide(ws(1, 1.5, [3, 72], [3, 71])).events;
  assert.equal(opened[0]?.severity, 'minor');
  const peak = det.decide(ws(2, 5, [9, 90], [3, 71]));
  assert.equal(peak.severity, 'critical', 'the open anomaly rose to critical');
  assert.equal(peak.verdict.severity, 'critical');
  const closed = det.decide(ws(3, 0.1, [3, 71], [3, 71]));
  assert.equal(closed.severity, null);
  const [event] = closed.events;
  assert.equal(event?.kind, 'closed');
  assert.equal(event?.peakScore, 5);
  assert.equal(event?.severity, 'critical');
  assert.deepEqual(event?.topChannels[0], {
    channel: 'temperature',
    share: 0.75,
    reading: 90,
    expected: 71,
    deviation: 19,
    direction: 'above',
  });
});
