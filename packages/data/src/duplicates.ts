import { createHash } from 'node:crypto';

import { decodeCached } from './batches.js';
import type { Sample } from './dataset.js';
import type { ImageCache } from './image-cache.js';
import { preprocessingKey, type Preprocessing } from './preprocessing.js';

/** Options of {@link findDuplicates}. */
export interface FindDuplicatesOptions {
  /** Only these sample indices. Default: all. */
  indices?: number[];
  /** Decoded images are read from (and stored in) this cache. */
  cache?: ImageCache;
}

/**
 * Groups samples whose decoded input pixels are identical (the same photo
 * under two names, or re-encoded to the same pixels). Each group lists two or
 * more sample indices, in ascending order; groups are sorted by first index.
 * Images that fail to decode are left out (a check reports them).
 */
export async function findDuplicates(
  samples: Sample[],
  pre: Preprocessing,
  opts: FindDuplicatesOptions = {},
): Promise<number[][]> {
  const key = preprocessingKey(pre);
  const byHash = new Map<string, number[]>();
  for (const index of opts.indices ?? samples.map((_, i) => i)) {
    let pixels: Float32Array;
    try {
      pixels = await decodeCached(samples[index]!, pre, key, opts.cache);
    } catch {
      continue;
    }
    const hash = createHash('sha1').update(new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength)).digest('hex');
    const group = byHash.get(hash);
    if (group) group.push(index);
    else byHash.set(hash, [index]);
  }
  return [...byHash.values()]
    .filter((g) => g.length > 1)
    .map((g) => g.sort((a, b) => a - b))
    .sort((a, b) => a[0]! - b[0]!);
}
