import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  growth,
  onBackend,
  readAll,
  relativeError,
  seededFor,
  withTuning,
} from './__tests__/helpers.js';
import { batchNormTrainTuning, batchNormTraining } from './batch-norm-train.js';
import { filterGradTuning } from './conv2d-backprop-filter.js';
import { maxPoolGradTuning } from './max-pool-grad.js';
import { ownKernels } from './own-kernels.js';
import { wasmHelper } from './parallel.js';
import { initBackend } from './select.js';
import { asWasm } from './wasm-heap.js';
import { wasmThreadCount } from './wasm-threads.js';

const TOLERANCE = 1e-4;

/** A small training-step's worth of pool-split kernels: conv, matmul, pooling and their gradients. */
function stepSuite(): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(seededFor([6, 12, 12, 8], 131), [6, 12, 12, 8]);
    const w = tf.tensor4d(seededFor([3, 3, 8, 16], 132), [3, 3, 8, 16]);
    const d = tf.tensor2d(seededFor([16, 5], 133), [16, 5]);
    const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
      const h = tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'));
      const pooled = tf.mean(tf.maxPool(h, 2, 2, 'valid'), [1, 2]);
      return tf.sum(tf.square(tf.matMul(pooled, c as tf.Tensor2D)));
    };
    const { value, grads } = tf.valueAndGrads(f)([x, w, d]);
    return readAll([value, ...grads]);
  });
}

describe('wasm thread pool', () => {
  let logged = '';

  beforeAll(async () => {
    await initBackend('wasm', { wasmThreads: 2, log: (line) => (logged = line) });
  });

  afterAll(async () => {
    await initBackend('wasm', { wasmThreads: 1 });
  });

  it('should compute with two pool threads and no helper when two threads are requested', () => {
    expect(wasmThreadCount()).toBe(2);
    expect(wasmHelper()).toBeUndefined();
    expect(logged).toBe('backend: wasm, 2 threads');
  });

  it('should match the cpu backend on convolution, pooling and matrix gradients', async () => {
    const want = await onBackend('cpu', stepSuite);
    await initBackend('wasm', { wasmThreads: 2 });
    const got = stepSuite();
    want.forEach((w, k) => expect(relativeError(got[k]!, w)).toBeLessThan(TOLERANCE));
  });

  // Filter gradients with their rows split between this thread and the kernel worker: odd
  // channel counts leave row and column tails on both sides.
  const filterCases = [
    { x: [4, 12, 12, 3], w: [3, 3, 3, 16], stride: 1, pad: 'same' },
    { x: [3, 9, 10, 5], w: [3, 3, 5, 13], stride: 2, pad: 'same' },
    { x: [2, 11, 9, 8], w: [2, 4, 8, 6], stride: 1, pad: 'valid' },
  ] as const;
  for (const c of filterCases) {
    it(`should match the cpu filter gradient with rows split with the kernel worker, x ${c.x.join('x')}, w ${c.w.join('x')}, stride ${c.stride}, ${c.pad}`, async () => {
      const grads = () =>
        tf.tidy(() => {
          const x = tf.tensor4d(seededFor([...c.x], 134), [...c.x]);
          const w = tf.tensor4d(seededFor([...c.w], 135), [...c.w]);
          const y = tf.conv2d(x, w, c.stride, c.pad);
          const r = tf.tensor(seededFor(y.shape, 136), y.shape);
          const f = (a: tf.Tensor) =>
            tf.sum(tf.mul(tf.conv2d(x, a as tf.Tensor4D, c.stride, c.pad), r));
          return readAll([tf.grad(f)(w)]);
        });
      const want = await onBackend('cpu', grads);
      await initBackend('wasm', { wasmThreads: 2 });
      expect(ownKernels(asWasm(tf.backend())).worker).toBeDefined();
      const got = await withTuning(filterGradTuning, { minSplitMacs: 0 }, grads);
      expect(relativeError(got[0]!, want[0]!)).toBeLessThan(TOLERANCE);
    });
  }

  for (const c of [
    { x: [5, 8, 10, 6], size: 2, stride: 2, pad: 'valid' },
    { x: [3, 7, 9, 5], size: 3, stride: 2, pad: 'same' },
  ] as const) {
    it(`should match the cpu max-pool gradient with images split with the kernel worker, x ${c.x.join('x')}, pool ${c.size}, stride ${c.stride}`, async () => {
      const grads = () =>
        tf.tidy(() => {
          // Coarse values tie often, so the first-maximum rule is exercised on both threads.
          const values = seededFor([...c.x], 137).map((v) => Math.round(v * 2) / 2);
          const x = tf.tensor4d(values, [...c.x]);
          const f = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, c.size, c.stride, c.pad);
          const r = tf.tensor(seededFor(f(x).shape, 138), f(x).shape);
          return readAll([tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a), r)))(x)]);
        });
      const want = await onBackend('cpu', grads);
      await initBackend('wasm', { wasmThreads: 2 });
      const got = await withTuning(maxPoolGradTuning, { minSplitElements: 0 }, grads);
      expect(relativeError(got[0]!, want[0]!)).toBeLessThan(1e-6);
    });
  }

  it('should match the stock BatchNorm on cpu with rows split with the kernel worker', async () => {
    const shape = [6, 7, 5, 12];
    const pass = (fused: boolean) =>
      tf.tidy(() => {
        const x = tf.add(tf.tensor(seededFor(shape, 139), shape), 3);
        const g = tf.tensor(seededFor([12], 140), [12]);
        const o = tf.tensor(seededFor([12], 141), [12]);
        const r = tf.tensor(seededFor(shape, 142), shape);
        const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
          if (fused) return batchNormTraining(a, b, c, 1e-3).y;
          const { mean, variance } = tf.moments(a, [0, 1, 2]);
          return tf.batchNorm(a, mean, variance, c, b, 1e-3);
        };
        return readAll(tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(a, b, c), r)))([x, g, o]));
      });
    const want = await onBackend('cpu', () => pass(false));
    await initBackend('wasm', { wasmThreads: 2 });
    const got = await withTuning(batchNormTrainTuning, { minSplitElements: 0 }, () => pass(true));
    want.forEach((w, k) => expect(relativeError(got[k]!, w)).toBeLessThan(TOLERANCE));
  });

  it('should leave tensor and data-id counts flat when called 20 times', () => {
    expect(growth(() => void stepSuite())).toEqual({ tensors: 0, dataIds: 0 });
  });

  it('should go back to one thread on the stock binary when one thread is requested', async () => {
    let line = '';
    await initBackend('wasm', { wasmThreads: 1, log: (l) => (line = l) });
    expect(wasmThreadCount()).toBe(1);
    expect(line).toBe('backend: wasm, 1 thread');
    const want = await onBackend('cpu', stepSuite);
    await initBackend('wasm', { wasmThreads: 1 });
    const got = stepSuite();
    want.forEach((w, k) => expect(relativeError(got[k]!, w)).toBeLessThan(TOLERANCE));
  });
});
