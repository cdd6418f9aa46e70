import { describe, expect, it } from 'vitest';
import { createRng, deriveSeed, shuffleInPlace } from './rng.js';

describe('createRng', () => {
  it('should give the same sequence when given the same seed', () => {
    const a = createRng(42);
    const b = createRng(42);
    const first = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(first);
    expect(Array.from({ length: 5 }, createRng(43))).not.toEqual(first);
  });

  it('should stay in [0, 1) and spread evenly over many draws', () => {
    const rng = createRng(7);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i++) {
      const x = rng();
      expect(x >= 0 && x < 1).toBe(true);
      buckets[Math.floor(x * 10)]!++;
    }
    for (const count of buckets) expect(Math.abs(count - 1000)).toBeLessThan(150);
  });
});

describe('deriveSeed', () => {
  it('should give distinct seeds for distinct counters and the same seed for the same input', () => {
    const seeds = Array.from({ length: 100 }, (_, epoch) => deriveSeed(1, epoch));
    expect(new Set(seeds).size).toBe(100);
    expect(deriveSeed(1, 5)).toBe(seeds[5]);
  });
});

describe('shuffleInPlace', () => {
  it('should return a reproducible permutation of the same array', () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    const shuffled = shuffleInPlace(items, createRng(3));
    expect(shuffled).toBe(items);
    expect([...shuffled].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(shuffled).not.toEqual(Array.from({ length: 20 }, (_, i) => i));
    const again = shuffleInPlace(
      Array.from({ length: 20 }, (_, i) => i),
      createRng(3),
    );
    expect(again).toEqual(shuffled);
  });
});
