import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LabelStore, parseLabel } from '../../src/training/labels.js';

test('label records parse with ISO or epoch times, the key as sensor fallback, and clear errors', () => {
  assert.deepEqual(parseLabel('{"sensor":"p1","from":"2026-01-01T00:00:00Z","to":1767225660000,"label":"anomaly"}'), {
    sensor: 'p1',
    from: Date.UTC(2026, 0, 1),
    to: Date.UTC(2026, 0, 1, 0, 1),
    label: 'anomaly',
  });
  assert.equal((parseLabel('{"from":1,"to":2,"label":"normal"}', 'k') as { sensor: string }).sensor, 'k');
  assert.match((parseLabel('nope') as { error: string }).error, /^not JSON/);
  assert.match((parseLabel('{"sensor":"a","from":5,"to":1,"label":"normal"}') as { error: string }).error, /from ≤ to/);
  assert.match(
    (parseLabel('{"sensor":"a","from":1,"to":2,"label":"weird"}') as { error: string }).error,
    /label must be/,
  );
});

test('the most recent label covering a time wins', () => {
  const store = new LabelStore();
  store.add({ sensor: 'a', from: 0, to: 100, label: 'anomaly' });
  store.add({ sensor: 'a', from: 50, to: 60, label: 'normal' });
  assert.equal(store.labelAt('a', 10), 'anomaly');
  assert.equal(store.labelAt('a', 55), 'normal');
  assert.equal(store.labelAt('a', 101), undefined);
  assert.equal(store.labelAt('b', 10), undefined);
  assert.equal(store.anomalousWithin('a', 90, 200), true);
  assert.equal(store.anomalousWithin('a', 101, 200), false);
  assert.equal(store.size, 2);
});
