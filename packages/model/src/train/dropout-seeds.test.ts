import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../backend/index.js';
import { tf } from '../tf.js';
import { reseedDropout } from './dropout-seeds.js';

beforeAll(async () => {
  await initBackend('wasm');
});

function dropoutModel(seed?: number): tf.LayersModel {
  const input = tf.input({ shape: [64] });
  const output = tf.layers.dropout({ rate: 0.5, seed }).apply(input) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}

/** The units a training-mode pass keeps, as 0/1. */
function mask(model: tf.LayersModel): number[] {
  return tf.tidy(() => Array.from((model.apply(tf.ones([1, 64]), { training: true }) as tf.Tensor).dataSync(), (v) => (v > 0 ? 1 : 0)));
}

describe('reseedDropout', () => {
  it('should draw a new mask each step and the same mask for the same step', () => {
    const model = dropoutModel(7);
    // Unchanged, a seeded layer repeats its mask.
    expect(mask(model)).toEqual(mask(model));
    const before = tf.memory().numTensors;
    reseedDropout(model, 0);
    const first = mask(model);
    reseedDropout(model, 1);
    const second = mask(model);
    expect(second).not.toEqual(first);
    reseedDropout(model, 0);
    expect(mask(model)).toEqual(first);
    // The same base seed in another model gives the same mask at the same step.
    const other = dropoutModel(7);
    reseedDropout(other, 1);
    expect(mask(other)).toEqual(second);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    other.dispose();
  });

  it('should leave a layer built without a seed to draw at random', () => {
    const model = dropoutModel();
    reseedDropout(model, 3);
    expect((model.layers[1] as unknown as { seed?: number }).seed).toBeUndefined();
    model.dispose();
  });
});
