/**
 * Filter gradient of a 2D convolution on the wasm backend, which ships none.
 *
 * The input patches are laid out as a `[kh * kw * inC, N * outH * outW]`
 * matrix straight on the heap, so a single non-transposed matrix product with
 * `dy` viewed as `[N * outH * outW, outC]` yields the filter gradient in its
 * `[kh, kw, inC, outC]` layout. Stride-1 convolutions build that matrix on the
 * zero-padded grid of `patch-grid.ts`, from block copies alone.
 */
import * as tf from '@tensorflow/tfjs';

import { type ConvGeometry, convAttrs, convGeometry, validRange } from './conv-geometry.js';
import { ownShare, wasmHelper } from './parallel.js';
import {
  type PatchGrid,
  channelRun,
  copyPatchRows,
  patchGrid,
  writeChannelGrid,
  writeGradientGrid,
} from './patch-grid.js';
import {
  type KernelArgs,
  type WasmBackend,
  f32View,
  heapIndex,
  matMul,
  release,
  runWasmKernel,
  withShape,
} from './wasm-heap.js';

/** Images `[first, end)` of the batch: the patch matrix covers one such run at a time. */
export interface ImageRange {
  first: number;
  end: number;
}

/**
 * Writes the transposed patch matrix of images `r` of `x`: row `(i, j, c)`
 * holds, for every output position, the input value under kernel tap `(i, j)`
 * in channel `c` (zero where the tap falls in the padding).
 */
export function writeTransposedPatches(
  x: Float32Array,
  cols: Float32Array,
  g: ConvGeometry,
  r: ImageRange,
): void {
  const { inH, inW, inC, outH, outW, kh, kw, strideH, strideW } = g;
  const m = (r.end - r.first) * outH * outW;
  const step = strideW * inC;
  // Column ranges per kernel column j: output columns whose tap lands inside the input.
  const colFirst = new Int32Array(kw);
  const colEnd = new Int32Array(kw);
  for (let j = 0; j < kw; j++) {
    [colFirst[j], colEnd[j]] = validRange(j * g.dilationW - g.padLeft, strideW, inW, outW);
  }
  // One output row (b, oh) at a time keeps the input rows it reads in cache.
  for (let b = r.first; b < r.end; b++) {
    for (let oh = 0; oh < outH; oh++) {
      const at = ((b - r.first) * outH + oh) * outW;
      for (let i = 0; i < kh; i++) {
        const ih = oh * strideH + i * g.dilationH - g.padTop;
        const inside = ih >= 0 && ih < inH;
        for (let j = 0; j < kw; j++) {
          const ow0 = colFirst[j];
          const ow1 = colEnd[j];
          const offW = j * g.dilationW - g.padLeft;
          let row = (i * kw + j) * inC * m + at;
          for (let c = 0; c < inC; c++, row += m) {
            if (!inside) {
              cols.fill(0, row, row + outW);
              continue;
            }
            for (let ow = 0; ow < ow0; ow++) cols[row + ow] = 0;
            let src = ((b * inH + ih) * inW + ow0 * strideW + offW) * inC + c;
            for (let ow = ow0; ow < ow1; ow++, src += step) cols[row + ow] = x[src];
            for (let ow = ow1; ow < outW; ow++) cols[row + ow] = 0;
          }
        }
      }
    }
  }
}

/**
 * The same patch matrix for stride 1 when input and output rows are equally
 * wide ('same' padding), from `x` in `[N, C, H, W]` layout: each row segment
 * of one image is then the input plane shifted by the tap offset, so it is one
 * block copy plus zeroed borders.
 */
export function writeShiftedPatches(
  xPlanes: Float32Array,
  cols: Float32Array,
  g: ConvGeometry,
  r: ImageRange,
): void {
  const { inH, inW, inC, outH, outW, kh, kw } = g;
  const m = (r.end - r.first) * outH * outW;
  const plane = inH * inW;
  const outPlane = outH * outW;
  for (let b = r.first; b < r.end; b++) {
    for (let c = 0; c < inC; c++) {
      const base = (b * inC + c) * plane;
      for (let i = 0; i < kh; i++) {
        const offH = i * g.dilationH - g.padTop;
        const [oh0, oh1] = validRange(offH, 1, inH, outH);
        for (let j = 0; j < kw; j++) {
          const offW = j * g.dilationW - g.padLeft;
          const [ow0, ow1] = validRange(offW, 1, inW, outW);
          const row = ((i * kw + j) * inC + c) * m + (b - r.first) * outPlane;
          cols.fill(0, row, row + oh0 * outW);
          cols.fill(0, row + oh1 * outW, row + outPlane);
          if (oh1 <= oh0) continue;
          const len = (oh1 - oh0) * outW;
          const src = base + (oh0 + offH) * inW + offW;
          // Reads that would leave the plane land on border columns, zeroed below.
          const lo = Math.max(0, base - src);
          const hi = Math.max(0, src + len - (base + plane));
          cols.set(xPlanes.subarray(src + lo, src + len - hi), row + oh0 * outW + lo);
          if (ow0 === 0 && ow1 === outW) continue;
          for (let oh = oh0; oh < oh1; oh++) {
            const r = row + oh * outW;
            for (let ow = 0; ow < ow0; ow++) cols[r + ow] = 0;
            for (let ow = ow1; ow < outW; ow++) cols[r + ow] = 0;
          }
        }
      }
    }
  }
}

/**
 * Tuning of the filter gradient. Large batches are processed a few images at
 * a time so that the patch matrix stays small and its buffer is reused; the
 * partial filter gradients are summed.
 */
export const filterGradTuning = {
  /** Most patch-matrix elements per chunk (at least one image); default 4 Mi. */
  chunkElements: 1 << 22,
  /**
   * Largest share of zero-border columns that the padded grid may add to the
   * product of a stride-1 gradient; beyond it (small images) the patches are
   * gathered without borders instead. Default 0.3; 0 never takes the grid.
   */
  gridOverhead: 0.3,
  /**
   * Fewest input channels for the padded grid: with fewer, the patch matrix
   * is cheap to gather and copying `dy` onto the grid costs more. Default 8.
   */
  gridMinChannels: 8,
};

type PatchWriter = (dst: Float32Array, range: ImageRange) => void;

function addInto(sum: Float32Array, part: Float32Array): void {
  for (let i = 0; i < sum.length; i++) sum[i] += part[i];
}

/** Adds a chunk's `[k, outC]` product into the running total (or starts it). */
function accumulate(
  backend: WasmBackend,
  total: tf.TensorInfo | undefined,
  part: tf.TensorInfo,
): tf.TensorInfo {
  if (total === undefined) return part;
  addInto(f32View(backend, total), f32View(backend, part));
  release(backend, part);
  return total;
}

/** Images per chunk when one image adds `perImage` patch-matrix elements. */
function chunkImages(perImage: number, images: number): number {
  return Math.max(1, Math.min(images, Math.floor(filterGradTuning.chunkElements / perImage)));
}

/**
 * `[k, outC]` gradient from images `[0, end)` for stride 1, on the padded
 * grid of `patch-grid.ts`: the patch matrix is a set of block copies, and the
 * zero borders cost a few extra columns in the product instead of a test per
 * element.
 */
function gridGradient(
  backend: WasmBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  g: ConvGeometry,
  grid: PatchGrid,
  end: number,
): tf.TensorInfo {
  const k = g.kh * g.kw * g.inC;
  const perImage = grid.imageStride;
  const chunk = chunkImages(k * perImage, end);
  const channels = backend.makeOutput([g.inC * channelRun(grid, chunk)], 'float32');
  const cols = backend.makeOutput([k, chunk * perImage], 'float32');
  let total: tf.TensorInfo | undefined;
  for (let first = 0; first < end; first += chunk) {
    const images = Math.min(chunk, end - first);
    const m = images * perImage;
    // A fresh tensor per chunk: the matrix product caches its packed right operand by id.
    const dyGrid = backend.makeOutput([m, g.outC], 'float32');
    writeChannelGrid(f32View(backend, x), f32View(backend, channels), g, grid, first, images);
    copyPatchRows(
      backend.wasm.HEAPF32,
      heapIndex(backend, channels),
      heapIndex(backend, cols),
      g,
      grid,
      images,
    );
    writeGradientGrid(f32View(backend, dy), f32View(backend, dyGrid), g, grid, first, images);
    const part = matMul(backend, withShape(cols, [k, m]), dyGrid, k, m, g.outC);
    release(backend, dyGrid);
    total = accumulate(backend, total, part);
  }
  release(backend, channels);
  release(backend, cols);
  return total as tf.TensorInfo;
}

/** `[k, outC]` gradient from images `[0, end)`, a chunk of images at a time. */
function localGradient(
  backend: WasmBackend,
  dy: tf.TensorInfo,
  g: ConvGeometry,
  write: PatchWriter,
  end: number,
) {
  const k = g.kh * g.kw * g.inC;
  const perImage = g.outH * g.outW;
  const imagesPerChunk = chunkImages(k * perImage, end);
  const cols = backend.makeOutput([k, imagesPerChunk * perImage], 'float32');
  let total: tf.TensorInfo | undefined;
  for (let first = 0; first < end; first += imagesPerChunk) {
    const m = (Math.min(end, first + imagesPerChunk) - first) * perImage;
    write(f32View(backend, cols).subarray(0, k * m), { first, end: first + m / perImage });
    let dyChunk = dy;
    if (m < g.batch * perImage) {
      dyChunk = backend.makeOutput([m, g.outC], 'float32');
      const start = first * perImage * g.outC;
      f32View(backend, dyChunk).set(f32View(backend, dy).subarray(start, start + m * g.outC));
    }
    const part = matMul(backend, withShape(cols, [k, m]), dyChunk, k, m, g.outC);
    if (dyChunk !== dy) release(backend, dyChunk);
    total = accumulate(backend, total, part);
  }
  release(backend, cols);
  return total as tf.TensorInfo;
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
  const k = g.kh * g.kw * g.inC;
  const perImage = g.outH * g.outW;
  if (g.batch === 0 || k * perImage === 0) return backend.makeOutput(filterShape, 'float32');

  // The helper thread, if any, multiplies the patches of the last images meanwhile.
  const mine = ownShare(g.batch, perImage * k * g.outC);
  const helper = mine < g.batch ? wasmHelper() : undefined;
  const grid =
    g.inC >= filterGradTuning.gridMinChannels
      ? patchGrid(g, filterGradTuning.gridOverhead)
      : undefined;
  const shifted = g.strideH === 1 && g.strideW === 1 && g.inW === g.outW;
  const planes = shifted && g.inC > 1 && (helper !== undefined || grid === undefined);
  const source = planes ? runWasmKernel('Transpose', { x }, { perm: [0, 3, 1, 2] }, backend) : x;
  const write: PatchWriter = (dst, range) => {
    if (shifted) writeShiftedPatches(f32View(backend, source), dst, g, range);
    else writeTransposedPatches(f32View(backend, source), dst, g, range);
  };
  if (helper !== undefined) {
    const m = (g.batch - mine) * perImage;
    helper.start(
      'BatchMatMul',
      {
        a: { shape: [1, k, m], fill: (dst) => write(dst, { first: mine, end: g.batch }) },
        b: {
          shape: [1, m, g.outC],
          fill: (dst) => dst.set(f32View(backend, dy).subarray(mine * perImage * g.outC)),
        },
      },
      { transposeA: false, transposeB: false },
      k * g.outC,
    );
  }
  let total: tf.TensorInfo;
  try {
    total =
      grid === undefined
        ? localGradient(backend, dy, g, write, mine)
        : gridGradient(backend, x, dy, g, grid, mine);
  } catch (error) {
    helper?.finish();
    throw error;
  } finally {
    if (source !== x) release(backend, source);
  }
  if (helper !== undefined) addInto(f32View(backend, total), helper.finish());
  return withShape(total, filterShape);
}
