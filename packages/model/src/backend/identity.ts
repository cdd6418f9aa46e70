/**
 * `Identity` and same-dtype `Cast` that share the input's data instead of
 * copying it, as the cpu backend does. No wasm kernel writes into its inputs,
 * so a shared, reference-counted buffer is safe; tf.layers clones activations
 * several times per step, each a full copy on the stock kernels.
 */
import type * as tf from '@tensorflow/tfjs';

import { type KernelArgs, type WasmKernelFunc, typedView } from './wasm-heap.js';

function share(args: KernelArgs, x: tf.TensorInfo): tf.TensorInfo {
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Builds the `Identity` kernel function; strings keep the stock kernel. */
export function makeIdentity(fallback: WasmKernelFunc | undefined): WasmKernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs['x'];
    if (x === undefined) throw new Error('Identity: expected input x');
    if (x.dtype === 'string' && fallback !== undefined) return fallback(args);
    return share(args, x);
  };
}

/**
 * Builds the `Cast` kernel function: shares data when the dtype does not
 * change and maps non-zero numbers to `true` when casting to bool.
 */
export function makeCast(fallback: WasmKernelFunc | undefined): WasmKernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs['x'];
    if (x === undefined) throw new Error('Cast: expected input x');
    const dtype = args.attrs?.['dtype'];
    if (x.dtype === dtype && x.dtype !== 'string') return share(args, x);
    if (dtype === 'bool' && (x.dtype === 'float32' || x.dtype === 'int32')) {
      // The stock kernel copies the numbers unchanged, so 3 would stay 3, not true.
      const out = args.backend.makeOutput(x.shape, 'bool');
      const src = typedView(args.backend, x);
      const dst = typedView(args.backend, out);
      for (let i = 0; i < src.length; i++) dst[i] = src[i] !== 0 ? 1 : 0;
      return out;
    }
    if (fallback === undefined) throw new Error(`Cast (wasm): cannot cast ${x.dtype}`);
    return fallback(args);
  };
}
