import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compareOutputs, compareStream, keepsPromise, recordId, type OutputRecord } from '../../chaos/compare.js';

const r = (id: string, value = `v(${id})`): OutputRecord => ({ id, value });

test('identical streams: nothing missing, extra, duplicated or different', () => {
  const ref = [r('a'), r('b'), r('c')];
  const c = compareStream(ref, [r('c'), r('a'), r('b')]);
  assert.deepEqual(
    [c.expected, c.distinct, c.missing, c.extra, c.duplicates, c.divergentDuplicates, c.differs],
    [3, 3, 0, 0, 0, 0, 0],
  );
  assert.equal(c.firstDifference, undefined);
});

test('a window the fault-free run wrote and the faulty run did not is missing; one only the faulty run wrote is extra', () => {
  const c = compareStream([r('a'), r('b'), r('c')], [r('a'), r('d')]);
  assert.equal(c.missing, 2);
  assert.deepEqual(c.examples.missing, ['b', 'c']);
  assert.equal(c.extra, 1);
  assert.deepEqual(c.examples.extra, ['d']);
  assert.equal(c.distinct, 2);
});

test('identical re-emissions are duplicates, not divergent; a copy with other bytes is a divergent duplicate', () => {
  const ref = [r('a'), r('b')];
  const same = compareStream(ref, [r('a'), r('a'), r('b'), r('a')]);
  assert.equal(same.duplicates, 2);
  assert.equal(same.divergentDuplicates, 0);
  const diverged = compareStream(ref, [r('a'), r('b'), r('a', 'other'), r('b')]);
  assert.equal(diverged.duplicates, 2);
  assert.equal(diverged.divergentDuplicates, 1);
  assert.deepEqual(diverged.examples.divergent, ['a']);
  // The first copy matches the fault-free run: only the later one diverges.
  assert.equal(diverged.differs, 0);
});

test('a first copy with other bytes than the fault-free run differs, and the first difference shows both', () => {
  const c = compareStream([r('a', '{"anomaly":false}'), r('b')], [r('a', '{"anomaly":true}'), r('b')]);
  assert.equal(c.differs, 1);
  assert.equal(c.missing, 0);
  assert.deepEqual(c.firstDifference, { id: 'a', reference: '{"anomaly":false}', run: '{"anomaly":true}' });
});

test('compareOutputs sums the three streams, and keepsPromise allows identical duplicates only without exactly-once', () => {
  const ref = { scores: [r('w1'), r('w2')], dlq: [r('t[0]@3')], anomalies: [r('e1/opened')] };
  const run = { scores: [r('w1'), r('w2'), r('w2')], dlq: [r('t[0]@3'), r('t[0]@3')], anomalies: [r('e1/opened')] };
  const c = compareOutputs(ref, run);
  assert.equal(c.duplicates, 2);
  assert.equal(c.missing, 0);
  assert.equal(keepsPromise(c, false), true);
  assert.equal(keepsPromise(c, true), false);
  const lost = compareOutputs(ref, { ...run, anomalies: [] });
  assert.equal(lost.missing, 1);
  assert.equal(lost.anomalies.missing, 1);
  assert.equal(keepsPromise(lost, false), false);
});

test('counts agree with a direct count for any streams (property)', () => {
  const stream = fc.array(
    fc.record({ id: fc.constantFrom('a', 'b', 'c', 'd', 'e'), value: fc.constantFrom('x', 'y') }),
    { maxLength: 30 },
  );
  fc.assert(
    fc.property(stream, stream, (reference, run) => {
      const c = compareStream(reference, run);
      const refIds = new Set(reference.map((x) => x.id));
      const runIds = new Set(run.map((x) => x.id));
      assert.equal(c.expected, refIds.size);
      assert.equal(c.distinct, runIds.size);
      assert.equal(c.missing, [...refIds].filter((id) => !runIds.has(id)).length);
      assert.equal(c.extra, [...runIds].filter((id) => !refIds.has(id)).length);
      assert.equal(c.duplicates, run.length - runIds.size);
      assert.ok(c.divergentDuplicates <= c.duplicates);
      // Every copy equal to its id's first copy: no divergent duplicate.
      const first = new Map<string, string>();
      for (const x of run) if (!first.has(x.id)) first.set(x.id, x.value);
      assert.equal(
        c.divergentDuplicates,
        run.filter((x, i) => run.findIndex((y) => y.id === x.id) !== i && x.value !== first.get(x.id)).length,
      );
      // Comparing a stream with itself finds nothing.
      const self = compareStream(run, run);
      assert.equal(self.missing + self.extra + self.differs, 0);
    }),
  );
});

test('recordId: a score by its window id, an anomaly event by id and kind, a dead letter by its origin', () => {
  assert.equal(recordId('scores', '{"id":"pump-1@1767225600000","score":0.3}', {}), 'pump-1@1767225600000');
  assert.equal(recordId('anomalies', '{"id":"a-12","kind":"closed"}', {}), 'a-12/closed');
  assert.equal(
    recordId('dlq', 'not json', {
      'aemon.source.topic': 'sensors',
      'aemon.source.partition': '2',
      'aemon.source.offset': '41',
    }),
    'sensors[2]@41',
  );
  // A record that is not JSON (or has no id) can only match an identical one.
  assert.equal(recordId('scores', 'garbage', {}), 'raw:garbage');
  assert.equal(recordId('scores', '{"score":1}', {}), 'raw:{"score":1}');
});

test('a score that differs only in its anomaly flag differs in the decision, not beyond it', () => {
  const w = (id: string, score: number, anomaly: boolean): OutputRecord => ({
    id,
    value: JSON.stringify({ id, score, anomaly }),
  });
  const ref = { scores: [w('a', 0.2, false), w('b', 0.3, false)], dlq: [], anomalies: [] };
  const run = { scores: [w('a', 0.2, true), w('b', 0.31, false)], dlq: [], anomalies: [] };
  const c = compareOutputs(ref, run);
  assert.equal(c.scores.differs, 2);
  assert.equal(c.scores.differsBeyondDecision, 1);
});
