/**
 * Typed access to the parts of the TensorFlow.js wasm backend that its own
 * kernels use: the data table, the heap and output allocation. The backend
 * exports no types for these, so the small interfaces below describe only what
 * polyhead's kernels touch.
 */
import * as tf from '@tensorflow/tfjs';

/** One entry of the wasm backend's data table. */
export interface WasmTensorData {
  /** Id the C++ side knows the tensor by. */
  id: number;
  /** Byte offset of the first element on the wasm heap. */
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
  refCount: number;
}

/** The wasm backend as its kernel functions receive it. */
export interface WasmBackend {
  dataIdMap: { get(dataId: tf.DataId): WasmTensorData | undefined };
  wasm: { HEAPF32: Float32Array; HEAP32: Int32Array; HEAPU8: Uint8Array };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  incRef(dataId: tf.DataId): void;
  numDataIds(): number;
}

/** Arguments every kernel function receives. */
export interface KernelArgs {
  inputs: Record<string, tf.TensorInfo | undefined>;
  attrs?: tf.NamedAttrMap;
  backend: WasmBackend;
}

/** A kernel function over the wasm backend. */
export type WasmKernelFunc = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

/** Casts the engine's backend argument to the wasm backend interface. */
export function asWasm(backend: unknown): WasmBackend {
  return backend as WasmBackend;
}

function dataOf(backend: WasmBackend, info: tf.TensorInfo): WasmTensorData {
  const data = backend.dataIdMap.get(info.dataId);
  if (data === undefined) {
    throw new Error(
      `wasm kernel: tensor of shape [${info.shape.join(', ')}] is not on the wasm backend`,
    );
  }
  return data;
}

/**
 * A float32 view of a tensor's data on the heap. Allocating may grow the heap
 * and detach earlier views, so take views only after the last allocation.
 */
export function f32View(backend: WasmBackend, info: tf.TensorInfo): Float32Array {
  const start = dataOf(backend, info).memoryOffset >>> 2;
  return backend.wasm.HEAPF32.subarray(start, start + tf.util.sizeFromShape(info.shape));
}

/** Index of a float32 tensor's first element in the heap's float32 view. */
export function heapIndex(backend: WasmBackend, info: tf.TensorInfo): number {
  return dataOf(backend, info).memoryOffset >>> 2;
}

/** A view of any numeric tensor's data with the element type of its dtype. */
export function typedView(
  backend: WasmBackend,
  info: tf.TensorInfo,
): Float32Array | Int32Array | Uint8Array {
  const offset = dataOf(backend, info).memoryOffset;
  const size = tf.util.sizeFromShape(info.shape);
  if (info.dtype === 'float32')
    return backend.wasm.HEAPF32.subarray(offset >>> 2, (offset >>> 2) + size);
  if (info.dtype === 'int32')
    return backend.wasm.HEAP32.subarray(offset >>> 2, (offset >>> 2) + size);
  if (info.dtype === 'bool') return backend.wasm.HEAPU8.subarray(offset, offset + size);
  throw new Error(`wasm kernel: no heap view for dtype ${info.dtype}`);
}

/** The same data under another shape; takes no reference. */
export function withShape(info: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/**
 * Runs another wasm kernel directly (outside the engine), as the backend's
 * own kernels do. The caller owns the result and must release it or return it.
 */
export function runWasmKernel(
  name: string,
  inputs: Record<string, tf.TensorInfo>,
  attrs: tf.NamedAttrMap,
  backend: WasmBackend,
): tf.TensorInfo {
  const config = tf.getKernel(name, 'wasm');
  if (config === undefined) throw new Error(`wasm kernel: ${name} is not registered`);
  const out = config.kernelFunc({ inputs, attrs, backend: backend as unknown as tf.KernelBackend });
  if (Array.isArray(out)) throw new Error(`wasm kernel: ${name} returned several outputs`);
  return out as tf.TensorInfo;
}

/** Drops one reference to a kernel-internal tensor. */
export function release(backend: WasmBackend, info: tf.TensorInfo): void {
  backend.disposeData(info.dataId);
}

/** Float32 matrix product `a [m, k] x b [k, n]` via the backend's BatchMatMul. */
export function matMul(
  backend: WasmBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  m: number,
  k: number,
  n: number,
): tf.TensorInfo {
  return runWasmKernel(
    'BatchMatMul',
    { a: withShape(a, [1, m, k]), b: withShape(b, [1, k, n]) },
    { transposeA: false, transposeB: false },
    backend,
  );
}

/**
 * Per-column means of `x` viewed as `[outer, reduced, inner]`, as an
 * `[outer, 1, 1, inner]` tensor. Runs on the backend's XNNPACK average
 * pooling, which streams the data once with SIMD: several times faster than a
 * JavaScript loop, and no transpose as in the stock reductions.
 */
export function columnMeans(
  backend: WasmBackend,
  x: tf.TensorInfo,
  outer: number,
  reduced: number,
  inner: number,
): tf.TensorInfo {
  return runWasmKernel(
    'AvgPool',
    { x: withShape(x, [outer, reduced, 1, inner]) },
    { filterSize: [reduced, 1], strides: [1, 1], pad: 'valid' },
    backend,
  );
}
