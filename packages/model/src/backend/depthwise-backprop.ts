/**
 * Gradients of the depthwise convolution (MobileNet's workhorse), which the
 * wasm backend lacks. Each output touches only `kh * kw` inputs per channel,
 * so plain loops over the heap are bound by memory traffic, not arithmetic.
 */
import * as tf from '@tensorflow/tfjs';

import { type ConvGeometry, convAttrs, convGeometry, validRange } from './conv-geometry.js';
import { type KernelArgs, f32View } from './wasm-heap.js';

/**
 * Filter gradient `dw[i, j, c, q] = sum x[b, ih, iw, c] * dy[b, oh, ow, c * mult + q]`
 * over batch and output positions, accumulated in double precision.
 */
export function depthwiseFilterGrad(
  x: Float32Array,
  dy: Float32Array,
  dw: Float32Array,
  g: ConvGeometry,
  mult: number,
): void {
  const { inH, inW, inC, outH, outW } = g;
  const outC = inC * mult;
  const acc = new Float64Array(g.kh * g.kw * outC);
  for (let i = 0; i < g.kh; i++) {
    const offH = i * g.dilationH - g.padTop;
    const [oh0, oh1] = validRange(offH, g.strideH, inH, outH);
    for (let j = 0; j < g.kw; j++) {
      const offW = j * g.dilationW - g.padLeft;
      const [ow0, ow1] = validRange(offW, g.strideW, inW, outW);
      const tap = (i * g.kw + j) * outC;
      for (let b = 0; b < g.batch; b++) {
        for (let oh = oh0; oh < oh1; oh++) {
          const xRow = (b * inH + oh * g.strideH + offH) * inW;
          const dyRow = (b * outH + oh) * outW;
          for (let ow = ow0; ow < ow1; ow++) {
            const xs = (xRow + ow * g.strideW + offW) * inC;
            const ds = (dyRow + ow) * outC;
            if (mult === 1) {
              for (let c = 0; c < inC; c++) acc[tap + c] += x[xs + c] * dy[ds + c];
            } else {
              for (let c = 0; c < inC; c++) {
                const xv = x[xs + c];
                for (let q = 0; q < mult; q++) acc[tap + c * mult + q] += xv * dy[ds + c * mult + q];
              }
            }
          }
        }
      }
    }
  }
  dw.set(acc);
}

/** Input gradient: scatters `dy * w` back through each window onto `dx`. */
export function depthwiseInputGrad(
  dy: Float32Array,
  w: Float32Array,
  dx: Float32Array,
  g: ConvGeometry,
  mult: number,
): void {
  const { inH, inW, inC, outH, outW } = g;
  const outC = inC * mult;
  dx.fill(0);
  for (let i = 0; i < g.kh; i++) {
    const offH = i * g.dilationH - g.padTop;
    const [oh0, oh1] = validRange(offH, g.strideH, inH, outH);
    for (let j = 0; j < g.kw; j++) {
      const offW = j * g.dilationW - g.padLeft;
      const [ow0, ow1] = validRange(offW, g.strideW, inW, outW);
      const tap = (i * g.kw + j) * outC;
      for (let b = 0; b < g.batch; b++) {
        for (let oh = oh0; oh < oh1; oh++) {
          const xRow = (b * inH + oh * g.strideH + offH) * inW;
          const dyRow = (b * outH + oh) * outW;
          for (let ow = ow0; ow < ow1; ow++) {
            const xs = (xRow + ow * g.strideW + offW) * inC;
            const ds = (dyRow + ow) * outC;
            if (mult === 1) {
              for (let c = 0; c < inC; c++) dx[xs + c] += dy[ds + c] * w[tap + c];
            } else {
              for (let c = 0; c < inC; c++) {
                let s = 0;
                for (let q = 0; q < mult; q++) s += dy[ds + c * mult + q] * w[tap + c * mult + q];
                dx[xs + c] += s;
              }
            }
          }
        }
      }
    }
  }
}

/** Kernel function for `DepthwiseConv2dNativeBackpropFilter` (NHWC). */
export function depthwiseBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const { x, dy } = args.inputs;
  if (x === undefined || dy === undefined) throw new Error('DepthwiseConv2dNativeBackpropFilter: expected inputs x and dy');
  const filterShape = (args.attrs?.['filterShape'] ?? []) as number[];
  const g = convGeometry(x.shape, filterShape, convAttrs(args.attrs), true);
  const dw = backend.makeOutput(filterShape, 'float32');
  depthwiseFilterGrad(f32View(backend, x), f32View(backend, dy), f32View(backend, dw), g, filterShape[3]);
  return dw;
}

/** Kernel function for `DepthwiseConv2dNativeBackpropInput` (NHWC). */
export function depthwiseBackpropInput(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const { dy, filter } = args.inputs;
  if (dy === undefined || filter === undefined) {
    throw new Error('DepthwiseConv2dNativeBackpropInput: expected inputs dy and filter');
  }
  const inputShape = (args.attrs?.['inputShape'] ?? []) as number[];
  const g = convGeometry(inputShape, filter.shape, convAttrs(args.attrs), true);
  const dx = backend.makeOutput(inputShape, 'float32');
  depthwiseInputGrad(f32View(backend, dy), f32View(backend, filter), f32View(backend, dx), g, filter.shape[3]);
  return dx;
}
