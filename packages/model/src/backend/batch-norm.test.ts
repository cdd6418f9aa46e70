import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { growth, onBackend, relativeError, seededFor } from './__tests__/helpers.js';

interface NormCase {
  x: number[];
  params: number[];
  scale: boolean;
  offset: boolean;
}

const cases: NormCase[] = [
  { x: [4, 5, 6, 3], params: [3], scale: true, offset: true },
  { x: [2, 3, 3, 7], params: [7], scale: false, offset: true },
  { x: [9, 5], params: [5], scale: true, offset: false },
  { x: [2, 3, 4, 3], params: [1, 1, 1, 3], scale: true, offset: true },
];

function normalised(c: NormCase): Float32Array {
  return tf.tidy(() => {
    const p = (seed: number) => tf.tensor(seededFor(c.params, seed), c.params);
    const x = tf.tensor(seededFor(c.x, 91), c.x);
    const variance = tf.add(tf.abs(p(93)), 0.1);
    const y = tf.batchNorm(
      x,
      p(92),
      variance,
      c.offset ? p(94) : undefined,
      c.scale ? p(95) : undefined,
      0.001,
    );
    return Float32Array.from(y.dataSync());
  });
}

describe('FusedBatchNorm on wasm', () => {
  for (const c of cases) {
    it(`should match the cpu backend when x is [${c.x.join(', ')}], statistics [${c.params.join(', ')}], scale ${c.scale}, offset ${c.offset}`, async () => {
      const want = await onBackend('cpu', () => normalised(c));
      const got = await onBackend('wasm', () => normalised(c));
      expect(relativeError(got, want)).toBeLessThan(1e-5);
    });
  }

  it('should leave tensor and data-id counts flat when called 20 times', async () => {
    await onBackend('wasm', () => undefined);
    expect(growth(() => void normalised(cases[0]))).toEqual({ tensors: 0, dataIds: 0 });
  });
});
