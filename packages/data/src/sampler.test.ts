import { describe, expect, it } from 'vitest';

import { balancedIndices } from './sampler.js';

/** 100 samples: 80 of class 0, 15 of class 1, 4 of class 2, one unlabelled. */
const labels = Int32Array.from({ length: 100 }, (_, i) => (i < 80 ? 0 : i < 95 ? 1 : i < 99 ? 2 : -1));
const all = Array.from({ length: 100 }, (_, i) => i);

function classCounts(order: number[]): number[] {
  const counts = [0, 0, 0, 0];
  for (const i of order) counts[labels[i]! + 1]!++;
  return counts; // [unlabelled, class 0, class 1, class 2]
}

describe('balancedIndices', () => {
  it('should draw every class equally often and keep unlabelled samples once', () => {
    const order = balancedIndices(labels, all, { seed: 3 });
    expect(order).toHaveLength(100);
    const [unlabelled, ...perClass] = classCounts(order);
    expect(unlabelled).toBe(1);
    expect(perClass.sort()).toEqual([33, 33, 33]);
  });

  it('should draw with replacement inside a rare class and from the given indices only', () => {
    const order = balancedIndices(labels, [0, 1, 2, 95, 96], { seed: 1 });
    expect(order).toHaveLength(5);
    expect(order.every((i) => [0, 1, 2, 95, 96].includes(i))).toBe(true);
    const rare = order.filter((i) => i >= 95);
    expect(rare.length === 2 || rare.length === 3).toBe(true);
  });

  it('should repeat for the same seed and epoch and differ for another epoch', () => {
    const a = balancedIndices(labels, all, { seed: 7, epoch: 2 });
    expect(balancedIndices(labels, all, { seed: 7, epoch: 2 })).toEqual(a);
    expect(balancedIndices(labels, all, { seed: 7, epoch: 3 })).not.toEqual(a);
  });

  it('should reject an index beyond the labels', () => {
    expect(() => balancedIndices(labels, [100], { seed: 0 })).toThrow(/Sample index 100 is out of range/);
  });
});
