import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { growth, onBackend, readAll, relativeError, seededFor } from './__tests__/helpers.js';

const cases: Array<{
  x: [number, number, number, number];
  size: number;
  stride: number;
  pad: 'same' | 'valid';
  ties: boolean;
}> = [
  { x: [2, 8, 8, 3], size: 2, stride: 2, pad: 'valid', ties: false },
  { x: [2, 8, 8, 4], size: 2, stride: 2, pad: 'valid', ties: true },
  { x: [1, 7, 9, 5], size: 3, stride: 2, pad: 'same', ties: false },
  { x: [3, 6, 6, 1], size: 3, stride: 1, pad: 'same', ties: true },
  { x: [2, 9, 7, 2], size: 2, stride: 3, pad: 'valid', ties: false },
  { x: [2, 9, 7, 3], size: 2, stride: 2, pad: 'valid', ties: true },
  { x: [1, 7, 9, 2], size: 2, stride: 2, pad: 'same', ties: false },
  { x: [2, 6, 8, 6], size: 2, stride: 2, pad: 'valid', ties: true },
  { x: [2, 9, 7, 8], size: 2, stride: 2, pad: 'valid', ties: true },
  { x: [2, 6, 6, 4], size: 2, stride: 1, pad: 'valid', ties: true },
];

function poolAndGrad(c: (typeof cases)[number]): Float32Array[] {
  return tf.tidy(() => {
    // Values on a coarse grid tie often, so the first-maximum rule is exercised.
    const values = seededFor(c.x, 41).map((v) => (c.ties ? Math.round(v * 2) / 2 : v));
    const x = tf.tensor(values, c.x) as tf.Tensor4D;
    const f = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, c.size, c.stride, c.pad);
    const y = f(x);
    const r = tf.tensor(seededFor(y.shape, 42), y.shape);
    const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a), r)))(x);
    return readAll([y, dx]);
  });
}

describe('MaxPoolGrad on wasm', () => {
  for (const c of cases) {
    it(`should match the cpu backend when x ${c.x.join('x')}, pool ${c.size}, stride ${c.stride}, pad ${c.pad}${c.ties ? ' with tied maxima' : ''}`, async () => {
      const want = await onBackend('cpu', () => poolAndGrad(c));
      const got = await onBackend('wasm', () => poolAndGrad(c));
      expect(relativeError(got[0], want[0])).toBeLessThan(1e-6);
      expect(relativeError(got[1], want[1])).toBeLessThan(1e-6);
    });
  }

  it('should leave tensor and data-id counts flat when called 20 times', async () => {
    await onBackend('wasm', () => undefined);
    const x = tf.tensor4d(seededFor([2, 8, 8, 3], 43), [2, 8, 8, 3]);
    const step = () =>
      tf.tidy(() =>
        tf
          .grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid')))(x)
          .dataSync(),
      );
    expect(growth(step)).toEqual({ tensors: 0, dataIds: 0 });
    x.dispose();
  });
});
