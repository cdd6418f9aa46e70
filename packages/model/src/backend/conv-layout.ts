/**
 * The input layout polyhead's own convolution kernels read (see
 * `assembly/kernels.ts`): the input on a zero-bordered grid (the input
 * itself when no padding is needed), one element offset per kernel tap and
 * input channel, and one segment (an output row) per `(image, output row)`.
 */
import type * as tf from '@tensorflow/tfjs';

import type { ConvGeometry } from './conv-geometry.js';
import { type WasmBackend, heapIndex, release } from './wasm-heap.js';

/** Scratch tensors of one call; `done` releases them. */
export interface ConvLayout {
  /** The grid the kernel reads: the padded copy, or `x` itself. */
  source: tf.TensorInfo;
  /** int32 offsets, one per row `(i, j, c)` of the `[kh * kw * inC, outC]` filter. */
  deltas: tf.TensorInfo;
  /** int32 pairs (input offset, output offset), one per output row. */
  segs: tf.TensorInfo;
  /** Number of segments: batch times output rows. */
  segCount: number;
  /** Input elements between consecutive outputs of a segment. */
  xStep: number;
  done(): void;
}

/**
 * Lays out `x` for `g`, where `out` elements separate consecutive output
 * positions of the result (`outC` for a convolution's `y` or `dy`).
 */
export function convLayout(
  backend: WasmBackend,
  x: tf.TensorInfo,
  g: ConvGeometry,
  out: number,
): ConvLayout {
  const rows = Math.max(g.padTop + g.inH, (g.outH - 1) * g.strideH + (g.kh - 1) * g.dilationH + 1);
  const cols = Math.max(g.padLeft + g.inW, (g.outW - 1) * g.strideW + (g.kw - 1) * g.dilationW + 1);
  const direct = g.padTop === 0 && g.padLeft === 0 && rows === g.inH && cols === g.inW;
  const padded = direct ? undefined : backend.makeOutput([g.batch * rows * cols * g.inC], 'float32');
  const taps = g.kh * g.kw * g.inC;
  const deltas = backend.makeOutput([Math.max(1, taps)], 'int32');
  const segCount = g.batch * g.outH;
  const segs = backend.makeOutput([2 * Math.max(1, segCount)], 'int32');
  // Views after the last allocation, which may have grown the heap.
  const heap = backend.wasm.HEAPF32;
  const ints = backend.wasm.HEAP32;
  if (padded !== undefined) {
    const dst = heapIndex(backend, padded);
    const src = heapIndex(backend, x);
    const row = g.inW * g.inC;
    heap.fill(0, dst, dst + g.batch * rows * cols * g.inC);
    for (let b = 0; b < g.batch; b++) {
      for (let h = 0; h < g.inH; h++) {
        const from = src + (b * g.inH + h) * row;
        heap.copyWithin(dst + ((b * rows + h + g.padTop) * cols + g.padLeft) * g.inC, from, from + row);
      }
    }
  }
  const d = heapIndex(backend, deltas);
  for (let i = 0; i < g.kh; i++) {
    for (let j = 0; j < g.kw; j++) {
      const tap = (i * g.dilationH * cols + j * g.dilationW) * g.inC;
      for (let c = 0; c < g.inC; c++) ints[d + (i * g.kw + j) * g.inC + c] = tap + c;
    }
  }
  const s = heapIndex(backend, segs);
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < g.outH; oh++) {
      const k = s + 2 * (b * g.outH + oh);
      ints[k] = (b * rows + oh * g.strideH) * cols * g.inC;
      ints[k + 1] = (b * g.outH + oh) * g.outW * out;
    }
  }
  return {
    source: padded ?? x,
    deltas,
    segs,
    segCount,
    xStep: g.strideW * g.inC,
    done: () => {
      if (padded !== undefined) release(backend, padded);
      release(backend, deltas);
      release(backend, segs);
    },
  };
}
