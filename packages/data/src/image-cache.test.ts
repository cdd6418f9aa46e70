import { describe, expect, it } from 'vitest';
import { ImageCache } from './image-cache.js';

/** A Float32Array of n values (4n bytes) filled with `fill`. */
const floats = (n: number, fill = 0) => new Float32Array(n).fill(fill);

describe('ImageCache', () => {
  it('should count hits and misses when looking up', () => {
    const cache = new ImageCache(1024);
    expect(cache.get('a')).toBeUndefined();
    cache.set('a', floats(4, 1));
    expect(cache.get('a')?.[0]).toBe(1);
    expect([cache.hits, cache.misses, cache.size, cache.bytes]).toEqual([1, 1, 1, 16]);
  });

  it('should evict the least recently used entries when the budget is exceeded', () => {
    const cache = new ImageCache(48); // three 16-byte entries
    cache.set('a', floats(4));
    cache.set('b', floats(4));
    cache.set('c', floats(4));
    cache.get('a'); // b is now the oldest
    cache.set('d', floats(4));
    expect(cache.get('b')).toBeUndefined();
    expect(['a', 'c', 'd'].every((key) => cache.get(key) !== undefined)).toBe(true);
    expect([cache.size, cache.bytes]).toEqual([3, 48]);
  });

  it('should never hold more bytes than its budget', () => {
    const cache = new ImageCache(100);
    for (let i = 0; i < 50; i++) {
      cache.set(`k${i}`, floats(1 + (i % 7)));
      expect(cache.bytes).toBeLessThanOrEqual(100);
    }
  });

  it('should not store an entry larger than the whole budget', () => {
    const cache = new ImageCache(8);
    cache.set('big', floats(3));
    expect([cache.size, cache.bytes]).toEqual([0, 0]);
  });

  it('should replace an entry when the key is set again', () => {
    const cache = new ImageCache(64);
    cache.set('a', floats(4));
    cache.set('a', floats(2, 5));
    expect([cache.size, cache.bytes, cache.get('a')?.[0]]).toEqual([1, 8, 5]);
  });

  it('should reject a negative or NaN budget', () => {
    expect(() => new ImageCache(-1)).toThrow(RangeError);
    expect(() => new ImageCache(Number.NaN)).toThrow(RangeError);
  });
});
