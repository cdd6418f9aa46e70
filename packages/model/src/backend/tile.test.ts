import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { growth, onBackend, seededFor } from './__tests__/helpers.js';

const cases: Array<{ shape: number[]; reps: number[]; dtype: 'float32' | 'int32' | 'bool' }> = [
  { shape: [1, 1, 1, 5], reps: [4, 3, 2, 1], dtype: 'float32' },
  { shape: [2, 3], reps: [3, 2], dtype: 'float32' },
  { shape: [3], reps: [5], dtype: 'int32' },
  { shape: [2, 1, 3], reps: [1, 4, 1], dtype: 'bool' },
  { shape: [2, 2, 2], reps: [1, 1, 1], dtype: 'float32' },
  { shape: [3, 2], reps: [0, 2], dtype: 'float32' },
];

function tiled(c: (typeof cases)[number]): number[] {
  return tf.tidy(() => {
    const values = Array.from(seededFor(c.shape, 21), (v) =>
      c.dtype === 'float32' ? v : Math.round(v * 5),
    );
    return Array.from(tf.tile(tf.tensor(values, c.shape, c.dtype), c.reps).dataSync());
  });
}

describe('Tile on wasm', () => {
  for (const c of cases) {
    it(`should equal the cpu result when ${c.dtype} [${c.shape.join(', ')}] is tiled by [${c.reps.join(', ')}]`, async () => {
      const want = await onBackend('cpu', () => tiled(c));
      const got = await onBackend('wasm', () => tiled(c));
      expect(got).toEqual(want);
    });
  }

  it('should leave tensor and data-id counts flat when called 20 times', async () => {
    await onBackend('wasm', () => undefined);
    const x = tf.tensor([1, 2, 3], [1, 1, 1, 3]);
    expect(growth(() => tf.tidy(() => tf.tile(x, [2, 4, 4, 1]).dataSync()))).toEqual({
      tensors: 0,
      dataIds: 0,
    });
    x.dispose();
  });
});
