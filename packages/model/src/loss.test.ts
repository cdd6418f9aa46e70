import { beforeAll, describe, expect, it } from 'vitest';

import {
  balancedClassWeights,
  balancedLabelWeights,
  countKnown,
  maskedBinaryCrossEntropy,
  maskedCrossEntropy,
} from './loss.js';
import { tf } from './tf.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function ce(logits: number[], label: number): number {
  const max = Math.max(...logits);
  const lse = Math.log(logits.reduce((a, l) => a + Math.exp(l - max), 0)) + max;
  return lse - logits[label]!;
}

describe('maskedCrossEntropy', () => {
  const rows = [
    [2, 0.5, -1],
    [0.1, 0.2, 0.3],
    [-2, 3, 0],
  ];

  it('should average only over samples whose label is known', () => {
    const loss = tf.tidy(() =>
      maskedCrossEntropy(tf.tensor2d(rows), tf.tensor1d([0, -1, 1], 'int32'), 2).dataSync()[0]!,
    );
    expect(loss).toBeCloseTo((ce(rows[0]!, 0) + ce(rows[2]!, 1)) / 2, 6);
  });

  it('should give an unknown-label sample zero gradient', () => {
    const grad = tf.tidy(() => {
      const g = tf.grad((l: tf.Tensor) => maskedCrossEntropy(l as tf.Tensor2D, tf.tensor1d([0, -1, 1], 'int32'), 2));
      return g(tf.tensor2d(rows)).arraySync() as number[][];
    });
    expect(grad[1]!.every((g) => g === 0)).toBe(true);
    expect(Math.abs(grad[0]![0]!)).toBeGreaterThan(0.01);
  });

  it('should be exactly 0 with zero gradient when no sample has a label', () => {
    const [value, grad] = tf.tidy(() => {
      const f = (l: tf.Tensor) => maskedCrossEntropy(l as tf.Tensor2D, tf.tensor1d([-1, -1, -1], 'int32'), 0);
      const { value, grad } = tf.valueAndGrad(f)(tf.tensor2d(rows));
      return [value.dataSync()[0]!, Array.from(grad.dataSync())];
    });
    expect(value).toBe(0);
    expect(grad.every((g) => g === 0)).toBe(true);
  });

  it('should scale each term by the weight of its true class', () => {
    const loss = tf.tidy(() =>
      maskedCrossEntropy(tf.tensor2d(rows), tf.tensor1d([0, 2, 1], 'int32'), 3, tf.tensor1d([1, 3, 0.5])).dataSync()[0]!,
    );
    const expected = (ce(rows[0]!, 0) * 1 + ce(rows[1]!, 2) * 0.5 + ce(rows[2]!, 1) * 3) / 3;
    expect(loss).toBeCloseTo(expected, 5);
  });

  it('should leave no tensors behind', () => {
    const before = tf.memory().numTensors;
    const logits = tf.tensor2d(rows);
    const labels = tf.tensor1d([0, -1, 1], 'int32');
    for (let i = 0; i < 5; i++) maskedCrossEntropy(logits, labels, 2).dispose();
    tf.dispose([logits, labels]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('balancedClassWeights', () => {
  it('should give n / (k * n_c) for 30 red and 6 blue', () => {
    const labels = Int32Array.from([...new Array(6).fill(0), ...new Array(30).fill(1)]);
    expect(Array.from(balancedClassWeights(labels, 2))).toEqual([3, 0.6]);
  });

  it('should ignore unknown labels and weigh absent classes 0', () => {
    const w = balancedClassWeights(Int32Array.from([0, 0, -1, 2]), 3);
    expect(Array.from(w)).toEqual([0.75, 0, 1.5]);
    expect(countKnown(Int32Array.from([0, -1, 2, -1]))).toBe(2);
  });
});

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
/** Binary cross-entropy of one logit, straight from the definition. */
const bce = (z: number, y: number) => -y * Math.log(sigmoid(z)) - (1 - y) * Math.log(1 - sigmoid(z));

describe('maskedBinaryCrossEntropy', () => {
  const logits = [
    [2, -1],
    [0.5, 0.3],
    [-1.5, 2.5],
  ];
  const targets = [
    [1, 0],
    [0, 1],
    [1, 1],
  ];
  // row 1 is unknown (-1); rows 0 and 2 list one and two labels
  const known = [1, -1, 2];
  const run = (count: number, rows = known, weights?: number[]) =>
    tf.tidy(() => {
      const f = (l: tf.Tensor) =>
        maskedBinaryCrossEntropy(
          l as tf.Tensor2D,
          tf.tensor2d(targets),
          tf.tensor1d(rows, 'int32'),
          count,
          weights ? tf.tensor1d(weights) : undefined,
        );
      const { value, grad } = tf.valueAndGrad(f)(tf.tensor2d(logits));
      return { value: value.dataSync()[0]!, grad: grad.arraySync() as number[][] };
    });

  it('should average the per-label terms of the known rows as the definition gives', () => {
    const { value } = run(2);
    const row0 = (bce(2, 1) + bce(-1, 0)) / 2;
    const row2 = (bce(-1.5, 1) + bce(2.5, 1)) / 2;
    expect(value).toBeCloseTo((row0 + row2) / 2, 6);
  });

  it('should give the gradient (σ(z) − y) / (k · count) on known rows and 0 on unknown ones', () => {
    const { grad } = run(2);
    for (const i of [0, 2]) {
      for (const c of [0, 1]) expect(grad[i]![c]!).toBeCloseTo((sigmoid(logits[i]![c]!) - targets[i]![c]!) / 4, 6);
    }
    expect(grad[1]).toEqual([0, 0]);
  });

  it('should be exactly 0 with zero gradient when no row is known', () => {
    const { value, grad } = run(0, [-1, -1, -1]);
    expect(value).toBe(0);
    expect(grad.flat().every((g) => g === 0)).toBe(true);
  });

  it('should scale each label by its weight', () => {
    const { value } = run(2, known, [2, 0.5]);
    const row0 = (2 * bce(2, 1) + 0.5 * bce(-1, 0)) / 2;
    const row2 = (2 * bce(-1.5, 1) + 0.5 * bce(2.5, 1)) / 2;
    expect(value).toBeCloseTo((row0 + row2) / 2, 6);
  });

  it('should stay finite and leave no tensors behind for large logits', () => {
    const before = tf.memory().numTensors;
    const value = tf.tidy(() =>
      maskedBinaryCrossEntropy(tf.tensor2d([[200, -200]]), tf.tensor2d([[0, 1]]), tf.tensor1d([1], 'int32'), 1).dataSync()[0]!,
    );
    expect(value).toBeCloseTo(200, 4);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('balancedLabelWeights', () => {
  it('should give n / (k * n_c) over positive rows of known rows, and 1 to a label that never occurs', () => {
    // label 0 in 3 rows, label 1 in 1 row, label 2 in none; the last row is unknown
    const targets = Float32Array.from([1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 1]);
    const w = balancedLabelWeights(targets, Int32Array.from([1, 2, 1, -1]), 3);
    expect(Array.from(w)).toEqual([4 / 6, 2, 1]);
  });
});
