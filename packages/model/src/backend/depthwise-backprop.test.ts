import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import {
  growth,
  onBackend,
  readAll,
  relativeError,
  seededFor,
  spreadTaps,
} from './__tests__/helpers.js';

interface DepthwiseCase {
  x: [number, number, number, number];
  w: [number, number, number, number];
  stride: number;
  pad: 'same' | 'valid';
}

const TOLERANCE = 1e-4;

const cases: DepthwiseCase[] = [
  { x: [1, 6, 6, 1], w: [3, 3, 1, 1], stride: 1, pad: 'same' },
  { x: [2, 9, 7, 3], w: [3, 3, 3, 1], stride: 1, pad: 'valid' },
  { x: [2, 8, 8, 5], w: [3, 3, 5, 2], stride: 2, pad: 'same' },
  { x: [3, 9, 9, 4], w: [5, 5, 4, 1], stride: 2, pad: 'valid' },
  { x: [2, 7, 8, 3], w: [2, 2, 3, 3], stride: 1, pad: 'same' },
  { x: [1, 11, 10, 7], w: [3, 3, 7, 1], stride: 3, pad: 'same' },
  { x: [2, 10, 9, 16], w: [3, 3, 16, 1], stride: 2, pad: 'same' },
  { x: [3, 8, 8, 6], w: [4, 4, 6, 1], stride: 2, pad: 'valid' },
];

function depthwiseAndGrads(c: DepthwiseCase): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(seededFor(c.x, 11), c.x);
    const w = tf.tensor4d(seededFor(c.w, 12), c.w);
    const y = tf.depthwiseConv2d(x, w, c.stride, c.pad);
    const r = tf.tensor(seededFor(y.shape, 13), y.shape);
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), r)),
    )([x, w]);
    return readAll([y, gx, gw]);
  });
}

describe('DepthwiseConv2dNativeBackpropFilter / Input on wasm', () => {
  for (const c of cases) {
    it(`should match the cpu backend when x ${c.x.join('x')}, w ${c.w.join('x')}, stride ${c.stride}, pad ${c.pad}`, async () => {
      const want = await onBackend('cpu', () => depthwiseAndGrads(c));
      const got = await onBackend('wasm', () => depthwiseAndGrads(c));
      for (let k = 0; k < 3; k++)
        expect(relativeError(got[k], want[k]), ['y', 'dx', 'dw'][k]).toBeLessThan(TOLERANCE);
    });
  }

  for (const mult of [1, 2]) {
    it(`should match a zero-spread filter on cpu when dilation is 2 and the multiplier ${mult}`, async () => {
      const xs: [number, number, number, number] = [2, 9, 8, 3];
      const ws: [number, number, number, number] = [3, 3, 3, mult];
      const dy = seededFor([2, 9, 8, 3 * mult], 14);
      const want = await onBackend('cpu', () =>
        tf.tidy(() => {
          const x = tf.tensor4d(seededFor(xs, 15), xs);
          const w = tf.tensor4d(seededFor(ws, 16), ws);
          const wd = spreadTaps(w, 2);
          const r = tf.tensor4d(dy, [2, 9, 8, 3 * mult]);
          const [gx, gwd] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
            tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'), r)),
          )([x, wd]);
          return readAll([gx, tf.stridedSlice(gwd, [0, 0, 0, 0], gwd.shape, [2, 2, 1, 1])]);
        }),
      );
      const got = await onBackend('wasm', () =>
        tf.tidy(() => {
          const x = tf.tensor4d(seededFor(xs, 15), xs);
          const w = tf.tensor4d(seededFor(ws, 16), ws);
          const r = tf.tensor4d(dy, [2, 9, 8, 3 * mult]);
          const attrs = { strides: 1, pad: 'same', dilations: 2 };
          const gx = tf
            .engine()
            .runKernel(
              'DepthwiseConv2dNativeBackpropInput',
              { dy: r, filter: w },
              { ...attrs, inputShape: xs },
            );
          const gw = tf
            .engine()
            .runKernel(
              'DepthwiseConv2dNativeBackpropFilter',
              { x, dy: r },
              { ...attrs, filterShape: ws },
            );
          return readAll([gx as tf.Tensor, gw as tf.Tensor]);
        }),
      );
      expect(relativeError(got[0], want[0])).toBeLessThan(TOLERANCE);
      expect(relativeError(got[1], want[1])).toBeLessThan(TOLERANCE);
    });
  }

  it('should leave tensor and data-id counts flat when called 20 times', async () => {
    await onBackend('wasm', () => undefined);
    const x = tf.tensor4d(seededFor([2, 8, 8, 4], 17), [2, 8, 8, 4]);
    const w = tf.tensor4d(seededFor([3, 3, 4, 2], 18), [3, 3, 4, 2]);
    const step = () => {
      tf.tidy(() => {
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')),
        )([x, w]);
        gx.dataSync();
        gw.dataSync();
      });
    };
    expect(growth(step)).toEqual({ tensors: 0, dataIds: 0 });
    tf.dispose([x, w]);
  });
});
