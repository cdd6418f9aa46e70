/**
 * A zero-padded position grid for stride-1 convolution gradients.
 *
 * Each image row is followed by `padW` zero columns and each image by `padH`
 * zero rows, so one position `q` of the grid and one kernel tap `(i, j)` read
 * the input at `q + offset(i, j)`: borders read zeros instead of needing a
 * test. For one input channel, the patch-matrix row of a tap is then a single
 * contiguous run of that channel's grid, shifted by the tap's offset, and the
 * whole matrix is built by block copies.
 */
import type { ConvGeometry } from './conv-geometry.js';

/** Sizes and tap offsets of the grid for one convolution. */
export interface PatchGrid {
  /** Elements per grid row: the input (or output, if wider) width plus the zero columns. */
  rowStride: number;
  /** Elements per image: `padH` zero rows and the input's (or output's) rows. */
  imageStride: number;
  /** Zero rows before each image's first row. */
  padH: number;
  /** Per tap `i * kw + j`, the offset of the input it reads from a grid position. */
  offsets: Int32Array;
  /** Zero elements before the first image of a channel (for taps reading up and left). */
  lead: number;
  /** Zero elements after the last image of a channel (for taps reading down and right). */
  trail: number;
}

/**
 * The grid of `g`, or undefined when the convolution has a stride other than
 * 1 (its taps do not then read at fixed offsets from the output grid) or when
 * the zero borders would add more than `maxOverhead` times the output
 * positions to the product.
 */
export function patchGrid(g: ConvGeometry, maxOverhead = Infinity): PatchGrid | undefined {
  if (g.strideH !== 1 || g.strideW !== 1) return undefined;
  const padH = Math.max(g.padTop, g.padBottom);
  const padW = Math.max(g.padLeft, g.padRight);
  // Padding wider than the kernel makes the output larger than the input.
  const rows = Math.max(g.inH, g.outH);
  const rowStride = Math.max(g.inW, g.outW) + padW;
  const offsets = new Int32Array(g.kh * g.kw);
  for (let i = 0; i < g.kh; i++) {
    for (let j = 0; j < g.kw; j++) {
      offsets[i * g.kw + j] =
        (i * g.dilationH - g.padTop) * rowStride + j * g.dilationW - g.padLeft;
    }
  }
  const imageStride = (padH + rows) * rowStride;
  if (imageStride > (1 + maxOverhead) * g.outH * g.outW) return undefined;
  return {
    rowStride,
    imageStride,
    padH,
    offsets,
    lead: Math.max(0, -Math.min(...offsets)),
    trail: Math.max(0, ...offsets),
  };
}

/** Length of one channel's run in the transposed grid of `images` images. */
export function channelRun(grid: PatchGrid, images: number): number {
  return grid.lead + images * grid.imageStride + grid.trail;
}

/**
 * Writes images `[first, first + images)` of NHWC `x` channel by channel onto
 * the grid: channel `c` occupies `dst[c * run, (c + 1) * run)` with `run` from
 * {@link channelRun}; every element that is not a pixel is zero.
 */
export function writeChannelGrid(
  x: Float32Array,
  dst: Float32Array,
  g: ConvGeometry,
  grid: PatchGrid,
  first: number,
  images: number,
): void {
  const { inH, inW, inC } = g;
  const run = channelRun(grid, images);
  dst.fill(0, 0, inC * run);
  const rowLength = inW * inC;
  for (let b = 0; b < images; b++) {
    for (let h = 0; h < inH; h++) {
      const src = ((first + b) * inH + h) * rowLength;
      const at = grid.lead + b * grid.imageStride + (grid.padH + h) * grid.rowStride;
      // The source row stays in cache while each channel gathers its stride.
      for (let c = 0; c < inC; c++) {
        const d = c * run + at;
        for (let w = 0, s = src + c; w < inW; w++, s += inC) dst[d + w] = x[s];
      }
    }
  }
}

/**
 * Writes `dy` of images `[first, first + images)` row-major `[positions,
 * outC]` over the grid positions: output `(h, w)` of an image sits where the
 * input pixel `(h, w)` does, and every other position holds zeros.
 */
export function writeGradientGrid(
  dy: Float32Array,
  dst: Float32Array,
  g: ConvGeometry,
  grid: PatchGrid,
  first: number,
  images: number,
): void {
  const { outH, outW, outC } = g;
  dst.fill(0, 0, images * grid.imageStride * outC);
  const rowLength = outW * outC;
  for (let b = 0; b < images; b++) {
    for (let h = 0; h < outH; h++) {
      const src = ((first + b) * outH + h) * rowLength;
      const at = (b * grid.imageStride + (grid.padH + h) * grid.rowStride) * outC;
      dst.set(dy.subarray(src, src + rowLength), at);
    }
  }
}

/**
 * Fills the patch matrix `[kh * kw * inC, images * imageStride]` from the
 * channel grid: row `(tap, c)` is channel `c`'s run shifted by the tap's
 * offset. `heap` holds both; `channels` and `cols` are element offsets in it.
 */
export function copyPatchRows(
  heap: Float32Array,
  channels: number,
  cols: number,
  g: ConvGeometry,
  grid: PatchGrid,
  images: number,
): void {
  const m = images * grid.imageStride;
  const run = channelRun(grid, images);
  for (let t = 0; t < grid.offsets.length; t++) {
    for (let c = 0; c < g.inC; c++) {
      const src = channels + c * run + grid.lead + grid.offsets[t];
      heap.copyWithin(cols + (t * g.inC + c) * m, src, src + m);
    }
  }
}
