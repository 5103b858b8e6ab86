import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor, Tensor3D } from '@tensorflow/tfjs';
import type { BackendSelection } from '../../src/model/backend.js';
import { registerWasmConvGrad } from '../../src/model/wasmConvGrad.js';
import { createRng } from '../../src/model/prng.js';
import { selectTestBackend } from './fixtures.js';

let sel: BackendSelection;
before(async () => {
  sel = await selectTestBackend();
  registerWasmConvGrad(sel.tf);
});

const random = (n: number, seed: number): Float32Array => {
  const rng = createRng(seed, 1);
  return Float32Array.from({ length: n }, () => rng() * 2 - 1);
};

// A convolution is linear in its filter, so the loss Σ conv(x, w) · r changes by exactly
// Σ grad · δ when w moves by δ: a finite difference with no truncation error to tolerate.
for (const pad of ['same', 'valid'] as const) {
  const strides = 1;
  test(`the Conv1D filter gradient matches a finite difference (stride ${strides}, ${pad} padding)`, () => {
    const { tf } = sel;
    const [batch, steps, inCh, outCh, k] = [3, 13, 4, 5, 5];
    tf.tidy(() => {
      const x = tf.tensor3d(random(batch * steps * inCh, 1), [batch, steps, inCh]);
      const w = tf.tensor3d(random(k * inCh * outCh, 2), [k, inCh, outCh]);
      const outSteps = (tf.conv1d(x, w, strides, pad).shape[1] as number) ?? 0;
      const r = tf.tensor3d(random(batch * outSteps * outCh, 3), [batch, outSteps, outCh]);
      const loss = (filter: Tensor) => tf.sum(tf.mul(tf.conv1d(x, filter as Tensor3D, strides, pad), r));
      const grad = tf.grad(loss)(w);
      assert.deepEqual(grad.shape, w.shape);
      const delta = tf.tensor3d(random(k * inCh * outCh, 4), [k, inCh, outCh]);
      const eps = 0.5;
      const moved = (loss(tf.add(w, tf.mul(delta, eps))).dataSync()[0]! - loss(w).dataSync()[0]!) / eps;
      const predicted = tf.sum(tf.mul(grad, delta)).dataSync()[0]!;
      assert.ok(Math.abs(moved - predicted) < 1e-3 * Math.max(1, Math.abs(predicted)), `${moved} vs ${predicted}`);
      // And the gradient is not trivially zero.
      assert.ok(tf.max(tf.abs(grad)).dataSync()[0]! > 0.1);
    });
  });
}

test('on WASM a strided convolution filter gradient throws instead of coming out wrong', () => {
  const { tf } = sel;
  if (sel.backend !== 'wasm') return;
  tf.tidy(() => {
    const x = tf.tensor3d(random(2 * 9 * 2, 1), [2, 9, 2]);
    const w = tf.tensor3d(random(3 * 2 * 2, 2), [3, 2, 2]);
    assert.throws(() => tf.grad((f: Tensor) => tf.sum(tf.conv1d(x, f as Tensor3D, 2, 'same')))(w), /strides 1×2/);
  });
});

test('on WASM the kernel is registered once, and only where it was missing', () => {
  const { tf } = sel;
  if (sel.backend !== 'wasm') {
    assert.equal(tf.getKernel('Conv2DBackpropFilter', 'wasm'), undefined);
    return;
  }
  const kernel = tf.getKernel('Conv2DBackpropFilter', 'wasm');
  assert.notEqual(kernel, undefined);
  registerWasmConvGrad(tf);
  assert.equal(tf.getKernel('Conv2DBackpropFilter', 'wasm'), kernel);
});
