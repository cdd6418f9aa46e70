import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { growth, onBackend, relativeError, seededFor } from './__tests__/helpers.js';

const cases: Array<{ a: number[]; b: number[]; ta: boolean; tb: boolean }> = [
  { a: [7, 5], b: [7, 3], ta: true, tb: false },
  { a: [4, 9], b: [6, 9], ta: false, tb: true },
  { a: [9, 4], b: [6, 9], ta: true, tb: true },
  { a: [33, 40], b: [40, 35], ta: false, tb: false },
  { a: [3, 6, 4], b: [3, 6, 5], ta: true, tb: false },
  { a: [2, 4, 70], b: [2, 3, 70], ta: false, tb: true },
];

function product(c: (typeof cases)[number]): Float32Array {
  return tf.tidy(() => {
    const a = tf.tensor(seededFor(c.a, 51), c.a);
    const b = tf.tensor(seededFor(c.b, 52), c.b);
    return Float32Array.from(tf.matMul(a, b, c.ta, c.tb).dataSync());
  });
}

describe('BatchMatMul on wasm', () => {
  for (const c of cases) {
    it(`should match the cpu backend when a [${c.a.join(', ')}] (transposeA ${c.ta}) meets b [${c.b.join(', ')}] (transposeB ${c.tb})`, async () => {
      const want = await onBackend('cpu', () => product(c));
      const got = await onBackend('wasm', () => product(c));
      expect(relativeError(got, want)).toBeLessThan(1e-5);
    });
  }

  it('should leave tensor and data-id counts flat when called 20 times', async () => {
    await onBackend('wasm', () => undefined);
    const a = tf.tensor(seededFor([8, 5], 53), [8, 5]);
    const b = tf.tensor(seededFor([6, 5], 54), [6, 5]);
    expect(growth(() => tf.tidy(() => tf.matMul(a, b, false, true).dataSync()))).toEqual({
      tensors: 0,
      dataIds: 0,
    });
    tf.dispose([a, b]);
  });
});
