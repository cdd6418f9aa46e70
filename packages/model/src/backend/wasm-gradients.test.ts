import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { growth, onBackend, readAll, relativeError, seededFor } from './__tests__/helpers.js';

const TOLERANCE = 1e-4;

/** Gradients of `sum(batchNorm(x, mean, variance, offset, scale) * r)` for all five inputs. */
function batchNormGrads(xShape: number[], paramShape: number[]): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor(seededFor(xShape, 71), xShape);
    const mean = tf.tensor(seededFor(paramShape, 72), paramShape);
    const variance = tf.add(tf.abs(tf.tensor(seededFor(paramShape, 73), paramShape)), 0.1);
    const offset = tf.tensor(seededFor(paramShape, 74), paramShape);
    const scale = tf.tensor(seededFor(paramShape, 75), paramShape);
    const r = tf.tensor(seededFor(xShape, 76), xShape);
    const f = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) =>
      tf.sum(tf.mul(tf.batchNorm(a, m, v, o, s, 0.001), r));
    return readAll(tf.grads(f)([x, mean, variance, offset, scale]));
  });
}

/** Training-mode BatchNorm as tf.layers runs it: batch moments feed the normalisation. */
function trainingBatchNormGrads(xShape: number[]): Float32Array[] {
  return tf.tidy(() => {
    const c = xShape[xShape.length - 1];
    const x = tf.tensor(seededFor(xShape, 77), xShape);
    const gamma = tf.tensor(seededFor([c], 78), [c]);
    const beta = tf.tensor(seededFor([c], 79), [c]);
    const r = tf.tensor(seededFor(xShape, 80), xShape);
    const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const axes = xShape.slice(0, -1).map((_, i) => i);
      const { mean, variance } = tf.moments(a, axes);
      return tf.sum(tf.mul(tf.batchNorm(a, mean, variance, b, g, 0.001), r));
    };
    return readAll(tf.grads(f)([x, gamma, beta]));
  });
}

function meanGrad(shape: number[], axis: number | number[], keepDims: boolean): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor(seededFor(shape, 81), shape);
    const y = tf.mean(x, axis, keepDims);
    const r = tf.tensor(seededFor(y.shape, 82), y.shape);
    return readAll([
      tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.mean(a, axis, keepDims), r)))(x),
    ])[0];
  });
}

describe('FusedBatchNorm gradient on wasm', () => {
  for (const [xShape, paramShape] of [
    [[4, 5, 6, 3], [3]],
    [[2, 3, 3, 7], [7]],
    [[9, 5], [5]],
  ]) {
    it(`should match the cpu backend when x is [${xShape.join(', ')}] and the statistics [${paramShape.join(', ')}]`, async () => {
      const want = await onBackend('cpu', () => batchNormGrads(xShape, paramShape));
      const got = await onBackend('wasm', () => batchNormGrads(xShape, paramShape));
      const names = ['dx', 'dMean', 'dVariance', 'dOffset', 'dScale'];
      for (let k = 0; k < 5; k++)
        expect(relativeError(got[k], want[k]), names[k]).toBeLessThan(TOLERANCE);
    });
  }

  it('should match the cpu backend when the statistics are batch moments of x', async () => {
    const want = await onBackend('cpu', () => trainingBatchNormGrads([6, 5, 4, 3]));
    const got = await onBackend('wasm', () => trainingBatchNormGrads([6, 5, 4, 3]));
    for (let k = 0; k < 3; k++) expect(relativeError(got[k], want[k])).toBeLessThan(TOLERANCE);
  });

  it('should leave tensor and data-id counts flat when called 20 times', async () => {
    await onBackend('wasm', () => undefined);
    expect(growth(() => void batchNormGrads([2, 4, 4, 3], [3]))).toEqual({
      tensors: 0,
      dataIds: 0,
    });
  });
});

describe('Mean gradient on wasm', () => {
  for (const [axis, keepDims] of [
    [[0, 1, 2], false],
    [[1, 2], true],
    [3, false],
    [[0, 2], false],
  ] as const) {
    it(`should match the cpu backend when the mean runs over ${JSON.stringify(axis)} with keepDims ${keepDims}`, async () => {
      const ax = typeof axis === 'number' ? axis : [...axis];
      const want = await onBackend('cpu', () => meanGrad([3, 4, 5, 6], ax, keepDims));
      const got = await onBackend('wasm', () => meanGrad([3, 4, 5, 6], ax, keepDims));
      expect(relativeError(got, want)).toBeLessThan(1e-6);
    });
  }

  it('should keep the stock gradient on the cpu backend', async () => {
    const value = await onBackend('cpu', () =>
      tf.tidy(() =>
        Array.from(
          tf
            .grad((a: tf.Tensor) => tf.mean(a))(tf.ones([2, 2]))
            .dataSync(),
        ),
      ),
    );
    expect(value).toEqual([0.25, 0.25, 0.25, 0.25]);
  });
});
