import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../backend/index.js';
import { buildNetwork } from '../network.js';
import { tf } from '../tf.js';
import { syntheticBatches, syntheticSet, syntheticSpec } from '../test-utils/synthetic.js';
import { evaluate, train } from '../train/trainer.js';
import { colourView, hueRotation } from './colour-views.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const constant = (values: number[]) => () => values.shift() ?? 0.5;

describe('colourView', () => {
  let pixels: tf.Tensor4D;
  beforeAll(() => {
    pixels = tf.tensor4d([0.8, 0.2, 0.1, 0.5, 0.5, 0.5], [1, 1, 2, 3]);
  });

  it('should paint each pixel with its brightness times one colour per image when recolouring', () => {
    const out = tf.tidy(() => Array.from(colourView('recolor', 'unit')(pixels, constant([0.2, 1, 0.5])).dataSync()));
    [0.16, 0.8, 0.4, 0.1, 0.5, 0.25].forEach((v, i) => expect(out[i]).toBeCloseTo(v, 6));
  });

  it('should round-trip symmetric scaling', () => {
    const symmetric = tf.tidy(() => tf.sub(tf.mul(pixels, 2), 1) as tf.Tensor4D);
    const out = tf.tidy(() => Array.from(colourView('recolor', 'symmetric')(symmetric, constant([0.2, 1, 0.5])).dataSync()));
    [0.16, 0.8, 0.4, 0.1, 0.5, 0.25].forEach((v, i) => expect((out[i]! + 1) / 2).toBeCloseTo(v, 6));
    symmetric.dispose();
  });

  it('should keep grey grey and be the identity at angle 0 when rotating hue', () => {
    const identity = hueRotation(0);
    [1, 0, 0, 0, 1, 0, 0, 0, 1].forEach((v, i) => expect(identity[i]).toBeCloseTo(v, 5));
    const out = tf.tidy(() => Array.from(colourView('hue', 'unit')(pixels, constant([0.37])).dataSync()));
    for (const v of out.slice(3)) expect(v).toBeCloseTo(0.5, 5);
    expect(Math.abs(out[0]! - 0.8) + Math.abs(out[1]! - 0.2)).toBeGreaterThan(0.1);
  });

  it('should leave no tensors behind', () => {
    const before = tf.memory().numTensors;
    for (const kind of ['recolor', 'hue'] as const) colourView(kind, { mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2] })(pixels, Math.random).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('invariance in training', () => {
  it('should let the type head recognise colour-shape pairs it never saw', async () => {
    const spec = syntheticSpec();
    const set = syntheticSet(900, 12, 1);
    // every colour and every shape is seen, but 3 of the 9 pairs never
    const isUnseen = (i: number) => (set.color[i]! + set.shape[i]!) % 3 === 0;
    const all = Array.from({ length: 900 }, (_, i) => i);
    const seen = all.filter((i) => !isUnseen(i));
    const trainIdx = seen.slice(0, 480);
    const unseen = all.filter(isUnseen);
    const iterate = async function* (indices: number[]) {
      yield* syntheticBatches(set, indices, 32);
    };
    const unseenExactMatch = async (invariant: boolean) => {
      const net = buildNetwork(spec, { seed: 3 });
      await train(net, { trainSize: trainIdx.length, train: () => iterate(trainIdx) }, {
        epochs: 8,
        batchSize: 32,
        learningRate: 1e-2,
        invariance: invariant ? { transform: colourView('recolor', 'unit'), invariantHeads: [1], changedHeads: [0] } : undefined,
      });
      const result = await evaluate(net, iterate(unseen));
      net.model.dispose();
      return result.metrics.exactMatch;
    };
    const plain = await unseenExactMatch(false);
    const invariant = await unseenExactMatch(true);
    expect(plain).toBeLessThan(0.4);
    expect(invariant).toBeGreaterThan(0.7);
  });
});
