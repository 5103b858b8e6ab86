import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { anomalyRecordSchema, messageJsonSchemas, scoreRecordSchema } from '../../src/sinks/message-schema.js';
import { anomalyMessage, scoreMessage } from '../../src/sinks/kafka-messages.js';
import { AnomalyDetector } from '../../src/detection/detector.js';
import { parseConfig } from '../../src/config/load.js';
import type { DecidedWindow, WindowScore } from '../../src/pipeline/contracts.js';

const root = join(import.meta.dirname, '..', '..');

test('the committed JSON Schemas under schemas/ are the ones generated from the zod types (npm run schemas)', () => {
  const generated = messageJsonSchemas();
  assert.ok(Object.keys(generated).length >= 2);
  for (const [name, schema] of Object.entries(generated)) {
    const committed: unknown = JSON.parse(readFileSync(join(root, 'schemas', name), 'utf8'));
    assert.deepEqual(committed, schema, `schemas/${name} is stale: run npm run schemas`);
  }
});

test('the records aemon writes to aemon.anomalies and aemon.scores satisfy their schemas', () => {
  const det = new AnomalyDetector(parseConfig({ detection: { decision: 'threshold', openAfter: 1 } }).detection);
  const window: WindowScore = {
    window: {
      kind: 'window',
      id: 's@2000',
      sensor: 's',
      group: 'a,b',
      channels: ['a', 'b'],
      start: 1000,
      end: 2000,
      data: Float32Array.of(1, 2, 5, 7),
      readings: [],
    },
    error: 0.3,
    channelShares: Float32Array.of(0.9, 0.1),
    threshold: 0.1,
    score: 3,
    modelVersion: 'm',
    reconstruction: Float32Array.of(1, 6.5),
  };
  const d = det.decide(window);
  const decided: DecidedWindow = { ...window, verdict: d.verdict, anomalySeverity: d.severity };
  const score = scoreRecordSchema.parse(JSON.parse(scoreMessage(decided, d.anomaly).value as string));
  assert.equal(score.score, 3);
  assert.equal(score.severity, 'major');
  assert.deepEqual(score.topChannels[0], {
    channel: 'a',
    share: 0.9,
    reading: 5,
    expected: 1,
    deviation: 4,
    direction: 'above',
  });
  assert.equal(score.latent, undefined, 'no latent field without scoring.latent');
  const placed: DecidedWindow = {
    ...decided,
    latent: { x: 0.5, y: -1.25, distance: 3.5, code: Float32Array.of(0.1, -0.2, 0.3) },
  };
  const withLatent = scoreRecordSchema.parse(JSON.parse(scoreMessage(placed, d.anomaly).value as string));
  assert.deepEqual(withLatent.latent, { x: 0.5, y: -1.25, distance: 3.5, code: [0.1, -0.2, 0.3] });
  const [event] = d.events;
  assert.ok(event);
  const record = anomalyRecordSchema.parse(JSON.parse(anomalyMessage(event).value as string));
  assert.equal(record.severity, 'major');
  assert.equal(record.end, null);
  // The schema is strict: an unknown field fails, so the contract cannot drift unnoticed.
  assert.equal(anomalyRecordSchema.safeParse({ ...record, extra: 1 }).success, false);
});
