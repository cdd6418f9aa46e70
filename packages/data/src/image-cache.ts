/**
 * Decoded images kept in memory up to a byte budget, least recently used evicted first. Keys are
 * usually `path + preprocessing key`, so a change of preprocessing never reads stale pixels.
 *
 * @example
 * const cache = new ImageCache(512 * 1024 * 1024); // 512 MiB
 * for await (const batch of batches(samples, labels, train, { ...opts, cache })) { … }
 * cache.hits; // grows from the second epoch on
 */
export class ImageCache {
  readonly budgetBytes: number;
  readonly #entries = new Map<string, Float32Array>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  /**
   * @param budgetBytes Most bytes of pixel data held at once; 0 caches nothing, `Infinity`
   *   never evicts.
   */
  constructor(budgetBytes: number) {
    if (!(budgetBytes >= 0)) {
      throw new RangeError(`ImageCache budget ${budgetBytes}: expected a number >= 0 (bytes)`);
    }
    this.budgetBytes = budgetBytes;
  }

  /** Bytes of pixel data held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Number of images held now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Lookups that found an image. */
  get hits(): number {
    return this.#hits;
  }

  /** Lookups that found nothing. */
  get misses(): number {
    return this.#misses;
  }

  /** Returns the cached image and marks it most recently used; counts a hit or a miss. */
  get(key: string): Float32Array | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  /**
   * Stores an image, evicting the least recently used ones until it fits. An image larger than
   * the whole budget is not stored. The array is kept as is: do not modify it afterwards.
   */
  set(key: string, value: Float32Array): void {
    this.delete(key);
    if (value.byteLength > this.budgetBytes) return;
    for (const [oldKey] of this.#entries) {
      if (this.#bytes + value.byteLength <= this.budgetBytes) break;
      this.delete(oldKey);
    }
    this.#entries.set(key, value);
    this.#bytes += value.byteLength;
  }

  /** Removes one image; returns whether it was there. */
  delete(key: string): boolean {
    const value = this.#entries.get(key);
    if (value === undefined) return false;
    this.#entries.delete(key);
    this.#bytes -= value.byteLength;
    return true;
  }

  /** Empties the cache; counters are kept. */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}
