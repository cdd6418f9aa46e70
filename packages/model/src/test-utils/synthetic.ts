import type { Batch } from '@polyhead/data';

import { networkSpec } from '../network.js';
import type { NetworkSpec } from '../spec.js';
import type { TrainFeed } from '../train/trainer.js';

/** Colours and shapes of the synthetic two-head images used in tests. */
export const SYNTH_COLORS = ['red', 'green', 'blue'] as const;
export const SYNTH_SHAPES = ['square', 'frame', 'cross'] as const;

/** In-memory images: a coloured shape on black, with its two labels. */
export interface SyntheticSet {
  size: number;
  x: Float32Array;
  color: Int32Array;
  shape: Int32Array;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** `n` images of side `size` with seeded random colour, shape and jitter. */
export function syntheticSet(n: number, size: number, seed: number): SyntheticSet {
  const rand = lcg(seed);
  const x = new Float32Array(n * size * size * 3);
  const color = new Int32Array(n);
  const shape = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    color[i] = Math.floor(rand() * 3);
    shape[i] = Math.floor(rand() * 3);
    const intensity = 0.6 + 0.4 * rand();
    const lo = 1 + Math.floor(rand() * 2);
    const hi = size - 2 - Math.floor(rand() * 2);
    const mid = Math.floor(size / 2);
    for (let y = 0; y < size; y++) {
      for (let xx = 0; xx < size; xx++) {
        const inside = y >= lo && y <= hi && xx >= lo && xx <= hi;
        let on = false;
        if (shape[i] === 0) on = inside;
        else if (shape[i] === 1) on = inside && (y === lo || y === hi || xx === lo || xx === hi);
        else on = inside && (Math.abs(y - mid) <= 0 || Math.abs(xx - mid) <= 0);
        const base = ((i * size + y) * size + xx) * 3;
        for (let ch = 0; ch < 3; ch++) x[base + ch] = (on && ch === color[i] ? intensity : 0) + 0.05 * rand();
      }
    }
  }
  return { size, x, color, shape };
}

/** Batches over a synthetic set, optionally hiding labels (-1) of some samples. */
export function syntheticBatches(
  set: SyntheticSet,
  indices: number[],
  batchSize: number,
  hide: { color?: (i: number) => boolean; shape?: (i: number) => boolean } = {},
): Batch[] {
  const per = set.size * set.size * 3;
  const out: Batch[] = [];
  for (let start = 0; start < indices.length; start += batchSize) {
    const idx = indices.slice(start, start + batchSize);
    const x = new Float32Array(idx.length * per);
    idx.forEach((s, j) => x.set(set.x.subarray(s * per, (s + 1) * per), j * per));
    out.push({
      x,
      shape: [idx.length, set.size, set.size, 3],
      labels: [
        Int32Array.from(idx, (s) => (hide.color?.(s) ? -1 : set.color[s]!)),
        Int32Array.from(idx, (s) => (hide.shape?.(s) ? -1 : set.shape[s]!)),
      ],
      indices: idx,
    });
  }
  return out;
}

/** A {@link TrainFeed} over a synthetic set split into train and validation halves. */
export function syntheticFeed(set: SyntheticSet, batchSize: number, valCount: number): TrainFeed {
  const n = set.color.length;
  const train = Array.from({ length: n - valCount }, (_, i) => i);
  const val = Array.from({ length: valCount }, (_, i) => n - valCount + i);
  return {
    trainSize: train.length,
    train: (epoch, fromBatch = 0) => iterate(syntheticBatches(set, rotate(train, epoch * 7), batchSize).slice(fromBatch)),
    val: () => iterate(syntheticBatches(set, val, 64)),
  };
}

function rotate(a: number[], k: number): number[] {
  const s = k % a.length;
  return [...a.slice(s), ...a.slice(0, s)];
}

async function* iterate(items: Batch[]): AsyncGenerator<Batch> {
  for (const item of items) yield item;
}

/** Shapes of the synthetic multi-label images; the tags of an image are the shapes it shows. */
export const SYNTH_TAGS = ['square', 'frame', 'cross'] as const;

/** In-memory images with any subset of the three shapes, and their multi-hot tags. */
export interface MultiLabelSet {
  size: number;
  x: Float32Array;
  /** Row-major [n, 3] 0/1: which shapes each image shows. */
  tags: Float32Array;
}

/**
 * `n` images of side `size` (at least 12), each shape present with chance
 * one half, in its own quadrant and of a random colour; some images show none.
 */
export function multiLabelSet(n: number, size: number, seed: number): MultiLabelSet {
  const rand = lcg(seed);
  const x = new Float32Array(n * size * size * 3);
  const tags = new Float32Array(n * 3);
  const half = Math.floor(size / 2);
  for (let i = 0; i < n; i++) {
    const quadrants = [0, 1, 2, 3];
    for (let j = 3; j > 0; j--) {
      const k = Math.floor(rand() * (j + 1));
      [quadrants[j], quadrants[k]] = [quadrants[k]!, quadrants[j]!];
    }
    for (let s = 0; s < 3; s++) {
      if (rand() < 0.5) continue;
      tags[i * 3 + s] = 1;
      const q = quadrants[s]!;
      const top = (q >> 1) * half + 1;
      const left = (q & 1) * half + 1;
      const span = half - 2;
      const mid = Math.floor(span / 2);
      const channel = Math.floor(rand() * 3);
      for (let y = 0; y < span; y++) {
        for (let xx = 0; xx < span; xx++) {
          const edge = y === 0 || xx === 0 || y === span - 1 || xx === span - 1;
          const on = s === 0 || (s === 1 ? edge : y === mid || xx === mid);
          if (on) x[((i * size + top + y) * size + left + xx) * 3 + channel] = 0.9;
        }
      }
    }
    for (let j = i * size * size * 3; j < (i + 1) * size * size * 3; j++) x[j]! += 0.05 * rand();
  }
  return { size, x, tags };
}

/** A {@link TrainFeed} over a multi-label set with a single `tags` head; the last `valCount` images validate. */
export function multiLabelFeed(set: MultiLabelSet, batchSize: number, valCount: number): TrainFeed {
  const n = set.tags.length / 3;
  const per = set.size * set.size * 3;
  const make = (idx: number[]): Batch => ({
    x: Float32Array.from(idx.flatMap((s) => Array.from(set.x.subarray(s * per, (s + 1) * per)))),
    shape: [idx.length, set.size, set.size, 3],
    labels: [Int32Array.from(idx, (s) => set.tags[s * 3]! + set.tags[s * 3 + 1]! + set.tags[s * 3 + 2]!)],
    targets: [Float32Array.from(idx.flatMap((s) => Array.from(set.tags.subarray(s * 3, s * 3 + 3))))],
    indices: idx,
  });
  const chunks = (idx: number[], size: number) =>
    Array.from({ length: Math.ceil(idx.length / size) }, (_, b) => make(idx.slice(b * size, (b + 1) * size)));
  const train = Array.from({ length: n - valCount }, (_, i) => i);
  const val = Array.from({ length: valCount }, (_, i) => n - valCount + i);
  const valBatches = chunks(val, 64);
  return {
    trainSize: train.length,
    train: (epoch) => iterate(chunks(rotate(train, epoch * 7), batchSize)),
    val: () => iterate(valBatches),
  };
}

/** The two-head (color, type) network the tests train on 12 px synthetic images. */
export function syntheticSpec(): NetworkSpec {
  return networkSpec({
    inputSize: 12,
    backbone: { width: 8, depth: 2 },
    heads: [
      { name: 'color', labels: [...SYNTH_COLORS] },
      { name: 'type', labels: [...SYNTH_SHAPES] },
    ],
  });
}
