import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { growth, onBackend, relativeError, seededFor } from './__tests__/helpers.js';

const shape = [3, 5, 4, 6];
const axesCases: Array<number | number[]> = [
  [0, 1, 2],
  [1, 2],
  3,
  0,
  [2, 3],
  [0, 2],
  [-1],
  [0, 1, 2, 3],
];

function reduced(op: 'sum' | 'mean', axis: number | number[], keepDims: boolean): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor(seededFor(shape, 31), shape);
    const y = op === 'sum' ? tf.sum(x, axis, keepDims) : tf.mean(x, axis, keepDims);
    return Float32Array.from(y.dataSync());
  });
}

describe('Sum and Mean on wasm', () => {
  for (const op of ['sum', 'mean'] as const) {
    for (const axis of axesCases) {
      for (const keepDims of [false, true]) {
        it(`should match the cpu backend when ${op} runs over axes ${JSON.stringify(axis)} with keepDims ${keepDims}`, async () => {
          const want = await onBackend('cpu', () => reduced(op, axis, keepDims));
          const got = await onBackend('wasm', () => reduced(op, axis, keepDims));
          expect(relativeError(got, want)).toBeLessThan(1e-5);
        });
      }
    }
  }

  it('should stay within 1e-4 of the cpu backend when a sum runs over 65536 rows', async () => {
    const big = [64, 32, 32, 8];
    const run = () =>
      tf.tidy(() =>
        Float32Array.from(tf.sum(tf.tensor(seededFor(big, 33), big), [0, 1, 2]).dataSync()),
      );
    const want = await onBackend('cpu', run);
    const got = await onBackend('wasm', run);
    expect(relativeError(got, want)).toBeLessThan(1e-4);
  });

  it('should keep the output shape and int32 sums of the stock kernel', async () => {
    await onBackend('wasm', () => undefined);
    const shapes = tf.tidy(() => {
      const x = tf.ones([2, 3, 4]);
      return [tf.sum(x, [0, 1], true).shape, tf.mean(x, [1, 2]).shape, tf.sum(x).shape];
    });
    expect(shapes).toEqual([[1, 1, 4], [2], []]);
    const ints = tf.tidy(() =>
      Array.from(
        tf
          .sum(
            tf.tensor(
              [
                [1, 2],
                [3, 4],
              ],
              undefined,
              'int32',
            ),
            0,
          )
          .dataSync(),
      ),
    );
    expect(ints).toEqual([4, 6]);
  });

  it('should leave tensor and data-id counts flat when called 20 times', async () => {
    await onBackend('wasm', () => undefined);
    const x = tf.tensor(seededFor(shape, 32), shape);
    expect(
      growth(() => tf.tidy(() => tf.add(tf.sum(x, [0, 1, 2]), tf.mean(x, [1, 2])).dataSync())),
    ).toEqual({
      tensors: 0,
      dataIds: 0,
    });
    x.dispose();
  });
});
