import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Health } from '../../src/observability/health.js';

test('health: a failing sink, a stopped partition and a stalled consumer are problems; recovery clears them', () => {
  let now = 1_000;
  const h = new Health(5_000, () => now);
  assert.deepEqual(h.problems(), []);
  // Without partitions there is nothing to fetch: no stall however long it is quiet.
  now += 60_000;
  assert.deepEqual(h.problems(), []);
  h.assigned(2);
  now += 4_000;
  assert.deepEqual(h.problems(), [], 'assignment starts the clock');
  now += 2_000;
  assert.deepEqual(h.problems(), ['consumer stalled: no fetch for 6 s (kafka.stallAfterMs 5000)']);
  h.progressed();
  assert.deepEqual(h.problems(), []);

  h.sinkFailing('kafka', 'broker down');
  assert.deepEqual(h.problems(), ['sink kafka failing, retrying: broker down']);
  assert.equal(h.isSinkFailing('kafka'), true);
  h.sinkRecovered('kafka');
  assert.deepEqual(h.problems(), []);

  const stopped: string[] = [];
  h.onPartitionStopped((p, why) => stopped.push(`${p.topic}[${p.partition}] ${why}`));
  h.stopPartition({ topic: 'sensors', partition: 1 }, 'refused');
  h.stopPartition({ topic: 'sensors', partition: 1 }, 'again');
  assert.deepEqual(stopped, ['sensors[1] refused'], 'told once');
  assert.equal(h.isStopped('sensors', 1), true);
  assert.equal(h.isStopped('sensors', 0), false);
  assert.deepEqual(h.problems(), ['partition sensors[1] stopped: refused']);
  // A listener added later hears of partitions stopped before.
  const late: number[] = [];
  h.onPartitionStopped((p) => late.push(p.partition));
  assert.deepEqual(late, [1]);
  // With every owned partition stopped, not fetching is expected: no stall on top.
  h.assigned(1);
  now += 60_000;
  assert.deepEqual(h.problems(), ['partition sensors[1] stopped: refused']);
});
