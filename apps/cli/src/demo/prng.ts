/**
 * A small seeded random source for the demo datasets. It must give the same
 * numbers on every platform and Node version, so it uses only 32-bit integer
 * arithmetic (`Math.imul`, shifts) and never `Math.random`.
 */

/** A generator of floats in `[0, 1)`; each call advances its state. */
export type Rng = () => number;

const GOLDEN = 0x9e3779b9;

/** Scrambles a 32-bit integer so that nearby inputs give unrelated outputs. */
function scramble(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Combines a user seed with a stream number into a 32-bit seed, so that one
 * user seed can drive several independent sequences (held-out pairs, the
 * colours of each class) that do not shift when another one draws more.
 *
 * Any safe integer is accepted as `seed`; its high bits are mixed in too.
 *
 * @example
 * const rng = createRng(deriveSeed(seed, 3));
 */
export function deriveSeed(seed: number, stream: number): number {
  const low = seed >>> 0;
  const high = Math.floor(seed / 0x1_0000_0000) >>> 0;
  return scramble(scramble(low ^ scramble(high + GOLDEN)) ^ Math.imul(stream + 1, GOLDEN));
}

/**
 * Creates a generator from a 32-bit seed: a Weyl sequence (add a constant
 * each step) passed through {@link scramble}.
 *
 * @example
 * const rng = createRng(42);
 * const coin = rng() < 0.5;
 */
export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + GOLDEN) >>> 0;
    return scramble(state) / 0x1_0000_0000;
  };
}

/** Draws an integer in `[0, n)`. */
export function randomInt(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}

/** Shuffles `items` in place (Fisher–Yates) and returns it. */
export function shuffleInPlace<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1);
    const held = items[i] as T;
    items[i] = items[j] as T;
    items[j] = held;
  }
  return items;
}
