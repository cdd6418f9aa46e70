/**
 * Filter gradient of a 2D convolution on the wasm backend, which ships none.
 *
 * The gradient is a reduction over every output position, which the
 * backend's matrix product handles badly: its right operand, the long side
 * here, is repacked on every call, and costs more than the product itself for
 * a first layer. polyhead's own kernel (`assembly/kernels.ts`) instead reads
 * the input and `dy` where they lie: the input is copied once onto a
 * zero-bordered grid (skipped without padding), after which each kernel tap
 * and input channel reads it at a fixed offset from each output position, and
 * tiles of the `[kh * kw * inC, outC]` gradient sum in SIMD registers over
 * cache-sized blocks of positions. Large gradients are split by rows between
 * this thread and the kernel worker of `own-kernels.ts`.
 */
import * as tf from '@tensorflow/tfjs';

import { convAttrs, convGeometry } from './conv-geometry.js';
import { convLayout } from './conv-layout.js';
import { ownKernels, runShared } from './own-kernels.js';
import { type KernelArgs, heapIndex } from './wasm-heap.js';

/** Tuning of the filter gradient. */
export const filterGradTuning = {
  /** Output positions summed per cache block (rounded to whole output rows); default 64. */
  blockPositions: 64,
  /**
   * Fewest multiply-adds for the kernel worker to take half of the rows;
   * default 2 Mi. Infinity keeps every call on this thread.
   */
  minSplitMacs: 1 << 21,
};

/** Kernel function for `Conv2DBackpropFilter` (NHWC, any stride, padding and dilation). */
export function conv2dBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const { x, dy } = args.inputs;
  if (x === undefined || dy === undefined)
    throw new Error('Conv2DBackpropFilter: expected inputs x and dy');
  const attrs = convAttrs(args.attrs);
  if (attrs.dataFormat !== 'NHWC') {
    throw new Error(
      `Conv2DBackpropFilter (wasm): dataFormat ${attrs.dataFormat} is not supported; use NHWC`,
    );
  }
  const filterShape = (args.attrs?.['filterShape'] ?? []) as number[];
  const g = convGeometry(x.shape, filterShape, attrs);
  const rows = g.kh * g.kw * g.inC;
  const dw = backend.makeOutput(filterShape, 'float32');
  const segCount = g.batch * g.outH;
  if (rows * g.outC === 0) return dw;

  const layout = convLayout(backend, x, g, g.outC);
  try {
    const dwAt = heapIndex(backend, dw);
    if (segCount === 0 || g.outW === 0) {
      backend.wasm.HEAPF32.fill(0, dwAt, dwAt + rows * g.outC);
      return dw;
    }
    const kernels = ownKernels(backend);
    const blockRows = Math.round(filterGradTuning.blockPositions / g.outW);
    const blockSegs = Math.min(segCount, Math.max(1, blockRows));
    // The kernel writes (zeroes, then sums into) the rows it is given.
    const call = (rowFirst: number, rowEnd: number) => [
      heapIndex(backend, layout.source) * 4,
      heapIndex(backend, dy) * 4,
      dwAt * 4,
      heapIndex(backend, layout.deltas) * 4,
      rowFirst,
      rowEnd,
      g.outC,
      heapIndex(backend, layout.segs) * 4,
      segCount,
      g.outW,
      layout.xStep,
      blockSegs,
    ];
    const macs = segCount * g.outW * rows * g.outC;
    // Whole tiles of four rows on each side.
    const half = 4 * Math.ceil(rows / 8);
    const split =
      kernels.worker !== undefined && macs >= filterGradTuning.minSplitMacs && half < rows;
    const mine = split ? half : rows;
    runShared(kernels, 'convFilterGrad', call(0, mine), split ? call(mine, rows) : undefined);
    return dw;
  } finally {
    layout.done();
  }
}
