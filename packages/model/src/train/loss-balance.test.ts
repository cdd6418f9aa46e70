import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../backend/index.js';
import { buildNetwork } from '../network.js';
import { tf } from '../tf.js';
import { syntheticFeed, syntheticSet, syntheticSpec } from '../test-utils/synthetic.js';
import { createLossBalancer } from './loss-balance.js';
import { train } from './trainer.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const spec = syntheticSpec();

describe('uncertainty balancing', () => {
  it('should learn to weigh down a head whose loss is scaled by 100', async () => {
    const set = syntheticSet(320, 12, 1);
    const learnedRatio = async (scale: number) => {
      const net = buildNetwork(spec, { seed: 3 });
      const result = await train(net, syntheticFeed(set, 32, 64), {
        epochs: 8,
        batchSize: 32,
        learningRate: 1e-2,
        lossWeights: [scale, 1],
        lossBalance: 'uncertainty',
      });
      net.model.dispose();
      const last = result.history.at(-1)!;
      return last.heads.color!.weight / last.heads.type!.weight;
    };
    const plain = await learnedRatio(1);
    const scaled = await learnedRatio(100);
    // the given weights differ 100-fold; the learned precisions must absorb at least a factor 10
    expect(scaled / plain).toBeLessThan(10);
  });
});

describe('dynamic weight averaging', () => {
  it('should give more weight to the head whose loss fell least', () => {
    const balancer = createLossBalancer({ kind: 'dwa', weights: [1, 1] });
    balancer.endEpoch([1, 1]);
    expect(balancer.effectiveWeights()).toEqual([1, 1]);
    balancer.endEpoch([0.9, 0.5]);
    const [slow, fast] = balancer.effectiveWeights();
    const expectedSlow = (2 * Math.exp(0.9 / 2)) / (Math.exp(0.9 / 2) + Math.exp(0.5 / 2));
    expect(slow).toBeCloseTo(expectedSlow, 12);
    expect(slow! + fast!).toBeCloseTo(2, 12);
  });

  it('should compose the total from the effective weights', () => {
    const balancer = createLossBalancer({ kind: 'fixed', weights: [2, 0.5] });
    const total = tf.tidy(() => balancer.total([tf.scalar(3), tf.scalar(4)]).dataSync()[0]);
    expect(total).toBe(8);
  });
});
