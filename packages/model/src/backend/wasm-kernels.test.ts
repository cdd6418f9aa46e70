import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { growth, onBackend, seededFor } from './__tests__/helpers.js';
import { WASM_KERNEL_NAMES, registerWasmKernels } from './wasm-kernels.js';

/** Two-head classifier in miniature: conv, BatchNorm, max-pool, conv, GAP, two softmax heads. */
function smallCnn(size: number): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3] });
  let h = tf.layers
    .conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' })
    .apply(input);
  h = tf.layers.batchNormalization().apply(h);
  h = tf.layers.maxPooling2d({ poolSize: 2 }).apply(h);
  h = tf.layers
    .conv2d({ filters: 12, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' })
    .apply(h);
  h = tf.layers.globalAveragePooling2d({}).apply(h);
  const a = tf.layers.dense({ units: 4, activation: 'softmax' }).apply(h) as tf.SymbolicTensor;
  const b = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [a, b] });
}

/** MobileNet-style block: strided depthwise conv, BatchNorm, ReLU6, pointwise conv. */
function separableCnn(size: number): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3] });
  let h = tf.layers
    .conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false })
    .apply(input);
  h = tf.layers
    .depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', useBias: false })
    .apply(h);
  h = tf.layers.batchNormalization().apply(h);
  h = tf.layers.reLU({ maxValue: 6 }).apply(h);
  h = tf.layers.conv2d({ filters: 16, kernelSize: 1, activation: 'relu' }).apply(h);
  h = tf.layers.globalAveragePooling2d({}).apply(h);
  const out = tf.layers.dense({ units: 5, activation: 'softmax' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** Overwrites every weight with seeded values so that two backends start from the same point. */
function seedWeights(model: tf.LayersModel): void {
  const values = model.weights.map((w, k) => {
    const shape = w.shape as number[];
    if (/gamma|variance/.test(w.name)) return tf.ones(shape);
    return tf.tensor(
      seededFor(shape, 100 + k).map((v) => v * 0.3),
      shape,
    );
  });
  model.setWeights(values);
  tf.dispose(values);
}

function oneHot(batch: number, classes: number, seed: number): tf.Tensor2D {
  const ids = Array.from(
    seededFor([batch], seed),
    (v) => Math.floor(((v + 1) / 2) * classes) % classes,
  );
  return tf.oneHot(tf.tensor1d(ids, 'int32'), classes).toFloat() as tf.Tensor2D;
}

/** Trains with `optimizer.minimize` and returns the per-step losses and the growth over later steps. */
function train(model: tf.LayersModel, x: tf.Tensor, ys: tf.Tensor[], steps: number, lr = 0.01) {
  const optimizer = tf.train.adam(lr);
  const step = (): number => {
    const loss = optimizer.minimize(() => {
      const outs = model.apply(x, { training: true }) as tf.Tensor | tf.Tensor[];
      const list = Array.isArray(outs) ? outs : [outs];
      return tf.addN(list.map((o, k) => tf.losses.softmaxCrossEntropy(ys[k], o))) as tf.Scalar;
    }, true);
    const value = loss === null ? NaN : loss.dataSync()[0];
    loss?.dispose();
    return value;
  };
  const losses: number[] = [];
  const leak = growth(() => void losses.push(step()), steps - 1);
  optimizer.dispose();
  return { losses, leak };
}

describe('registerWasmKernels', () => {
  it('should register every listed kernel once when called twice', async () => {
    registerWasmKernels();
    const first = WASM_KERNEL_NAMES.map((n) => tf.getKernel(n, 'wasm')?.kernelFunc);
    registerWasmKernels();
    const second = WASM_KERNEL_NAMES.map((n) => tf.getKernel(n, 'wasm')?.kernelFunc);
    expect(first.every((f) => typeof f === 'function')).toBe(true);
    expect(second).toEqual(first);
  });

  it('should train a small conv + BatchNorm + max-pool + GAP model with falling loss and no leaks', async () => {
    await onBackend('wasm', () => undefined);
    const model = smallCnn(16);
    // Fixed weights: from a random start the loss falls by a random amount.
    seedWeights(model);
    const x = tf.tensor4d(seededFor([8, 16, 16, 3], 61), [8, 16, 16, 3]);
    const ys = [oneHot(8, 4, 62), oneHot(8, 3, 63)];
    const { losses, leak } = train(model, x, ys, 12);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] * 0.8);
    expect(leak).toEqual({ tensors: 0, dataIds: 0 });
    tf.dispose([x, ...ys]);
    model.dispose();
  });

  it('should follow the cpu loss curve and lower the loss when training a depthwise-separable block', async () => {
    const run = (backend: 'cpu' | 'wasm') =>
      onBackend(backend, () => {
        const model = separableCnn(16);
        seedWeights(model);
        const x = tf.tensor4d(seededFor([6, 16, 16, 3], 64), [6, 16, 16, 3]);
        const ys = [oneHot(6, 5, 65)];
        const result = train(model, x, ys, 8, 0.05);
        tf.dispose([x, ...ys]);
        model.dispose();
        return result;
      });
    const want = await run('cpu');
    const got = await run('wasm');
    expect(got.leak).toEqual({ tensors: 0, dataIds: 0 });
    for (let i = 0; i < got.losses.length; i++)
      expect(got.losses[i]).toBeCloseTo(want.losses[i], 3);
    expect(got.losses[got.losses.length - 1]).toBeLessThan(got.losses[0]);
  });

  it('should train through tf.layers fit-style trainOnBatch without leaking', async () => {
    await onBackend('wasm', () => undefined);
    const model = smallCnn(12);
    model.compile({
      optimizer: tf.train.adam(0.01),
      loss: ['categoricalCrossentropy', 'categoricalCrossentropy'],
    });
    const x = tf.tensor4d(seededFor([4, 12, 12, 3], 66), [4, 12, 12, 3]);
    const ys = [oneHot(4, 4, 67), oneHot(4, 3, 68)];
    const first = ((await model.trainOnBatch(x, ys)) as number[])[0];
    let last = first;
    for (let i = 0; i < 10; i++) last = ((await model.trainOnBatch(x, ys)) as number[])[0];
    expect(last).toBeLessThan(first);
    const before = { tensors: tf.memory().numTensors, dataIds: tf.backend().numDataIds() };
    for (let i = 0; i < 5; i++) await model.trainOnBatch(x, ys);
    expect({
      tensors: tf.memory().numTensors - before.tensors,
      dataIds: tf.backend().numDataIds() - before.dataIds,
    }).toEqual({
      tensors: 0,
      dataIds: 0,
    });
    tf.dispose([x, ...ys]);
    model.dispose();
  });
});
