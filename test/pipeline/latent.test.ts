import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fitLatent, isLatentSpace, latentPoint, SAMPLE } from '../../src/pipeline/latent.js';
import { createRng } from '../../src/model/prng.js';

/** Gaussian codes: `n` × 4, independent with standard deviations 5, 2, 0.5, 0.5, offset by (10, -3, 0, 1). */
function codes(n: number, seed: number): Float32Array {
  const rng = createRng(seed, 1);
  const sd = [5, 2, 0.5, 0.5];
  const offset = [10, -3, 0, 1];
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < 4; a++) {
      const u = Math.max(rng(), 1e-12);
      const v = rng();
      out[i * 4 + a] = offset[a]! + sd[a]! * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
  return out;
}

test('the projection follows the codes’ two widest directions, and the held-out quantile is distance 1', () => {
  const train = codes(4000, 1);
  const held = codes(1000, 2);
  const space = fitLatent(train, 4000, 4, held, 1000, 0.99);
  assert.ok(isLatentSpace(space));
  const [first, second] = space.components;
  assert.ok(Math.abs(first[0]!) > 0.99, `first direction ${first.join(', ')} is the first axis`);
  assert.ok(Math.abs(second[1]!) > 0.99, `second direction ${second.join(', ')} is the second axis`);
  // Variances 25, 4, 0.25, 0.25 of 29.5 in all.
  assert.ok(Math.abs(space.explained[0] - 25 / 29.5) < 0.03, `explained ${space.explained[0]}`);
  assert.ok(Math.abs(space.explained[1] - 4 / 29.5) < 0.02, `explained ${space.explained[1]}`);
  assert.ok(Math.abs(space.mean[0]! - 10) < 0.3 && Math.abs(space.mean[1]! + 3) < 0.2);
  assert.ok(space.sample.length <= SAMPLE && space.sample.length > SAMPLE / 2, `${space.sample.length} points`);

  // About 1 % of fresh codes from the same distribution lie beyond distance 1.
  const fresh = codes(2000, 3);
  let beyond = 0;
  for (let i = 0; i < 2000; i++) if (latentPoint(space, fresh, i).distance > 1) beyond++;
  assert.ok(beyond > 5 && beyond < 50, `${beyond} of 2000 beyond the held-out 99 % quantile`);

  // A code 2 sd out along a narrow axis is far; the same step along the wide one is not.
  const [m0, m1, m2, m3] = space.mean as [number, number, number, number];
  const narrow = Float32Array.from([m0, m1, m2 + 1, m3]);
  const wide = Float32Array.from([m0 + 1, m1, m2, m3]);
  assert.ok(latentPoint(space, narrow, 0).distance > latentPoint(space, wide, 0).distance * 5);
  const p = latentPoint(space, wide, 0);
  assert.ok(Math.abs(Math.abs(p.x) - 1) < 0.05 && Math.abs(p.y) < 0.05, `(${p.x}, ${p.y})`);
  assert.deepEqual(Array.from(p.code), Array.from(wide));

  assert.deepEqual(fitLatent(train, 4000, 4, held, 1000, 0.99), space, 'the same codes give the same space');
});

test('collinear or constant codes still give a finite space; no held-out codes scale on the training ones', () => {
  const n = 50;
  const line = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) line.set([Math.sqrt(i), 2 * Math.sqrt(i), 0], i * 3);
  const space = fitLatent(line, n, 3, new Float32Array(0), 0, 0.9);
  assert.ok(isLatentSpace(space), 'every number finite');
  let within = 0;
  for (let i = 0; i < n; i++) if (latentPoint(space, line, i).distance <= 1) within++;
  assert.equal(within, 45, 'the training codes’ own 90 % quantile is 1');
  const flat = fitLatent(new Float32Array(12).fill(3), 4, 3, new Float32Array(0), 0, 0.99);
  assert.ok(isLatentSpace(flat));
  assert.equal(latentPoint(flat, Float32Array.from([3, 3, 3]), 0).distance, 0);
});

test('property: isLatentSpace never throws and accepts only complete spaces', () => {
  const good = fitLatent(codes(30, 4), 30, 4, new Float32Array(0), 0, 0.99);
  fc.assert(
    fc.property(fc.jsonValue(), (doc) => {
      assert.equal(typeof isLatentSpace(doc), 'boolean');
    }),
  );
  fc.assert(
    fc.property(fc.constantFrom(...Object.keys(good)), fc.jsonValue(), (key, value) => {
      const broken = { ...good, [key]: value };
      if (isLatentSpace(broken)) assert.deepEqual(Object.keys(broken).sort(), Object.keys(good).sort());
      const missing: Record<string, unknown> = { ...good };
      delete missing[key];
      assert.equal(isLatentSpace(missing), false, `without ${key}`);
    }),
  );
});
