import { describe, expect, it } from 'vitest';

import { createRng, deriveSeed, randomInt, shuffleInPlace } from './prng.js';

function take(rng: () => number, n: number): number[] {
  return Array.from({ length: n }, () => rng());
}

describe('createRng', () => {
  it('should repeat the same sequence when given the same seed', () => {
    expect(take(createRng(7), 20)).toEqual(take(createRng(7), 20));
  });

  it('should give floats in [0, 1) that spread over the range when drawn many times', () => {
    const values = take(createRng(123), 10_000);
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
  });
});

describe('deriveSeed', () => {
  it('should give different seeds when the stream or the seed changes', () => {
    const seeds = new Set<number>();
    for (let seed = 0; seed < 10; seed++) {
      for (let stream = 0; stream < 10; stream++) seeds.add(deriveSeed(seed, stream));
    }
    expect(seeds.size).toBe(100);
  });

  it('should mix in the high bits when the seed exceeds 32 bits', () => {
    expect(deriveSeed(2 ** 32 + 5, 0)).not.toBe(deriveSeed(5, 0));
  });
});

describe('shuffleInPlace', () => {
  it('should return a permutation of its input when shuffling', () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const shuffled = shuffleInPlace([...items], createRng(1));
    expect(shuffled).not.toEqual(items);
    expect([...shuffled].sort((a, b) => a - b)).toEqual(items);
  });

  it('should keep randomInt within bounds when n is small', () => {
    const rng = createRng(3);
    const seen = new Set(Array.from({ length: 500 }, () => randomInt(rng, 8)));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
