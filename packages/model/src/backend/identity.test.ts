import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { growth, onBackend } from './__tests__/helpers.js';

describe('Identity and Cast on wasm', () => {
  it('should keep a clone readable after the source is disposed', async () => {
    await onBackend('wasm', () => undefined);
    const a = tf.tensor([1, 2, 3]);
    const b = tf.clone(a);
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    b.dispose();
  });

  it('should convert values when the dtype changes', async () => {
    await onBackend('wasm', () => undefined);
    const out = tf.tidy(() => [
      Array.from(tf.cast(tf.tensor([1.7, -2.2, 0]), 'int32').dataSync()),
      Array.from(tf.cast(tf.tensor([3, 0], undefined, 'int32'), 'bool').dataSync()),
      Array.from(tf.cast(tf.tensor([3, 0], undefined, 'int32'), 'float32').dataSync()),
    ]);
    expect(out).toEqual([
      [1, -2, 0],
      [1, 0],
      [3, 0],
    ]);
  });

  it('should free shared data once every holder is disposed when called 20 times', async () => {
    await onBackend('wasm', () => undefined);
    const step = () => {
      const a = tf.randomNormal([4, 4]);
      const b = tf.clone(a);
      const c = tf.cast(b, 'float32');
      a.dispose();
      tf.dispose([b, c]);
    };
    expect(growth(step)).toEqual({ tensors: 0, dataIds: 0 });
  });

  it('should keep variables independent when one is assigned from a clone', async () => {
    await onBackend('wasm', () => undefined);
    const v = tf.variable(tf.tensor([1, 2]));
    const snapshot = tf.clone(v);
    v.assign(tf.tensor([5, 6]));
    expect(Array.from(snapshot.dataSync())).toEqual([1, 2]);
    expect(Array.from(v.dataSync())).toEqual([5, 6]);
    tf.dispose([v, snapshot]);
  });
});
