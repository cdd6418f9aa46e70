/**
 * Shared helpers for the backend tests: seeded data, cross-backend runs and
 * error measures.
 */
import * as tf from '@tensorflow/tfjs';

import { registerWasmKernels } from '../wasm-kernels.js';

/** Deterministic uniform values in [-1, 1) from a 32-bit LCG. */
export function seededValues(size: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

/** Seeded values for a tensor shape. */
export function seededFor(shape: number[], seed: number): Float32Array {
  return seededValues(tf.util.sizeFromShape(shape), seed);
}

/** Largest absolute difference divided by the reference's largest magnitude. */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / (scale || 1);
}

/** Switches to `name` (registering polyhead's wasm kernels first) and runs `f`. */
export async function onBackend<T>(name: 'cpu' | 'wasm', f: () => T): Promise<T> {
  if (name === 'wasm') registerWasmKernels();
  await tf.setBackend(name);
  return f();
}

/** Reads tensors back as plain arrays and disposes them. */
export function readAll(tensors: tf.Tensor[]): Float32Array[] {
  const out = tensors.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(tensors);
  return out;
}

/** Runs `f` `times` times and reports tensor and data-id growth on the active backend. */
export function growth(f: () => void, times = 20): { tensors: number; dataIds: number } {
  f();
  const tensors = tf.memory().numTensors;
  const dataIds = tf.backend().numDataIds();
  for (let i = 0; i < times; i++) f();
  return {
    tensors: tf.memory().numTensors - tensors,
    dataIds: tf.backend().numDataIds() - dataIds,
  };
}

/**
 * Spreads a `[kh, kw, a, b]` filter onto a grid with `d - 1` zeros between
 * taps: a convolution with it equals one with the original at dilation `d`,
 * which gives a cpu reference for dilated gradients (tfjs' own refuse them).
 */
export function spreadTaps(w: tf.Tensor4D, d: number): tf.Tensor4D {
  const [kh, kw, a, b] = w.shape;
  const out = tf.buffer([(kh - 1) * d + 1, (kw - 1) * d + 1, a, b], 'float32');
  const v = w.arraySync();
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      for (let p = 0; p < a; p++)
        for (let q = 0; q < b; q++) out.set(v[i][j][p][q], i * d, j * d, p, q);
    }
  }
  return out.toTensor() as tf.Tensor4D;
}

/** Runs `f` with the fields of a tuning object changed as in `change`, then restores them. */
export async function withTuning<T extends object, R>(
  tuning: T,
  change: Partial<T>,
  f: () => R | Promise<R>,
): Promise<R> {
  const saved = { ...tuning };
  Object.assign(tuning, change);
  try {
    return await f();
  } finally {
    Object.assign(tuning, saved);
  }
}
