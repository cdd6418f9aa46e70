/**
 * `Tile` for the wasm backend as block copies. The backend's own kernel
 * computes an index per element and dominates the BatchNorm gradient, which
 * tiles a per-channel vector across the whole activation.
 */
import * as tf from '@tensorflow/tfjs';

import { type KernelArgs, type WasmKernelFunc, typedView } from './wasm-heap.js';

type Numeric = Float32Array | Int32Array | Uint8Array;

/**
 * Fills `out` (shape `inShape[d] * reps[d]` per axis) with copies of `x`.
 * Each axis first places the input's slices once, then doubles the filled
 * block with `copyWithin` until all repetitions are written.
 */
export function tileInto(x: Numeric, out: Numeric, inShape: number[], reps: number[]): void {
  const rank = inShape.length;
  if (rank === 0) {
    out.fill(x[0] ?? 0);
    return;
  }
  const outStrides = new Array<number>(rank);
  const inStrides = new Array<number>(rank);
  outStrides[rank - 1] = 1;
  inStrides[rank - 1] = 1;
  for (let d = rank - 2; d >= 0; d--) {
    outStrides[d] = outStrides[d + 1] * inShape[d + 1] * reps[d + 1];
    inStrides[d] = inStrides[d + 1] * inShape[d + 1];
  }
  const fill = (d: number, src: number, dst: number): void => {
    const size = inShape[d];
    const block = size * outStrides[d];
    if (d === rank - 1) {
      out.set(x.subarray(src, src + size), dst);
    } else {
      for (let k = 0; k < size; k++) fill(d + 1, src + k * inStrides[d], dst + k * outStrides[d]);
    }
    const total = block * reps[d];
    for (let done = block; done < total; done *= 2) {
      out.copyWithin(dst + done, dst, dst + Math.min(done, total - done));
    }
  };
  fill(0, 0, 0);
}

/** Builds the `Tile` kernel function; strings go to the backend's own kernel. */
export function makeTile(fallback: WasmKernelFunc | undefined): WasmKernelFunc {
  return (args: KernelArgs) => {
    const { backend } = args;
    const x = args.inputs['x'];
    if (x === undefined) throw new Error('Tile: expected input x');
    const reps = (args.attrs?.['reps'] ?? []) as number[];
    if (x.dtype === 'string' || x.dtype === 'complex64' || reps.length !== x.shape.length) {
      if (fallback === undefined) throw new Error(`Tile (wasm): dtype ${x.dtype} is not supported`);
      return fallback(args);
    }
    const outShape = x.shape.map((s, d) => s * reps[d]);
    const out = backend.makeOutput(outShape, x.dtype);
    if (tf.util.sizeFromShape(outShape) > 0) {
      tileInto(typedView(backend, x), typedView(backend, out), x.shape, reps);
    }
    return out;
  };
}
