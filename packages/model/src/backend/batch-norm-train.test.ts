import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { growth, onBackend, readAll, relativeError, seededFor } from './__tests__/helpers.js';
import { FastBatchNormalization, batchNormalization } from './batch-norm-layer.js';
import { batchNormTraining } from './batch-norm-train.js';

const TOLERANCE = 1e-4;
const EPS = 1e-3;

// Channel counts with four-lane groups only, groups and a tail, and a tail only; an
// offset far from zero checks that the moments do not cancel catastrophically.
const shapes: Array<{ x: number[]; offset: number }> = [
  { x: [4, 6, 5, 8], offset: 0 },
  { x: [3, 5, 7, 6], offset: 5 },
  { x: [2, 3, 3, 3], offset: -2 },
  { x: [40, 12], offset: 1 },
];

function inputs(shape: number[], offset: number): tf.Tensor[] {
  const c = shape[shape.length - 1]!;
  return [
    tf.add(tf.tensor(seededFor(shape, 61), shape), offset),
    tf.add(tf.tensor(seededFor([c], 62), [c]), 1),
    tf.tensor(seededFor([c], 63), [c]),
    tf.tensor(seededFor(shape, 64), shape),
  ];
}

/** Output, batch moments and the gradients of `sum(y * r)` by the stock ops. */
function stock(shape: number[], offset: number): Float32Array[] {
  return tf.tidy(() => {
    const [x, g, o, r] = inputs(shape, offset);
    const axes = shape.slice(0, -1).map((_, d) => d);
    const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, axes);
      return tf.batchNorm(a, mean, variance, c, b, EPS);
    };
    const { mean, variance } = tf.moments(x!, axes);
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(a, b, c), r!)))([x!, g!, o!]);
    return readAll([f(x!, g!, o!), mean, variance, ...grads]);
  });
}

function fused(shape: number[], offset: number): Float32Array[] {
  return tf.tidy(() => {
    const [x, g, o, r] = inputs(shape, offset);
    const { y, mean, variance } = batchNormTraining(x!, g!, o!, EPS);
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(tf.mul(batchNormTraining(a, b, c, EPS).y, r!)),
    )([x!, g!, o!]);
    return readAll([y, mean, variance, ...grads]);
  });
}

describe('fused training-mode BatchNorm on wasm', () => {
  for (const { x, offset } of shapes) {
    it(`should match the stock ops on cpu (output, moments, dx, dScale, dOffset) for x ${x.join('x')}, offset ${offset}`, async () => {
      const want = await onBackend('cpu', () => stock(x, offset));
      const got = await onBackend('wasm', () => fused(x, offset));
      const names = ['y', 'mean', 'variance', 'dx', 'dScale', 'dOffset'];
      names.forEach((name, k) => expect(relativeError(got[k]!, want[k]!), name).toBeLessThan(TOLERANCE));
    });
  }

  it('should leave tensor and data-id counts flat over 20 forward and backward passes', async () => {
    await onBackend('wasm', () => undefined);
    const [x, g, o, r] = inputs([4, 6, 5, 8], 1);
    const step = () =>
      tf.tidy(() => {
        const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          tf.sum(tf.mul(batchNormTraining(a, b, c, EPS).y, r!)),
        )([x!, g!, o!]);
        grads.forEach((t) => t.dataSync());
      });
    expect(growth(step)).toEqual({ tensors: 0, dataIds: 0 });
    tf.dispose([x!, g!, o!, r!]);
  });

  it('should train like the stock layer: same output and moving statistics after a training call', async () => {
    const run = (make: () => tf.layers.Layer) =>
      tf.tidy(() => {
        const layer = make();
        const x = tf.add(tf.tensor(seededFor([3, 4, 4, 8], 65), [3, 4, 4, 8]), 2);
        layer.apply(x, { training: false });
        const y = layer.apply(x, { training: true }) as tf.Tensor;
        const weights = layer.getWeights();
        return readAll([y, ...weights]);
      });
    const want = await onBackend('cpu', () => run(() => tf.layers.batchNormalization({ momentum: 0.9 })));
    const got = await onBackend('wasm', () => run(() => batchNormalization({ momentum: 0.9 })));
    // y, gamma, beta, moving mean, moving variance.
    want.forEach((w, k) => expect(relativeError(got[k]!, w), `tensor ${k}`).toBeLessThan(TOLERANCE));
  });

  it('should save as the stock BatchNormalization and load back as the fast layer', async () => {
    await onBackend('wasm', () => undefined);
    const input = tf.input({ shape: [4, 4, 3] });
    const model = tf.model({ inputs: input, outputs: batchNormalization({ name: 'bn' }).apply(input) as tf.SymbolicTensor });
    const json = model.toJSON(undefined, false) as { config: { layers: Array<{ class_name: string }> } };
    expect(json.config.layers.map((l) => l.class_name)).toEqual(['InputLayer', 'BatchNormalization']);
    const loaded = await tf.models.modelFromJSON({ modelTopology: json } as unknown as tf.io.ModelJSON);
    expect(loaded.getLayer('bn')).toBeInstanceOf(FastBatchNormalization);
    model.dispose();
    loaded.dispose();
  });
});
