import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchEvents } from '../../src/cli/demo.js';
import type { AnomalyEvent } from '../../src/pipeline/contracts.js';
import type { Injection } from '../../src/sources/simulator.js';

const SPAN = 32_000;

const injection = (sensor: string, start: number, end: number): Injection => ({
  sensor,
  kind: 'spike',
  channels: ['temperature'],
  start,
  end,
});

const opened = (sensor: string, start: number): AnomalyEvent => ({
  id: `a-${sensor}-${start}`,
  kind: 'opened',
  sensor,
  group: 'temperature',
  start,
  peakScore: 1.5,
  severity: 'minor',
  topChannels: [],
  modelVersion: 'm-test',
});

test('matchEvents counts the false alarms that opened before the first injected anomaly apart', () => {
  const injections = [injection('sensor-2', 500_000, 560_000), injection('sensor-1', 200_000, 260_000)];
  const events = [
    opened('sensor-1', 100_000), // false, before the first injection (sensor-1's, at 200 s)
    opened('sensor-2', 199_999), // false, before it: the first injection is the earliest of any sensor
    opened('sensor-1', 210_000), // inside sensor-1's injection: detected
    opened('sensor-2', 300_000), // false, after the first injection
    opened('sensor-2', 560_000 + SPAN), // while windows still hold sensor-2's injection: detected
    opened('sensor-1', 500_000), // another sensor's injection: false, after the first
  ];
  const { detected, falseAlarms, falseBeforeFirst } = matchEvents(injections, events, SPAN);
  assert.deepEqual(detected, [true, true]);
  assert.equal(falseAlarms, 4);
  assert.equal(falseBeforeFirst, 2);
});

test('matchEvents: an event opening exactly at the first injection on its sensor is a detection, not an early false alarm', () => {
  const { detected, falseAlarms, falseBeforeFirst } = matchEvents(
    [injection('sensor-1', 200_000, 260_000)],
    [opened('sensor-1', 200_000), opened('sensor-1', 260_000 + SPAN + 1)],
    SPAN,
  );
  assert.deepEqual(detected, [true]);
  assert.equal(falseAlarms, 1);
  assert.equal(falseBeforeFirst, 0);
});

test('matchEvents without injected anomalies: every opened event is a false alarm before the first (there is none)', () => {
  const { detected, falseAlarms, falseBeforeFirst } = matchEvents(
    [],
    [opened('sensor-1', 1), opened('sensor-3', 2)],
    SPAN,
  );
  assert.deepEqual(detected, []);
  assert.equal(falseAlarms, 2);
  assert.equal(falseBeforeFirst, 2);
});
