/**
 * A small deterministic PRNG (mulberry32): the same seed gives the same sequence on every
 * platform, which keeps splits and shuffles reproducible.
 *
 * @param seed Any number; it is reduced to an unsigned 32-bit integer.
 * @returns A function yielding floats in [0, 1).
 * @example
 * const rng = createRng(42);
 * rng(); // same value on every run
 */
export function createRng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Derives an independent seed from a base seed and a counter (an epoch, say), so that
 * consecutive epochs do not get overlapping sequences.
 */
export function deriveSeed(seed: number, counter: number): number {
  let h = (seed >>> 0) ^ Math.imul((counter >>> 0) + 1, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Fisher–Yates shuffle driven by `rng`; returns the same array. */
export function shuffleInPlace<T>(items: T[], rng: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = items[i]!;
    items[i] = items[j]!;
    items[j] = tmp;
  }
  return items;
}
