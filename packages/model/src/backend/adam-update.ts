/**
 * One fused Adam step per variable for the wasm backend: the moments and the
 * new value in a single pass, instead of the eight element-wise kernels (and
 * their temporaries) that the same update takes as separate operations.
 */
import * as tf from '@tensorflow/tfjs';

import { type KernelArgs, f32View } from './wasm-heap.js';

/** Name of the fused update kernel; inputs `x, m, v, grad`, outputs new `x, m, v`. */
export const ADAM_UPDATE = 'PolyheadAdamUpdate';

/** Attributes of {@link ADAM_UPDATE}; bias corrections are folded into `stepSize` and `epsilon`. */
export interface AdamUpdateAttrs {
  beta1: number;
  beta2: number;
  /** Learning rate times the bias-correction ratio of this variable's step. */
  stepSize: number;
  epsilon: number;
  /** Decoupled weight decay already multiplied by the learning rate; 0 for none. */
  decay: number;
}

/**
 * Writes the Adam update of `x` with gradient `grad` into `out*`. Moments are
 * rounded to float32 before use, as the unfused update stores them.
 */
export function adamUpdateInto(
  x: Float32Array,
  m: Float32Array,
  v: Float32Array,
  grad: Float32Array,
  out: { x: Float32Array; m: Float32Array; v: Float32Array },
  a: AdamUpdateAttrs,
): void {
  const { beta1, beta2, stepSize, epsilon, decay } = a;
  const keep1 = 1 - beta1;
  const keep2 = 1 - beta2;
  for (let i = 0; i < x.length; i++) {
    const g = grad[i];
    const mi = Math.fround(beta1 * m[i] + keep1 * g);
    const vi = Math.fround(beta2 * v[i] + keep2 * g * g);
    out.m[i] = mi;
    out.v[i] = vi;
    out.x[i] = x[i] - (stepSize * mi) / (Math.sqrt(vi) + epsilon) - decay * x[i];
  }
}

/** Kernel function of {@link ADAM_UPDATE} on the wasm backend (float32 only). */
export function adamUpdate(args: KernelArgs): tf.TensorInfo[] {
  const { backend } = args;
  const { x, m, v, grad } = args.inputs;
  if (x === undefined || m === undefined || v === undefined || grad === undefined) {
    throw new Error(`${ADAM_UPDATE}: expected inputs x, m, v and grad`);
  }
  const size = tf.util.sizeFromShape(x.shape);
  for (const t of [m, v, grad]) {
    if (t.dtype !== 'float32' || tf.util.sizeFromShape(t.shape) !== size) {
      throw new Error(
        `${ADAM_UPDATE}: inputs must be float32 of ${size} elements like x [${x.shape.join(', ')}], got ${t.dtype} [${t.shape.join(', ')}]`,
      );
    }
  }
  const outs = [0, 1, 2].map(() => backend.makeOutput(x.shape, 'float32'));
  const [nx, nm, nv] = outs;
  const attrs = args.attrs as unknown as AdamUpdateAttrs;
  const view = (t: tf.TensorInfo) => f32View(backend, t);
  const into = { x: view(nx), m: view(nm), v: view(nv) };
  adamUpdateInto(view(x), view(m), view(v), view(grad), into, attrs);
  return outs;
}
