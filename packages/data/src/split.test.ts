import { describe, expect, it } from 'vitest';
import { DataError } from './errors.js';
import { stratifiedSplit } from './split.js';

/** 50 × a, 30 × b, 15 × c, 4 × d, 1 × e, interleaved. */
const keys = [
  ...Array<string>(50).fill('a'),
  ...Array<string>(30).fill('b'),
  ...Array<string>(15).fill('c'),
  ...Array<string>(4).fill('d'),
  'e',
];
const interleaved = keys.map((_, i) => keys[(i * 37) % keys.length]!);

function countBy(indices: number[], of: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const i of indices) counts[of[i]!] = (counts[of[i]!] ?? 0) + 1;
  return counts;
}

describe('stratifiedSplit', () => {
  it('should be disjoint, cover every index and return sorted lists', () => {
    const { train, val } = stratifiedSplit(interleaved, { valFraction: 0.2, seed: 1 });
    expect([...train, ...val].sort((a, b) => a - b)).toEqual(interleaved.map((_, i) => i));
    expect(train.filter((i) => val.includes(i))).toEqual([]);
    expect(train).toEqual([...train].sort((a, b) => a - b));
    expect(val).toEqual([...val].sort((a, b) => a - b));
  });

  it('should split each stratum in proportion and keep a singleton in training', () => {
    const { train, val } = stratifiedSplit(interleaved, { valFraction: 0.2, seed: 1 });
    expect(val).toHaveLength(20);
    expect(countBy(val, interleaved)).toEqual({ a: 10, b: 6, c: 3, d: 1 });
    expect(countBy(train, interleaved)).toEqual({ a: 40, b: 24, c: 12, d: 3, e: 1 });
  });

  it('should give the same split for the same seed and another for another seed', () => {
    const a = stratifiedSplit(interleaved, { valFraction: 0.2, seed: 9 });
    expect(stratifiedSplit(interleaved, { valFraction: 0.2, seed: 9 })).toEqual(a);
    expect(stratifiedSplit(interleaved, { valFraction: 0.2, seed: 10 }).val).not.toEqual(a.val);
  });

  it('should give small strata a validation sample before larger remainders', () => {
    // Shares at 0.2: x 0.4, y 0.4, z 1.8; total round(2.6) = 3, so z gets 1 and x, y one each.
    const small = ['x', 'x', 'y', 'y', ...Array<string>(9).fill('z')];
    const { val } = stratifiedSplit(small, { valFraction: 0.2, seed: 4 });
    expect(countBy(val, small)).toEqual({ x: 1, y: 1, z: 1 });
  });

  it('should default to a fifth in validation when valFraction is omitted', () => {
    expect(stratifiedSplit(Array<string>(10).fill('k'), { seed: 2 }).val).toHaveLength(2);
  });

  it('should put everything in training when valFraction is 0', () => {
    const { train, val } = stratifiedSplit(['a', 'a', 'b'], { valFraction: 0, seed: 2 });
    expect([train, val]).toEqual([[0, 1, 2], []]);
  });

  it.each([-0.1, 1, Number.NaN])('should reject valFraction %s', (valFraction) => {
    expect(() => stratifiedSplit(['a'], { valFraction, seed: 1 })).toThrow(DataError);
  });
});
