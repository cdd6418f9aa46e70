/**
 * `MaxPoolGrad` for the wasm backend: routes each output gradient to the first
 * maximum of its window, in the same scan order as the cpu backend, so ties
 * (frequent after a ReLU) resolve identically.
 */
import * as tf from '@tensorflow/tfjs';

import { type ConvGeometry, poolGeometry } from './conv-geometry.js';
import { type KernelArgs, type WasmKernelFunc, f32View } from './wasm-heap.js';

/** Accumulates `dy` into `dx` at each window's arg-max over `x`. */
export function maxPoolBackprop(x: Float32Array, dy: Float32Array, dx: Float32Array, g: ConvGeometry): void {
  const { inH, inW, inC, outH, outW } = g;
  dx.fill(0);
  const best = new Float64Array(inC);
  const where = new Int32Array(inC);
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * g.strideH - g.padTop;
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * g.strideW - g.padLeft;
        best.fill(-Infinity);
        where.fill(-1);
        for (let i = 0; i < g.kh; i++) {
          const ih = h0 + i * g.dilationH;
          if (ih < 0 || ih >= inH) continue;
          for (let j = 0; j < g.kw; j++) {
            const iw = w0 + j * g.dilationW;
            if (iw < 0 || iw >= inW) continue;
            const base = ((b * inH + ih) * inW + iw) * inC;
            for (let c = 0; c < inC; c++) {
              const v = x[base + c];
              if (v > best[c]) {
                best[c] = v;
                where[c] = base + c;
              }
            }
          }
        }
        const dyBase = ((b * outH + oh) * outW + ow) * inC;
        for (let c = 0; c < inC; c++) {
          const at = where[c];
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
    if (dy === undefined || input === undefined) throw new Error('MaxPoolGrad: expected inputs dy and input');
    if (input.dtype !== 'float32' || dy.dtype !== 'float32') {
      if (fallback === undefined) throw new Error(`MaxPoolGrad (wasm): dtype ${input.dtype} is not supported`);
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
