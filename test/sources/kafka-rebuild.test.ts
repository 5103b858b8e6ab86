import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rebuildPoint } from '../../src/sources/kafka-partition.js';

const state = (keys: Record<string, { offsets: number[]; lastTs: number }>, maxTs: number) => ({
  keys: new Map(Object.entries(keys)),
  maxTs,
});

test('the rebuild point covers the last readings of each key before the committed offset, not the ones after it', () => {
  // Key a: offsets 0,2,4,…,18; key b: 1,3,…,19. Committed 10: the window of size 3 needs a's 4,6,8 and b's 5,7,9.
  const st = state(
    {
      a: { offsets: [0, 2, 4, 6, 8, 10, 12, 14, 16, 18], lastTs: 100 },
      b: { offsets: [1, 3, 5, 7, 9, 11, 13, 15, 17, 19], lastTs: 100 },
    },
    100,
  );
  assert.equal(rebuildPoint(st, 10, 3, 1000), 4);
  // What no later commit can need is dropped; offsets after the commit stay.
  assert.deepEqual(st.keys.get('a')!.offsets, [4, 6, 8, 10, 12, 14, 16, 18]);
  assert.equal(rebuildPoint(st, 16, 3, 1000), 10);
});

test('a key with nothing before the committed offset, or silent for longer than maxGapMs, does not hold the rebuild point back', () => {
  const st = state(
    {
      new: { offsets: [50, 51], lastTs: 100 },
      old: { offsets: [1, 2, 3], lastTs: 10 },
      live: { offsets: [40, 45], lastTs: 99 },
    },
    100,
  );
  assert.equal(rebuildPoint(st, 48, 5, 50), 40);
  assert.equal(st.keys.has('old'), false);
  assert.equal(rebuildPoint(state({}, 0), 7, 5, 50), 7);
});
