import { test } from 'node:test';
import assert from 'node:assert/strict';
import { falseAlarmSummary, labelledFigures } from '../../src/cli/replay.js';
import type { AnomalyEvent } from '../../src/pipeline/contracts.js';

const MIN = 60_000;

/** Two sensors, one reading a minute for 100 minutes; the rows in the anomaly state are those `flag` says. */
function rows(flag: (sensor: string, minute: number) => boolean) {
  const out = { sensor: [] as string[], ts: [] as number[], anomaly: [] as boolean[] };
  for (let m = 0; m < 100; m++) {
    for (const s of ['a', 'b']) {
      out.sensor.push(s);
      out.ts.push(m * MIN);
      out.anomaly.push(flag(s, m));
    }
  }
  return out;
}

const opened = (sensor: string, minute: number): AnomalyEvent => ({ sensor, start: minute * MIN }) as AnomalyEvent;

test('labelled figures: detections within an injection or one span after it, false events elsewhere, rates over normal readings', () => {
  const injections = [
    { sensor: 'a', start: 20 * MIN, end: 30 * MIN, kind: 'spike' },
    { sensor: 'b', start: 60 * MIN, end: 65 * MIN, kind: 'spike' },
  ] as never[];
  // a: detected at minute 25; b: opened at 67 (within the 5-minute span after 65, so a detection);
  // a false event at minute 80 on a, 10 minutes in the anomaly state (80–89).
  const events = [opened('a', 25), opened('b', 67), opened('a', 80)];
  const r = rows((s, m) => (s === 'a' && m >= 25 && m <= 30) || (s === 'a' && m >= 80 && m < 90));
  const fig = labelledFigures(injections, events, r, 5 * MIN, undefined)!;
  assert.equal(fig.injected, 2);
  assert.equal(fig.detected, 2);
  assert.equal(fig.falseEvents, 1);
  // Each sensor spans minutes 0–99: 99 minutes each.
  assert.ok(Math.abs(fig.sensorHours - (2 * 99) / 60) < 1e-12);
  assert.ok(Math.abs(fig.falseEventsPerSensorHour! - 60 / 198) < 1e-12);
  // Normal readings: a outside 20–35 (16 minutes excluded), b outside 60–70 (11 excluded).
  assert.equal(fig.normalReadings, 200 - 16 - 11);
  assert.equal(fig.flaggedReadings, 10);
  assert.ok(Math.abs(fig.falseAlarmRate! - 10 / 173) < 1e-12);
  // Minutes 80–89 fall in the last quarter (75–99).
  assert.equal(fig.byQuarter[0], 0);
  assert.ok(fig.byQuarter[3]! > 0);
  assert.equal(fig.beforeFirstPromotion, null);
  const text = falseAlarmSummary(fig, { promoted: 0, rejected: 0, failed: 0 }, false);
  assert.match(
    text,
    /^labels: 2 injected anomalies, 2 detected, 1 anomalies opened outside them \(0\.30 per sensor-hour/,
  );
  assert.match(text, /false-alarm rate \(normal readings in the anomaly state\) 5\.8 %/);
});

test('labelled figures split at the first promotion; no written reading gives none', () => {
  const r = rows((s, m) => s === 'b' && m >= 10 && m < 20);
  const fig = labelledFigures([], [opened('b', 10)], r, 5 * MIN, 50 * MIN)!;
  assert.equal(fig.falseEvents, 1);
  assert.ok(Math.abs(fig.beforeFirstPromotion! - 10 / 100) < 1e-12);
  assert.equal(fig.afterFirstPromotion, 0);
  assert.match(
    falseAlarmSummary(fig, { promoted: 1, rejected: 0, failed: 0 }, true),
    /before the first promotion 10\.0 %, after it 0\.0 %/,
  );
  assert.equal(labelledFigures([], [], { sensor: [], ts: [], anomaly: [] }, MIN, undefined), undefined);
  assert.equal(
    falseAlarmSummary(undefined, { promoted: 0, rejected: 0, failed: 0 }, false),
    'labels: no readings were written\n',
  );
});
