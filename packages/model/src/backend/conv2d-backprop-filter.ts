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
import { type KernelArgs, f32View, matMul, release, withShape } from './wasm-heap.js';

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
  writeTransposedPatches(f32View(backend, x), f32View(backend, cols), g);
  const out = matMul(backend, cols, dy, k, m, g.outC);
  release(backend, cols);
  return withShape(out, filterShape);
}
