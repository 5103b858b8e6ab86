import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PartitionOffsets } from '../../src/sources/offsets.js';

test('only a contiguous run of acked offsets is committable', () => {
  const p = new PartitionOffsets();
  for (const o of [10, 11, 12, 13]) p.emitted(o);
  assert.equal(p.toCommit(), undefined);
  p.ack(11);
  p.ack(13);
  assert.equal(p.toCommit(), undefined, '10 is still in flight');
  p.ack(10);
  assert.equal(p.toCommit(), 12, 'one past 11: 12 is still in flight');
  p.committed(12);
  assert.equal(p.toCommit(), undefined, 'nothing new');
  p.ack(12);
  assert.equal(p.toCommit(), 14);
  assert.equal(p.inFlight, 0);
});

test('gaps in offsets (compacted topics, transactions) do not block commits', () => {
  const p = new PartitionOffsets();
  for (const o of [5, 9, 20]) p.emitted(o);
  p.ack(9);
  p.ack(5);
  assert.equal(p.toCommit(), 10);
  p.ack(20);
  assert.equal(p.toCommit(), 21);
});

test('memory stays bounded over a long stream', () => {
  const p = new PartitionOffsets();
  for (let o = 0; o < 100_000; o++) {
    p.emitted(o);
    p.ack(o);
  }
  assert.equal(p.toCommit(), 100_000);
  assert.equal(p.inFlight, 0);
});

test('a commit never moves back: records read again below the committed offset do not lower it', () => {
  const p = new PartitionOffsets();
  p.committed(100);
  for (const o of [90, 91, 92]) p.emitted(o);
  p.ack(90);
  p.ack(91);
  assert.equal(p.toCommit(), undefined);
  p.ack(92);
  p.emitted(100);
  p.ack(100);
  assert.equal(p.toCommit(), 101);
});

test('records read twice while the first copies are in flight: each copy is acked once and the commit still moves', () => {
  const p = new PartitionOffsets();
  for (const o of [0, 1, 2]) p.emitted(o);
  // kafkajs restarts the consumer and fetches again from the committed offset (none yet).
  for (const o of [0, 1, 2]) p.emitted(o);
  p.ack(1); // first copy of 1, acked before 0
  p.ack(1); // second copy of 1
  p.ack(0);
  assert.equal(p.toCommit(), 2, 'the first copies of 0 and 1 are done');
  p.ack(2);
  assert.equal(p.toCommit(), 3, 'the first copies of 0, 1, 2 are done: their outputs are written');
  p.ack(0);
  assert.equal(p.toCommit(), 3, 'a later copy of a lower offset does not move the commit back');
  assert.equal(p.inFlight, 1, 'the second copy of 2 is still in flight');
  p.ack(2);
  assert.equal(p.toCommit(), 3);
  assert.equal(p.inFlight, 0);
});

test('inFlightSince is when the oldest record not yet acked was read, also after compaction', () => {
  const p = new PartitionOffsets();
  assert.equal(p.inFlightSince, undefined);
  for (let o = 0; o < 3000; o++) p.emitted(o, 1_000 + o);
  p.ack(1);
  assert.equal(p.inFlightSince, 1_000, 'offset 0 holds the commit back');
  for (let o = 0; o < 2500; o++) if (o !== 1) p.ack(o);
  assert.equal(p.toCommit(), 2500);
  assert.equal(p.inFlightSince, 3_500, 'offset 2500, read at 3500');
  for (let o = 2500; o < 3000; o++) p.ack(o);
  assert.equal(p.inFlightSince, undefined);
});
