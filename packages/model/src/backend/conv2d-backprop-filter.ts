/**
 * Filter gradient of a 2D convolution on the wasm backend, which ships none.
 *
 * The input patches are laid out as a `[kh * kw * inC, N * outH * outW]`
 * matrix straight on the heap, so a single non-transposed matrix product with
 * `dy` viewed as `[N * outH * outW, outC]` yields the filter gradient in its
 * `[kh, kw, inC, outC]` layout.
 */
import * as tf from '@tensorflow/tfjs';

import { type ConvGeometry, convAttrs, convGeometry, validRange } from './conv-geometry.js';
import { type KernelArgs, f32View, matMul, release, runWasmKernel, withShape } from './wasm-heap.js';

/**
 * Writes the transposed patch matrix of `x`: row `(i, j, c)` holds, for every
 * output position, the input value under kernel tap `(i, j)` in channel `c`
 * (zero where the tap falls in the padding).
 */
export function writeTransposedPatches(x: Float32Array, cols: Float32Array, g: ConvGeometry): void {
  const { inH, inW, inC, outH, outW, kh, kw, strideH, strideW } = g;
  const m = g.batch * outH * outW;
  const step = strideW * inC;
  // Column ranges per kernel column j: output columns whose tap lands inside the input.
  const colFirst = new Int32Array(kw);
  const colEnd = new Int32Array(kw);
  for (let j = 0; j < kw; j++) {
    [colFirst[j], colEnd[j]] = validRange(j * g.dilationW - g.padLeft, strideW, inW, outW);
  }
  // One output row (b, oh) at a time keeps the input rows it reads in cache.
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < outH; oh++) {
      const at = (b * outH + oh) * outW;
      for (let i = 0; i < kh; i++) {
        const ih = oh * strideH + i * g.dilationH - g.padTop;
        const inside = ih >= 0 && ih < inH;
        for (let j = 0; j < kw; j++) {
          const ow0 = colFirst[j];
          const ow1 = colEnd[j];
          const offW = j * g.dilationW - g.padLeft;
          let row = ((i * kw + j) * inC) * m + at;
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
export function writeShiftedPatches(xPlanes: Float32Array, cols: Float32Array, g: ConvGeometry): void {
  const { inH, inW, inC, outH, outW, kh, kw } = g;
  const m = g.batch * outH * outW;
  const plane = inH * inW;
  const outPlane = outH * outW;
  for (let b = 0; b < g.batch; b++) {
    for (let c = 0; c < inC; c++) {
      const base = (b * inC + c) * plane;
      for (let i = 0; i < kh; i++) {
        const offH = i * g.dilationH - g.padTop;
        const [oh0, oh1] = validRange(offH, 1, inH, outH);
        for (let j = 0; j < kw; j++) {
          const offW = j * g.dilationW - g.padLeft;
          const [ow0, ow1] = validRange(offW, 1, inW, outW);
          const row = ((i * kw + j) * inC + c) * m + b * outPlane;
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

/** Kernel function for `Conv2DBackpropFilter` (NHWC, any stride, padding and dilation). */
export function conv2dBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const { x, dy } = args.inputs;
  if (x === undefined || dy === undefined) throw new Error('Conv2DBackpropFilter: expected inputs x and dy');
  const attrs = convAttrs(args.attrs);
  if (attrs.dataFormat !== 'NHWC') {
    throw new Error(`Conv2DBackpropFilter (wasm): dataFormat ${attrs.dataFormat} is not supported; use NHWC`);
  }
  const filterShape = (args.attrs?.['filterShape'] ?? []) as number[];
  const g = convGeometry(x.shape, filterShape, attrs);
  const k = g.kh * g.kw * g.inC;
  const m = g.batch * g.outH * g.outW;
  const cols = backend.makeOutput([k, m], 'float32');
  if (g.strideH === 1 && g.strideW === 1 && g.inW === g.outW) {
    const planes = g.inC === 1 ? x : runWasmKernel('Transpose', { x }, { perm: [0, 3, 1, 2] }, backend);
    writeShiftedPatches(f32View(backend, planes), f32View(backend, cols), g);
    if (planes !== x) release(backend, planes);
  } else {
    writeTransposedPatches(f32View(backend, x), f32View(backend, cols), g);
  }
  const out = matMul(backend, cols, dy, k, m, g.outC);
  release(backend, cols);
  return withShape(out, filterShape);
}
