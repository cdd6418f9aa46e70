/**
 * Input gradient of a 2D convolution on the wasm backend.
 *
 * With stride 1 the gradient is itself a convolution of `dy` with the
 * spatially flipped, channel-swapped filter, which the backend's XNNPACK
 * `Conv2D` runs fast. Other strides multiply `dy` by the transposed filter and
 * scatter the resulting columns back onto the input grid (col2im).
 */
import * as tf from '@tensorflow/tfjs';

import { type ConvGeometry, convAttrs, convGeometry } from './conv-geometry.js';
import {
  type KernelArgs,
  type WasmBackend,
  type WasmKernelFunc,
  f32View,
  matMul,
  release,
  runWasmKernel,
} from './wasm-heap.js';

/** `[kh, kw, inC, outC]` to `[kh, kw, outC, inC]`, reversed along both spatial axes. */
function flipFilter(w: Float32Array, out: Float32Array, g: ConvGeometry): void {
  const { kh, kw, inC, outC } = g;
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const src = ((kh - 1 - i) * kw + (kw - 1 - j)) * inC * outC;
      const dst = (i * kw + j) * outC * inC;
      for (let c = 0; c < inC; c++) {
        for (let o = 0; o < outC; o++) out[dst + o * inC + c] = w[src + c * outC + o];
      }
    }
  }
}

function viaConvolution(
  backend: WasmBackend,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  g: ConvGeometry,
) {
  const effH = (g.kh - 1) * g.dilationH + 1;
  const effW = (g.kw - 1) * g.dilationW + 1;
  const flipped = backend.makeOutput([g.kh, g.kw, g.outC, g.inC], 'float32');
  flipFilter(f32View(backend, filter), f32View(backend, flipped), g);
  const pad: tf.backend_util.ExplicitPadding = [
    [0, 0],
    [effH - 1 - g.padTop, effH - 1 - g.padBottom],
    [effW - 1 - g.padLeft, effW - 1 - g.padRight],
    [0, 0],
  ];
  const dx = runWasmKernel(
    'Conv2D',
    { x: dy, filter: flipped },
    { strides: [1, 1], pad, dilations: [g.dilationH, g.dilationW], dataFormat: 'NHWC' },
    backend,
  );
  release(backend, flipped);
  return dx;
}

/** Adds column matrix `[N * outH * outW, kh * kw * inC]` back onto the NHWC input grid. */
export function scatterColumns(cols: Float32Array, dx: Float32Array, g: ConvGeometry): void {
  const { inH, inW, inC, outH, outW, kh, kw } = g;
  const k = kh * kw * inC;
  dx.fill(0);
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let i = 0; i < kh; i++) {
        const ih = oh * g.strideH + i * g.dilationH - g.padTop;
        if (ih < 0 || ih >= inH) continue;
        for (let ow = 0; ow < outW; ow++) {
          const rowBase = ((b * outH + oh) * outW + ow) * k + i * kw * inC;
          for (let j = 0; j < kw; j++) {
            const iw = ow * g.strideW + j * g.dilationW - g.padLeft;
            if (iw < 0 || iw >= inW) continue;
            const src = rowBase + j * inC;
            const dst = ((b * inH + ih) * inW + iw) * inC;
            for (let c = 0; c < inC; c++) dx[dst + c] += cols[src + c];
          }
        }
      }
    }
  }
}

function viaColumns(
  backend: WasmBackend,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  g: ConvGeometry,
) {
  const k = g.kh * g.kw * g.inC;
  const m = g.batch * g.outH * g.outW;
  const filterT = backend.makeOutput([g.outC, k], 'float32');
  const w = f32View(backend, filter);
  const wt = f32View(backend, filterT);
  for (let r = 0; r < k; r++) {
    for (let o = 0; o < g.outC; o++) wt[o * k + r] = w[r * g.outC + o];
  }
  const cols = matMul(backend, dy, filterT, m, g.outC, k);
  release(backend, filterT);
  const dx = backend.makeOutput([g.batch, g.inH, g.inW, g.inC], 'float32');
  scatterColumns(f32View(backend, cols), f32View(backend, dx), g);
  release(backend, cols);
  return dx;
}

/**
 * Builds the `Conv2DBackpropInput` kernel function; `fallback` (the backend's
 * own kernel) handles layouts and dtypes the fast paths do not.
 */
export function makeConv2dBackpropInput(fallback: WasmKernelFunc | undefined): WasmKernelFunc {
  return (args: KernelArgs) => {
    const { backend } = args;
    const { dy, filter } = args.inputs;
    if (dy === undefined || filter === undefined)
      throw new Error('Conv2DBackpropInput: expected inputs dy and filter');
    const attrs = convAttrs(args.attrs);
    const supported =
      attrs.dataFormat === 'NHWC' && dy.dtype === 'float32' && filter.dtype === 'float32';
    if (!supported) {
      if (fallback === undefined)
        throw new Error(
          `Conv2DBackpropInput (wasm): dataFormat ${attrs.dataFormat} is not supported`,
        );
      return fallback(args);
    }
    const inputShape = (args.attrs?.['inputShape'] ?? []) as number[];
    const g = convGeometry(inputShape, filter.shape, attrs);
    const effH = (g.kh - 1) * g.dilationH + 1;
    const effW = (g.kw - 1) * g.dilationW + 1;
    const padsFit = g.padTop < effH && g.padBottom < effH && g.padLeft < effW && g.padRight < effW;
    if (g.strideH === 1 && g.strideW === 1 && padsFit)
      return viaConvolution(backend, dy, filter, g);
    return viaColumns(backend, dy, filter, g);
  };
}
