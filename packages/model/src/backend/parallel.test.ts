import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { growth, onBackend, readAll, relativeError, seededFor } from './__tests__/helpers.js';
import { parallelTuning, wasmHelper } from './parallel.js';
import { initBackend } from './select.js';

const TOLERANCE = 1e-4;

/** Forward conv, fused conv (bias + relu) and both conv gradients. */
function convSuite(stride: number, pad: 'same' | 'valid'): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(seededFor([5, 9, 8, 3], 121), [5, 9, 8, 3]);
    const w = tf.tensor4d(seededFor([3, 3, 3, 4], 122), [3, 3, 3, 4]);
    const bias = tf.tensor1d(seededFor([4], 123));
    const y = tf.conv2d(x, w, stride, pad);
    const fused = tf.fused.conv2d({ x, filter: w, strides: stride, pad, bias, activation: 'relu' });
    const r = tf.tensor(seededFor(y.shape, 124), y.shape);
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad), r)),
    )([x, w]);
    return readAll([y, fused, gx, gw]);
  });
}

describe('batch split across the wasm helper thread', () => {
  const savedMinMacs = parallelTuning.minMacs;

  beforeAll(async () => {
    await initBackend('wasm', { wasmThreads: 2, wasmThreadMode: 'helper' });
    parallelTuning.minMacs = 0;
  });

  afterAll(async () => {
    parallelTuning.minMacs = savedMinMacs;
    await initBackend('wasm', { wasmThreads: 1 });
  });

  it('should run a helper thread when two threads are requested', () => {
    expect(wasmHelper()).toBeDefined();
  });

  for (const [stride, pad] of [
    [1, 'same'],
    [2, 'valid'],
  ] as const) {
    it(`should match the cpu backend when convolutions with stride ${stride}, pad ${pad} are split`, async () => {
      const want = await onBackend('cpu', () => convSuite(stride, pad));
      const got = await onBackend('wasm', () => convSuite(stride, pad));
      const names = ['conv', 'fused', 'dx', 'dw'];
      for (let k = 0; k < 4; k++)
        expect(relativeError(got[k], want[k]), names[k]).toBeLessThan(TOLERANCE);
    });
  }

  it('should leave tensor and data-id counts flat when called 20 times', async () => {
    await onBackend('wasm', () => undefined);
    expect(growth(() => void convSuite(1, 'same'))).toEqual({ tensors: 0, dataIds: 0 });
  });

  it('should report a kernel that fails in the worker and stay usable', async () => {
    const helper = wasmHelper();
    expect(helper).toBeDefined();
    helper?.start('NoSuchKernel', { x: { shape: [2], fill: (d) => d.set([1, 2]) } }, {}, 2);
    expect(() => helper?.finish()).toThrow(/NoSuchKernel failed in the worker/);
    await onBackend('wasm', () => undefined);
    const want = await onBackend('cpu', () => convSuite(1, 'same'));
    const got = await onBackend('wasm', () => convSuite(1, 'same'));
    expect(relativeError(got[0], want[0])).toBeLessThan(TOLERANCE);
  });
});
