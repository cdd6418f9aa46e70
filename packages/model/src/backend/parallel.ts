/**
 * Splits convolution batches between the calling thread and the wasm helper
 * thread (see `wasm-helper.ts`). Each kernel hands the second half of its
 * images to the helper, runs the first half itself, and joins the outputs.
 */
import * as tf from '@tensorflow/tfjs';

import { convAttrs, convGeometry } from './conv-geometry.js';
import type { WasmHelper } from './wasm-helper.js';
import { type KernelArgs, type WasmKernelFunc, f32View, release, withShape } from './wasm-heap.js';

let helper: WasmHelper | undefined;

/** Tuning of the batch split. */
export const parallelTuning = {
  /** Multiply-adds below which a convolution stays on one thread; default 4 Mi. */
  minMacs: 1 << 22,
};

/** Installs (or, with `undefined`, removes) the helper that kernels split work with. */
export function setWasmHelper(next: WasmHelper | undefined): void {
  helper = next;
}

/** The helper kernels split work with, if one is running. */
export function wasmHelper(): WasmHelper | undefined {
  return helper;
}

/**
 * Images the calling thread keeps when `batch` images of `macsPerImage`
 * multiply-adds each are split; `batch` itself means no split.
 */
export function ownShare(batch: number, macsPerImage: number): number {
  if (helper === undefined || batch < 2 || batch * macsPerImage < parallelTuning.minMacs)
    return batch;
  return Math.ceil(batch / 2);
}

/**
 * Wraps the stock `Conv2D` or `FusedConv2D` kernel so that large batches are
 * computed half here and half on the helper thread.
 */
export function makeParallelConv(
  kernel: 'Conv2D' | 'FusedConv2D',
  stock: WasmKernelFunc,
): WasmKernelFunc {
  return (args: KernelArgs) => {
    const { backend } = args;
    const { x, filter } = args.inputs;
    const attrs = convAttrs(args.attrs);
    const active = helper;
    if (
      active === undefined ||
      x === undefined ||
      filter === undefined ||
      x.dtype !== 'float32' ||
      attrs.dataFormat !== 'NHWC'
    ) {
      return stock(args);
    }
    const g = convGeometry(x.shape, filter.shape, attrs);
    const mine = ownShare(g.batch, g.outH * g.outW * g.kh * g.kw * g.inC * g.outC);
    if (mine === g.batch) return stock(args);

    const perIn = g.inH * g.inW * g.inC;
    const perOut = g.outH * g.outW * g.outC;
    const theirs = g.batch - mine;
    const shared: Record<string, { shape: number[]; fill: (dst: Float32Array) => void }> = {
      x: {
        shape: [theirs, g.inH, g.inW, g.inC],
        fill: (dst) => dst.set(f32View(backend, x).subarray(mine * perIn, g.batch * perIn)),
      },
    };
    for (const [name, info] of Object.entries(args.inputs)) {
      if (name === 'x' || info === undefined) continue;
      shared[name] = { shape: info.shape, fill: (dst) => dst.set(f32View(backend, info)) };
    }
    active.start(kernel, shared, (args.attrs ?? {}) as tf.NamedAttrMap, theirs * perOut);
    let own: tf.TensorInfo | tf.TensorInfo[];
    try {
      own = stock({
        ...args,
        inputs: { ...args.inputs, x: withShape(x, [mine, g.inH, g.inW, g.inC]) },
      });
    } catch (error) {
      active.finish();
      throw error;
    }
    const ownInfo = Array.isArray(own) ? own[0] : own;
    const theirsOut = active.finish();
    const out = backend.makeOutput([g.batch, g.outH, g.outW, g.outC], 'float32');
    const values = f32View(backend, out);
    values.set(f32View(backend, ownInfo));
    values.set(theirsOut, mine * perOut);
    release(backend, ownInfo);
    return out;
  };
}
