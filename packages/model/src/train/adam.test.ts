import { beforeAll, describe, expect, it } from 'vitest';

import { tf } from '../tf.js';
import { Adam } from './adam.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function quadraticGrads(vars: tf.Variable[]): Map<tf.Variable, tf.Tensor> {
  const { value, grads } = tf.variableGrads(() => tf.addN(vars.map((v, i) => tf.sum(tf.mul(tf.square(tf.sub(v, i + 1)), i + 1)))) as tf.Scalar, vars);
  value.dispose();
  return new Map(vars.map((v) => [v, grads[v.name]!]));
}

describe('Adam', () => {
  it('should match tfjs Adam step for step when every variable is updated', () => {
    const ours = [tf.variable(tf.tensor1d([0.5, -1, 2])), tf.variable(tf.tensor2d([[1, 2], [3, 4]]))];
    const theirs = ours.map((v) => tf.variable(v.clone()));
    const adam = new Adam({ learningRate: 0.05 });
    const reference = tf.train.adam(0.05, 0.9, 0.999, 1e-7);
    for (let step = 0; step < 10; step++) {
      const g = quadraticGrads(ours);
      adam.apply(g);
      tf.dispose([...g.values()]);
      reference.minimize(() => tf.addN(theirs.map((v, i) => tf.sum(tf.mul(tf.square(tf.sub(v, i + 1)), i + 1)))) as tf.Scalar, false, theirs);
    }
    ours.forEach((v, i) => {
      const a = v.dataSync();
      const b = theirs[i]!.dataSync();
      a.forEach((x, j) => expect(x).toBeCloseTo(b[j]!, 5));
    });
    adam.dispose();
    reference.dispose();
    tf.dispose([...ours, ...theirs]);
  });

  it('should leave a variable, its moments and its clock untouched when it gets no gradient', async () => {
    const a = tf.variable(tf.tensor1d([1, 2]));
    const b = tf.variable(tf.tensor1d([3, 4]));
    const adam = new Adam({ learningRate: 0.1 });
    let g = quadraticGrads([a, b]);
    adam.apply(g);
    tf.dispose([...g.values()]);
    const before = { b: Array.from(b.dataSync()), state: await adam.getState() };
    g = quadraticGrads([a]);
    adam.apply(g);
    tf.dispose([...g.values()]);
    expect(Array.from(b.dataSync())).toEqual(before.b);
    const after = await adam.getState();
    const slotB = after.slots.find((s) => s.name === b.name)!;
    expect(slotB.t).toBe(1);
    expect(Array.from(slotB.m)).toEqual(Array.from(before.state.slots.find((s) => s.name === b.name)!.m));
    expect(after.slots.find((s) => s.name === a.name)!.t).toBe(2);
    adam.dispose();
    tf.dispose([a, b]);
  });

  it('should not leak tensors across steps', () => {
    const v = tf.variable(tf.tensor1d([1, 2, 3]));
    const adam = new Adam();
    const g0 = quadraticGrads([v]);
    adam.apply(g0);
    tf.dispose([...g0.values()]);
    const count = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      const g = quadraticGrads([v]);
      adam.apply(g);
      tf.dispose([...g.values()]);
    }
    expect(tf.memory().numTensors).toBe(count);
    adam.dispose();
    v.dispose();
  });
});
