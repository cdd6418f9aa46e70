/**
 * `MaxPoolGrad` for the wasm backend, on polyhead's own kernel
 * (`assembly/kernels.ts`): each output gradient goes to the first maximum of
 * its window, in the same scan order as the cpu backend, so ties (frequent
 * after a ReLU) resolve identically. The common 2x2, stride-2 window runs four
 * channels at a time; large batches are split by images with the kernel
 * worker of `own-kernels.ts`.
 */
import * as tf from '@tensorflow/tfjs';

import { poolGeometry } from './conv-geometry.js';
import { ownKernels, runShared } from './own-kernels.js';
import { type KernelArgs, type WasmKernelFunc, heapIndex } from './wasm-heap.js';

/** Tuning of the pooling gradient. */
export const maxPoolGradTuning = {
  /** Fewest input elements for the kernel worker to take half of the images; default 256 Ki. */
  minSplitElements: 1 << 18,
};

/** Builds the `MaxPoolGrad` kernel function; non-float inputs use the backend's own. */
export function makeMaxPoolGrad(fallback: WasmKernelFunc | undefined): WasmKernelFunc {
  return (args: KernelArgs) => {
    const { backend } = args;
    const { dy, input } = args.inputs;
    if (dy === undefined || input === undefined)
      throw new Error('MaxPoolGrad: expected inputs dy and input');
    if (input.dtype !== 'float32' || dy.dtype !== 'float32') {
      if (fallback === undefined)
        throw new Error(`MaxPoolGrad (wasm): dtype ${input.dtype} is not supported`);
      return fallback(args);
    }
    const attrs = (args.attrs ?? {}) as Record<string, unknown>;
    const g = poolGeometry(
      input.shape,
      attrs['filterSize'] as number | [number, number],
      attrs['strides'] as number | [number, number],
      attrs['pad'] as 'same' | 'valid' | number,
      attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined,
    );
    const dx = backend.makeOutput(input.shape, 'float32');
    const size = tf.util.sizeFromShape(input.shape);
    if (size === 0) return dx;
    const call = (first: number, end: number) => [
      heapIndex(backend, input) * 4,
      heapIndex(backend, dy) * 4,
      heapIndex(backend, dx) * 4,
      first,
      end,
      g.inH,
      g.inW,
      g.inC,
      g.outH,
      g.outW,
      g.kh,
      g.kw,
      g.strideH,
      g.strideW,
      g.dilationH,
      g.dilationW,
      g.padTop,
      g.padLeft,
    ];
    const kernels = ownKernels(backend);
    const split =
      kernels.worker !== undefined && g.batch > 1 && size >= maxPoolGradTuning.minSplitElements;
    const half = split ? Math.ceil(g.batch / 2) : g.batch;
    runShared(kernels, 'maxPoolGrad', call(0, half), split ? call(half, g.batch) : undefined);
    return dx;
  };
}
