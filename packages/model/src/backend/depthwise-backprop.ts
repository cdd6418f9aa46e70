/**
 * Gradients of the depthwise convolution (MobileNet's workhorse), which the
 * wasm backend lacks. The input gradient of a multiplier-1 filter is itself a
 * depthwise convolution (of `dy`, spread out by the stride, with the flipped
 * filter) and runs on the backend's XNNPACK kernel; its filter gradient is,
 * per kernel tap, a product of `dy` with a shifted slice of the input summed
 * per channel, all on the backend's SIMD kernels. Other channel multipliers
 * use plain loops over the heap.
 */
import * as tf from '@tensorflow/tfjs';

import { type ConvGeometry, convAttrs, convGeometry, validRange } from './conv-geometry.js';
import {
  type KernelArgs,
  type WasmBackend,
  columnMeans,
  f32View,
  release,
  runWasmKernel,
  withShape,
} from './wasm-heap.js';

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
                for (let q = 0; q < mult; q++)
                  acc[tap + c * mult + q] += xv * dy[ds + c * mult + q];
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

/**
 * Copies the input under kernel tap `(i, j)` for every output position into
 * `window` (`[N, outH, outW, C]`), zero where the tap is in the padding.
 * Channels are contiguous, so each copy is a block (a whole row at stride 1).
 */
export function writeTapWindow(
  x: Float32Array,
  window: Float32Array,
  g: ConvGeometry,
  i: number,
  j: number,
): void {
  const { inH, inW, inC, outH, outW } = g;
  const offH = i * g.dilationH - g.padTop;
  const offW = j * g.dilationW - g.padLeft;
  const [ow0, ow1] = validRange(offW, g.strideW, inW, outW);
  const rowLength = outW * inC;
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < outH; oh++) {
      const dst = (b * outH + oh) * outW * inC;
      const ih = oh * g.strideH + offH;
      if (ih < 0 || ih >= inH || ow1 <= ow0) {
        window.fill(0, dst, dst + rowLength);
        continue;
      }
      window.fill(0, dst, dst + ow0 * inC);
      window.fill(0, dst + ow1 * inC, dst + rowLength);
      const src = ((b * inH + ih) * inW + ow0 * g.strideW + offW) * inC;
      if (g.strideW === 1) {
        window.set(x.subarray(src, src + (ow1 - ow0) * inC), dst + ow0 * inC);
      } else {
        for (let ow = ow0, s = src; ow < ow1; ow++, s += g.strideW * inC) {
          window.set(x.subarray(s, s + inC), dst + ow * inC);
        }
      }
    }
  }
}

/** Multiplier-1 filter gradient: per tap, the input window times `dy`, averaged per channel. */
function filterGradByTaps(
  backend: WasmBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  g: ConvGeometry,
) {
  const rows = g.batch * g.outH * g.outW;
  const window = backend.makeOutput([rows, g.inC], 'float32');
  const dw = backend.makeOutput([g.kh, g.kw, g.inC, 1], 'float32');
  const dyRows = withShape(dy, [rows, g.inC]);
  for (let i = 0; i < g.kh; i++) {
    for (let j = 0; j < g.kw; j++) {
      writeTapWindow(f32View(backend, x), f32View(backend, window), g, i, j);
      const product = runWasmKernel('Multiply', { a: window, b: dyRows }, {}, backend);
      const means = columnMeans(backend, product, 1, rows, g.inC);
      release(backend, product);
      const tap = (i * g.kw + j) * g.inC;
      const out = f32View(backend, dw);
      const m = f32View(backend, means);
      for (let c = 0; c < g.inC; c++) out[tap + c] = m[c] * rows;
      release(backend, means);
    }
  }
  release(backend, window);
  return dw;
}

/** Kernel function for `DepthwiseConv2dNativeBackpropFilter` (NHWC). */
export function depthwiseBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const { x, dy } = args.inputs;
  if (x === undefined || dy === undefined)
    throw new Error('DepthwiseConv2dNativeBackpropFilter: expected inputs x and dy');
  const filterShape = (args.attrs?.['filterShape'] ?? []) as number[];
  const g = convGeometry(x.shape, filterShape, convAttrs(args.attrs), true);
  if (filterShape[3] === 1 && g.batch * g.outH * g.outW > 0)
    return filterGradByTaps(backend, x, dy, g);
  const dw = backend.makeOutput(filterShape, 'float32');
  depthwiseFilterGrad(
    f32View(backend, x),
    f32View(backend, dy),
    f32View(backend, dw),
    g,
    filterShape[3],
  );
  return dw;
}

/**
 * `dx` as a stride-1 depthwise convolution of `dy` (with `stride - 1` zeros
 * between its rows and columns) and the flipped filter, or `undefined` when
 * the padding this needs would be negative.
 */
function viaConvolution(
  backend: WasmBackend,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  g: ConvGeometry,
) {
  const effH = (g.kh - 1) * g.dilationH + 1;
  const effW = (g.kw - 1) * g.dilationW + 1;
  const spreadH = (g.outH - 1) * g.strideH + 1;
  const spreadW = (g.outW - 1) * g.strideW + 1;
  const top = effH - 1 - g.padTop;
  const left = effW - 1 - g.padLeft;
  const bottom = g.inH - spreadH - top + effH - 1;
  const right = g.inW - spreadW - left + effW - 1;
  if (Math.min(top, left, bottom, right) < 0 || g.outH === 0 || g.outW === 0) return undefined;

  let spread = dy;
  if (g.strideH > 1 || g.strideW > 1) {
    spread = backend.makeOutput([g.batch, spreadH, spreadW, g.inC], 'float32');
    const src = f32View(backend, dy);
    const dst = f32View(backend, spread);
    dst.fill(0);
    for (let b = 0; b < g.batch; b++) {
      for (let oh = 0; oh < g.outH; oh++) {
        for (let ow = 0; ow < g.outW; ow++) {
          const from = ((b * g.outH + oh) * g.outW + ow) * g.inC;
          const to = ((b * spreadH + oh * g.strideH) * spreadW + ow * g.strideW) * g.inC;
          dst.set(src.subarray(from, from + g.inC), to);
        }
      }
    }
  }
  const flipped = backend.makeOutput([g.kh, g.kw, g.inC, 1], 'float32');
  const w = f32View(backend, filter);
  const wf = f32View(backend, flipped);
  for (let i = 0; i < g.kh; i++) {
    for (let j = 0; j < g.kw; j++) {
      const src = ((g.kh - 1 - i) * g.kw + (g.kw - 1 - j)) * g.inC;
      wf.set(w.subarray(src, src + g.inC), (i * g.kw + j) * g.inC);
    }
  }
  const dx = runWasmKernel(
    'DepthwiseConv2dNative',
    { x: spread, filter: flipped },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
      dilations: [g.dilationH, g.dilationW],
    },
    backend,
  );
  release(backend, flipped);
  if (spread !== dy) release(backend, spread);
  return dx;
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
  if (filter.shape[3] === 1) {
    const dx = viaConvolution(backend, dy, filter, g);
    if (dx !== undefined) return dx;
  }
  const dx = backend.makeOutput(inputShape, 'float32');
  depthwiseInputGrad(
    f32View(backend, dy),
    f32View(backend, filter),
    f32View(backend, dx),
    g,
    filter.shape[3],
  );
  return dx;
}
