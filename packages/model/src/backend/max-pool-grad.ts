/**
 * `MaxPoolGrad` for the wasm backend: routes each output gradient to the first
 * maximum of its window, in the same scan order as the cpu backend, so ties
 * (frequent after a ReLU) resolve identically.
 */
import * as tf from '@tensorflow/tfjs';

import { type ConvGeometry, poolGeometry } from './conv-geometry.js';
import { type KernelArgs, type WasmKernelFunc, f32View } from './wasm-heap.js';

/**
 * The common 2x2, stride-2 pooling whose windows all lie inside the input:
 * straight-line code over the four taps, same first-maximum rule.
 */
function pool2x2Backprop(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  g: ConvGeometry,
): void {
  const { inH, inW, inC, outH, outW } = g;
  const right = inC;
  const down = inW * inC;
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < outH; oh++) {
      let t = (b * inH + 2 * oh) * inW * inC;
      let o = (b * outH + oh) * outW * inC;
      for (let ow = 0; ow < outW; ow++, t += 2 * inC, o += inC) {
        for (let c = 0; c < inC; c++) {
          const k = t + c;
          let at = k;
          let best = x[k];
          if (x[k + right] > best) {
            best = x[k + right];
            at = k + right;
          }
          if (x[k + down] > best) {
            best = x[k + down];
            at = k + down;
          }
          if (x[k + down + right] > best) at = k + down + right;
          dx[at] += dy[o + c];
        }
      }
    }
  }
}

/** Accumulates `dy` into `dx` at each window's arg-max over `x`. */
export function maxPoolBackprop(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  g: ConvGeometry,
): void {
  const { inH, inW, inC, outH, outW } = g;
  dx.fill(0);
  const plain2x2 =
    g.kh === 2 &&
    g.kw === 2 &&
    g.strideH === 2 &&
    g.strideW === 2 &&
    g.padTop === 0 &&
    g.padLeft === 0 &&
    2 * outH <= inH &&
    2 * outW <= inW;
  if (plain2x2) {
    pool2x2Backprop(x, dy, dx, g);
    return;
  }
  // Offsets of the window taps that fall inside the input, for the current output position.
  const taps = new Int32Array(g.kh * g.kw);
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * g.strideH - g.padTop;
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * g.strideW - g.padLeft;
        let n = 0;
        for (let i = 0; i < g.kh; i++) {
          const ih = h0 + i * g.dilationH;
          if (ih < 0 || ih >= inH) continue;
          for (let j = 0; j < g.kw; j++) {
            const iw = w0 + j * g.dilationW;
            if (iw >= 0 && iw < inW) taps[n++] = ((b * inH + ih) * inW + iw) * inC;
          }
        }
        const dyBase = ((b * outH + oh) * outW + ow) * inC;
        for (let c = 0; c < inC; c++) {
          let best = -Infinity;
          let at = -1;
          for (let t = 0; t < n; t++) {
            const k = taps[t] + c;
            const v = x[k];
            if (v > best) {
              best = v;
              at = k;
            }
          }
          if (at >= 0) dx[at] += dy[dyBase + c];
        }
      }
    }
  }
}

/** Builds the `MaxPoolGrad` kernel function; non-float inputs use the backend's own. */
export function makeMaxPoolGrad(fallback: WasmKernelFunc | undefined): WasmKernelFunc {
  return (args: KernelArgs) => {
    const { backend } = args;
    const { dy, input } = args.inputs;
    if (dy === undefined || input === undefined)
      throw new Error('MaxPoolGrad: expected inputs dy and input');
    if (input.dtype !== 'float32' || dy.dtype !== 'float32') {
      if (fallback === undefined)
        throw new Error(`MaxPoolGrad (wasm): dtype ${input.dtype} is not supported`);
      return fallback(args);
    }
    const attrs = (args.attrs ?? {}) as Record<string, unknown>;
    const g = poolGeometry(
      input.shape,
      attrs['filterSize'] as number | [number, number],
      attrs['strides'] as number | [number, number],
      attrs['pad'] as 'same' | 'valid' | number,
      attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined,
    );
    const dx = backend.makeOutput(input.shape, 'float32');
    if (tf.util.sizeFromShape(input.shape) > 0) {
      maxPoolBackprop(f32View(backend, input), f32View(backend, dy), f32View(backend, dx), g);
    }
    return dx;
  };
}
