import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { AnomalyDetector } from '../../src/detection/detector.js';
import { FeedbackDesk, type FeedbackLabel } from '../../src/detection/feedback.js';
import { Mutes } from '../../src/detection/mute.js';
import type { AnomalyEvent, PipelineOutput, WindowScore } from '../../src/pipeline/contracts.js';
import { windowScore } from './window-score.js';
import { NormalBuffer } from '../../src/training/buffer.js';
import { LabelStore } from '../../src/training/labels.js';

function ws(sensor: string, end: number, score: number): WindowScore {
  return windowScore({ sensor, end, score, span: 2000, data: Float32Array.from([end, end + 1, end + 2]) });
}

test('a mute runs for its time from the first window after the mark, and a higher peak breaks through', () => {
  const m = new Mutes(10_000);
  m.add('p', 2);
  assert.equal(m.blocks('p', 5000, 1.5), true, 'the clock starts here: muted until 15000');
  assert.equal(m.blocks('p', 9000, 2), true, 'a peak equal to the marked one stays muted');
  assert.equal(m.blocks('p', 9000, 2.01), false, 'above the marked peak opens');
  assert.equal(m.blocks('q', 9000, 1.5), false, 'another sensor');
  assert.equal(m.blocks('p', 14_999, 1.5), true);
  assert.equal(m.blocks('p', 15_000, 1.5), false, 'the mute is over');
  assert.equal(m.muted('p', 15_000), false);
  const off = new Mutes(0);
  off.add('p', 2);
  assert.equal(off.enabled, false);
  assert.equal(off.blocks('p', 1, 1), false, 'muteForMs 0 mutes nothing');
});

/** Detector + feedback desk + a retraining buffer wired as main.ts wires them. */
function rig(muteForMs = 60_000) {
  const detection = parseConfig({
    detection: { decision: 'threshold', openAfter: 2, closeAfter: 2, feedback: { muteForMs } },
  }).detection;
  const det = new AnomalyDetector(detection);
  const labels = new LabelStore();
  const buffer = new NormalBuffer(
    { windowsPerSensor: 100, anomalousPerGroup: 100, autoNormalBelow: 0.5, neighbourhoodMs: 0, stride: 1 },
    labels,
  );
  labels.onAdd((l) => buffer.adopt(l.sensor, l.from, l.to, l.label));
  const given: FeedbackLabel[] = [];
  const counted: string[] = [];
  const desk = new FeedbackDesk({
    mutes: det.mutes,
    label: (l) => {
      given.push(l);
      labels.add(l);
    },
    counted: (v) => counted.push(v),
  });
  const events: AnomalyEvent[] = [];
  const feed = async (end: number, score: number): Promise<void> => {
    const w = ws('p', end, score);
    const d = det.decide(w);
    buffer.offer(w.window, w.score, d.anomaly);
    const outputs: PipelineOutput[] = [
      { kind: 'scored', rows: [], window: { ...w, verdict: d.verdict, anomalySeverity: d.severity } },
    ];
    for (const e of d.events) outputs.push({ kind: 'event', event: e });
    events.push(...d.events);
    await desk.write(outputs);
  };
  return { det, desk, buffer, given, counted, events, feed };
}

test('a false alarm: the event span becomes a normal label, its windows join the buffer, the sensor is muted below its peak', async () => {
  const r = rig();
  let t = 0;
  for (const s of [0.2, 0.2, 1.5, 1.8, 1.6, 0.3, 0.3, 0.2]) await r.feed((t += 1000), s);
  const closed = r.events.find((e) => e.kind === 'closed')!;
  assert.equal(closed.peakScore, 1.8);
  assert.equal(r.buffer.normalWithin('p', closed.start, closed.end!).length, 0, 'nothing of the event was learnt yet');

  const result = r.desk.mark(closed.id, 'false_alarm')!;
  assert.deepEqual(r.given, [{ sensor: 'p', from: closed.start, to: closed.end, label: 'normal' }]);
  assert.equal(result.muted, true);
  assert.deepEqual(r.counted, ['false_alarm']);
  assert.equal(r.desk.verdict(closed.id), 'false_alarm');
  // The windows that ended within the event (3000..7000) were held back and are now normal data.
  assert.deepEqual(
    r.buffer.normalWithin('p', closed.start, closed.end!).map((w) => w.end),
    [3000, 4000, 5000, 6000, 7000],
  );

  // The same false alarm again (peak 1.8 at most) opens nothing; a higher one does.
  for (const s of [1.5, 1.8, 1.7, 0.2, 0.2]) await r.feed((t += 1000), s);
  assert.equal(r.events.filter((e) => e.kind === 'opened').length, 1, 'muted');
  for (const s of [1.5, 2.5]) await r.feed((t += 1000), s);
  assert.equal(r.events.filter((e) => e.kind === 'opened').length, 2, 'above the marked peak');
  assert.equal(r.events.at(-1)!.peakScore, 2.5);
});

test('a mute ends after muteForMs of event time', async () => {
  const r = rig(5000);
  let t = 0;
  for (const s of [1.5, 1.5, 0.2, 0.2]) await r.feed((t += 1000), s);
  r.desk.mark(r.events[0]!.id, 'false_alarm');
  for (const s of [1.5, 1.5, 1.5]) await r.feed((t += 1000), s); // 5000..7000: muted (until 10000)
  assert.equal(r.events.filter((e) => e.kind === 'opened').length, 1);
  for (const s of [1.5, 1.5, 1.5]) await r.feed((t += 1000), s); // 8000..10000
  const opened = r.events.filter((e) => e.kind === 'opened');
  assert.equal(opened.length, 2, 'opens once the mute is over');
  assert.equal(opened[1]!.start, 5000, 'the run above threshold counts from its first window');
});

test('confirmed: an anomaly label over the event, no mute; an unknown event is undefined', async () => {
  const r = rig();
  let t = 0;
  for (const s of [1.5, 1.5, 1.5]) await r.feed((t += 1000), s);
  const opened = r.events[0]!;
  const result = r.desk.mark(opened.id, 'confirmed')!;
  // Still open: the label runs to the sensor's newest window.
  assert.deepEqual(result.label, { sensor: 'p', from: opened.start, to: 3000, label: 'anomaly' });
  assert.equal(result.muted, false);
  assert.equal(r.det.mutes.muted('p', 4000), false);
  const snap = r.buffer.snapshot('a')!;
  assert.deepEqual(
    snap.anomalous.map((w) => w.end),
    [1000, 2000, 3000],
    'the event windows went to the gate as anomalous',
  );
  assert.equal(r.desk.mark('a-nope', 'confirmed'), undefined);
  assert.deepEqual(r.counted, ['confirmed']);
});
