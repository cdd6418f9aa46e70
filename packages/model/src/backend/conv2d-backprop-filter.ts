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

import { type ConvGeometry, convAttrs, convGeometry } from './conv-geometry.js';
import { ownKernels } from './own-kernels.js';
import { type KernelArgs, type WasmBackend, heapIndex, release } from './wasm-heap.js';

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

/** Rows and columns of the zero-bordered input grid the kernel reads. */
interface InputGrid {
  rows: number;
  cols: number;
}

/** The grid `x` is read on: the input plus borders, enough for every tap of every output. */
function inputGrid(g: ConvGeometry): InputGrid {
  return {
    rows: Math.max(g.padTop + g.inH, (g.outH - 1) * g.strideH + (g.kh - 1) * g.dilationH + 1),
    cols: Math.max(g.padLeft + g.inW, (g.outW - 1) * g.strideW + (g.kw - 1) * g.dilationW + 1),
  };
}

/** Copies NHWC `x` onto the zero-bordered grid, pixel `(h, w)` at `(h + padTop, w + padLeft)`. */
function writeGrid(heap: Float32Array, x: number, dst: number, g: ConvGeometry, grid: InputGrid) {
  const row = g.inW * g.inC;
  heap.fill(0, dst, dst + g.batch * grid.rows * grid.cols * g.inC);
  for (let b = 0; b < g.batch; b++) {
    for (let h = 0; h < g.inH; h++) {
      const from = x + (b * g.inH + h) * row;
      const to = dst + ((b * grid.rows + h + g.padTop) * grid.cols + g.padLeft) * g.inC;
      heap.copyWithin(to, from, from + row);
    }
  }
}

/** Allocates an int32 scratch tensor of `n` elements. */
function scratch(backend: WasmBackend, n: number): tf.TensorInfo {
  return backend.makeOutput([n], 'int32');
}

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

  const grid = inputGrid(g);
  const direct = g.padTop === 0 && g.padLeft === 0 && grid.rows === g.inH && grid.cols === g.inW;
  const padded = direct ? undefined : backend.makeOutput([g.batch * grid.rows * grid.cols * g.inC], 'float32');
  const deltas = scratch(backend, rows);
  const segs = scratch(backend, 2 * Math.max(1, segCount));
  try {
    // Views after the last allocation, which may have grown the heap.
    const heap = backend.wasm.HEAPF32;
    const ints = backend.wasm.HEAP32;
    const dwAt = heapIndex(backend, dw);
    heap.fill(0, dwAt, dwAt + rows * g.outC);
    if (segCount === 0 || g.outW === 0) return dw;
    const source = padded ?? x;
    if (padded !== undefined) writeGrid(heap, heapIndex(backend, x), heapIndex(backend, padded), g, grid);

    const d = heapIndex(backend, deltas);
    for (let i = 0; i < g.kh; i++) {
      for (let j = 0; j < g.kw; j++) {
        const tap = (i * g.dilationH * grid.cols + j * g.dilationW) * g.inC;
        for (let c = 0; c < g.inC; c++) ints[d + (i * g.kw + j) * g.inC + c] = tap + c;
      }
    }
    const s = heapIndex(backend, segs);
    for (let b = 0; b < g.batch; b++) {
      for (let oh = 0; oh < g.outH; oh++) {
        const k = s + 2 * (b * g.outH + oh);
        ints[k] = (b * grid.rows + oh * g.strideH) * grid.cols * g.inC;
        ints[k + 1] = (b * g.outH + oh) * g.outW * g.outC;
      }
    }

    const { exports, worker } = ownKernels(backend);
    const blockSegs = Math.min(segCount, Math.max(1, Math.round(filterGradTuning.blockPositions / g.outW)));
    const call = (rowFirst: number, rowEnd: number) => [
      heapIndex(backend, source) * 4,
      heapIndex(backend, dy) * 4,
      dwAt * 4,
      d * 4,
      rowFirst,
      rowEnd,
      g.outC,
      s * 4,
      segCount,
      g.outW,
      g.strideW * g.inC,
      blockSegs,
    ] as const;
    const macs = segCount * g.outW * rows * g.outC;
    // Whole tiles of four rows on each side.
    const split = 4 * Math.ceil(rows / 8);
    if (worker !== undefined && macs >= filterGradTuning.minSplitMacs && split < rows) {
      worker.start('convFilterGrad', [...call(split, rows)]);
      try {
        exports.convFilterGrad(...call(0, split));
      } finally {
        worker.finish();
      }
    } else {
      exports.convFilterGrad(...call(0, rows));
    }
    return dw;
  } finally {
    if (padded !== undefined) release(backend, padded);
    release(backend, deltas);
    release(backend, segs);
  }
}
