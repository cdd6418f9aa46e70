import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { Adam } from '../train/adam.js';
import { growth, onBackend, relativeError, seededFor } from './__tests__/helpers.js';

const TOLERANCE = 1e-5;

/** Values of two variables after `steps` Adam updates with seeded gradients. */
function adamSteps(steps: number, weightDecay: number): Float32Array[] {
  const shapes = [[3, 3, 4, 5], [7]];
  const vars = shapes.map((s, i) => tf.variable(tf.tensor(seededFor(s, 90 + i), s)));
  const adam = new Adam({ learningRate: 0.01, weightDecay });
  for (let step = 0; step < steps; step++) {
    const grads = tf.tidy(() => vars.map((v, i) => tf.tensor(seededFor(v.shape, 100 * step + i), v.shape)));
    adam.apply(new Map(vars.map((v, i) => [v, grads[i]!])));
    tf.dispose(grads);
  }
  const out = vars.map((v) => Float32Array.from(v.dataSync()));
  adam.dispose();
  tf.dispose(vars);
  return out;
}

describe('PolyheadAdamUpdate on wasm', () => {
  for (const weightDecay of [0, 0.05]) {
    it(`should follow the unfused update on cpu when weight decay is ${weightDecay}`, async () => {
      const want = await onBackend('cpu', () => adamSteps(6, weightDecay));
      const got = await onBackend('wasm', () => adamSteps(6, weightDecay));
      want.forEach((w, i) => expect(relativeError(got[i]!, w)).toBeLessThan(TOLERANCE));
    });
  }

  it('should be the kernel Adam takes on wasm', async () => {
    await onBackend('wasm', () => undefined);
    expect(tf.getKernel('PolyheadAdamUpdate', 'wasm')).toBeDefined();
    expect(tf.getKernel('PolyheadAdamUpdate', 'cpu')).toBeUndefined();
  });

  it('should leave tensor and data-id counts flat when called 20 times', async () => {
    await onBackend('wasm', () => undefined);
    const v = tf.variable(tf.tensor(seededFor([4, 6], 7), [4, 6]));
    const g = tf.tensor(seededFor([4, 6], 8), [4, 6]);
    const adam = new Adam();
    expect(growth(() => adam.apply(new Map([[v, g]])))).toEqual({ tensors: 0, dataIds: 0 });
    adam.dispose();
    tf.dispose([v, g]);
  });
});
