/**
 * BatchNorm in training mode as two fused kernels on polyhead's own wasm
 * code: the forward pass computes the batch moments and normalises in two
 * passes over the activation, the backward pass takes the gradient through
 * the normalisation and the batch moments at once, again in two passes.
 *
 * The stock path builds the moments from `Mean`, `Sub`, `Square` and `Mean`,
 * normalises with `FusedBatchNorm`, and differentiates each of them: about
 * fifteen full passes over what is usually a network's largest activation,
 * two of them `Tile`s. With `x` viewed as `[rows, C]`, `xc = x - mean`,
 * `s = rsqrt(variance + eps)` and `n` rows, the gradient is
 *
 *   dx = scale * s * (dy - sum(dy) / n - xc * s^2 * sum(dy * xc) / n)
 *   dScale = s * sum(dy * xc),  dOffset = sum(dy)
 *
 * Rows are split between this thread and the kernel worker of
 * `own-kernels.ts` when the activation is large.
 */
import * as tf from '@tensorflow/tfjs';

import { type OwnKernelName, type OwnKernels, ownKernels, runShared } from './own-kernels.js';
import { type KernelArgs, type WasmBackend, f32View, heapIndex, release } from './wasm-heap.js';

/** Forward kernel: inputs `x`, `scale`, `offset`; outputs `y`, `mean`, `variance`. */
export const BATCH_NORM_TRAIN = 'PolyheadBatchNormTrain';
/** Backward kernel: inputs `dy`, `x`, `scale`, `mean`, `variance`; outputs `dx`, `dScale`, `dOffset`. */
export const BATCH_NORM_TRAIN_GRAD = 'PolyheadBatchNormTrainGrad';

/** Tuning of the split between threads. */
export const batchNormTrainTuning = {
  /** Fewest activation elements for the kernel worker to take half of the rows; default 128 Ki. */
  minSplitElements: 1 << 17,
};

export interface Layout {
  rows: number;
  c: number;
}

function layoutOf(x: tf.TensorInfo): Layout {
  const c = x.shape[x.shape.length - 1] ?? 1;
  return { rows: c === 0 ? 0 : tf.util.sizeFromShape(x.shape) / c, c };
}

/**
 * Runs `kernel` over rows `[0, rows)` with the arguments `args(first, end,
 * half)` gives, the second half on the kernel worker when worthwhile.
 */
export function splitRows(
  kernels: OwnKernels,
  { rows, c }: Layout,
  kernel: OwnKernelName,
  args: (first: number, end: number, half: 0 | 1) => number[],
): void {
  if (kernels.worker === undefined || rows < 2 || rows * c < batchNormTrainTuning.minSplitElements) {
    runShared(kernels, kernel, args(0, rows, 0));
    return;
  }
  const mid = Math.ceil(rows / 2);
  runShared(kernels, kernel, args(0, mid, 0), args(mid, rows, 1));
}

/** The two passes of both kernels, see {@link sumThenAffine}. */
interface TwoPasses {
  /** Writes the terms' first row(s) before the sums pass, if it reads them. */
  prepare?: (terms: Float32Array) => void;
  /** The sums kernel and its arguments for rows `[first, end)`, summing into byte offset `out`. */
  sums: [OwnKernelName, (first: number, end: number, out: number, terms: number) => number[]];
  /** Turns the `2 * C` per-channel sums into the three rows of `C` terms the affine pass reads. */
  terms: (sums: Float64Array, terms: Float32Array) => void;
  /** The `channelAffine` arguments for rows `[first, end)`, the terms at byte offset `terms`. */
  affine: (terms: number, first: number, end: number) => number[];
}

/**
 * Per-channel sums over the activation (each half of the rows into its own f64 buffer, added
 * here), per-channel terms computed from them, then one `channelAffine` pass.
 */
function sumThenAffine(backend: WasmBackend, layout: Layout, passes: TwoPasses): void {
  const { c } = layout;
  // Two halves of 2 * C doubles each.
  const sums = backend.makeOutput([8 * c], 'float32');
  const terms = backend.makeOutput([3 * c], 'float32');
  const kernels = ownKernels(backend);
  try {
    f32View(backend, sums).fill(0);
    passes.prepare?.(f32View(backend, terms));
    const sumsAt = heapIndex(backend, sums) * 4;
    const termsAt = heapIndex(backend, terms) * 4;
    const [kernel, args] = passes.sums;
    splitRows(kernels, layout, kernel, (first, end, half) =>
      args(first, end, sumsAt + half * 16 * c, termsAt),
    );
    const heap = backend.wasm.HEAPF32;
    const both = new Float64Array(heap.buffer, heap.byteOffset + sumsAt, 4 * c);
    const total = new Float64Array(2 * c);
    for (let k = 0; k < 2 * c; k++) total[k] = both[k]! + both[2 * c + k]!;
    passes.terms(total, f32View(backend, terms));
    const affine = (first: number, end: number) => passes.affine(termsAt, first, end);
    splitRows(kernels, layout, 'channelAffine', affine);
  } finally {
    release(backend, sums);
    release(backend, terms);
  }
}

function epsilonOf(attrs: tf.NamedAttrMap | undefined): number {
  return ((attrs ?? {}) as { varianceEpsilon?: number }).varianceEpsilon ?? 0.001;
}

/** Kernel function for {@link BATCH_NORM_TRAIN}. */
export function batchNormTrain(args: KernelArgs): tf.TensorInfo[] {
  const { backend } = args;
  const { x, scale, offset } = args.inputs;
  if (x === undefined || scale === undefined || offset === undefined)
    throw new Error(`${BATCH_NORM_TRAIN}: expected inputs x, scale and offset`);
  const eps = epsilonOf(args.attrs);
  const layout = layoutOf(x);
  const { rows, c } = layout;
  const y = backend.makeOutput(x.shape, 'float32');
  const mean = backend.makeOutput([c], 'float32');
  const variance = backend.makeOutput([c], 'float32');
  if (rows === 0) return [y, mean, variance];
  const at = (info: tf.TensorInfo) => heapIndex(backend, info) * 4;
  // Terms: the shift (the first row), then gain and bias.
  sumThenAffine(backend, layout, {
    prepare: (t) => {
      // Moments about the first row keep the f32 sums small whatever the activations' offset.
      t.set(f32View(backend, x).subarray(0, c));
    },
    sums: ['bnMoments', (first, end, out, terms) => [at(x), terms, c, first, end, out]],
    terms: (s, t) => {
      const m = f32View(backend, mean);
      const v = f32View(backend, variance);
      const g = f32View(backend, scale);
      const o = f32View(backend, offset);
      for (let k = 0; k < c; k++) {
        const d = s[k]! / rows;
        const mk = t[k]! + d;
        const vk = Math.max(0, s[c + k]! / rows - d * d);
        m[k] = mk;
        v[k] = vk;
        const gain = g[k]! / Math.sqrt(vk + eps);
        t[c + k] = gain;
        t[2 * c + k] = o[k]! - mk * gain;
      }
    },
    affine: (t, first, end) => [at(x), 0, t + 4 * c, 0, t + 8 * c, at(y), c, first, end],
  });
  return [y, mean, variance];
}

/** Kernel function for {@link BATCH_NORM_TRAIN_GRAD}. */
export function batchNormTrainGrad(args: KernelArgs): tf.TensorInfo[] {
  const { backend } = args;
  const { dy, x, scale, mean, variance } = args.inputs;
  if (!dy || !x || !scale || !mean || !variance)
    throw new Error(`${BATCH_NORM_TRAIN_GRAD}: expected inputs dy, x, scale, mean and variance`);
  const eps = epsilonOf(args.attrs);
  const layout = layoutOf(x);
  const { rows, c } = layout;
  const dx = backend.makeOutput(x.shape, 'float32');
  const dScale = backend.makeOutput([c], 'float32');
  const dOffset = backend.makeOutput([c], 'float32');
  if (rows === 0) {
    f32View(backend, dScale).fill(0);
    f32View(backend, dOffset).fill(0);
    return [dx, dScale, dOffset];
  }
  const at = (info: tf.TensorInfo) => heapIndex(backend, info) * 4;
  // Terms: a (times dy), b (times x) and e.
  sumThenAffine(backend, layout, {
    sums: ['bnGradSums', (first, end, out) => [at(dy), at(x), at(mean), c, first, end, out]],
    terms: (s, t) => {
      const g = f32View(backend, scale);
      const m = f32View(backend, mean);
      const v = f32View(backend, variance);
      const ds = f32View(backend, dScale);
      const dOff = f32View(backend, dOffset);
      for (let k = 0; k < c; k++) {
        const inv = 1 / Math.sqrt(v[k]! + eps);
        const sumDy = s[k]!;
        const sumDyXc = s[c + k]!;
        const a = g[k]! * inv;
        const b = (-a * inv * inv * sumDyXc) / rows;
        t[k] = a;
        t[c + k] = b;
        t[2 * c + k] = (-a * sumDy) / rows - b * m[k]!;
        ds[k] = inv * sumDyXc;
        dOff[k] = sumDy;
      }
    },
    affine: (t, first, end) => [at(dy), at(x), t, t + 4 * c, t + 8 * c, at(dx), c, first, end],
  });
  return [dx, dScale, dOffset];
}

/**
 * Training-mode BatchNorm over the last axis with batch statistics, on the
 * fused wasm kernels: returns the normalised `x` and the batch mean and
 * (biased) variance, whose gradients are not propagated (as in Keras, they
 * only feed the moving averages). Call it only while wasm is the backend.
 */
export function batchNormTraining(
  x: tf.Tensor,
  scale: tf.Tensor,
  offset: tf.Tensor,
  varianceEpsilon: number,
): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  let stats: tf.Tensor[] = [];
  const op = tf.customGrad((...args: unknown[]) => {
    const [xs, g, o, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [y, mean, variance] = tf
      .engine()
      .runKernel(BATCH_NORM_TRAIN, { x: xs, scale: g, offset: o }, { varianceEpsilon }) as tf.Tensor[];
    save([xs, g, mean!, variance!]);
    // The forward function runs inside a tidy that keeps only its value.
    stats = [tf.keep(mean!), tf.keep(variance!)];
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [sx, sg, sm, sv] = saved;
        return tf
          .engine()
          .runKernel(
            BATCH_NORM_TRAIN_GRAD,
            { dy: dy as tf.Tensor, x: sx!, scale: sg!, mean: sm!, variance: sv! },
            { varianceEpsilon },
          ) as tf.Tensor[];
      },
    };
  });
  const y = op(x, scale, offset);
  // Clones join the caller's scope; the kept originals go.
  const [mean, variance] = stats.map((t) => {
    const owned = t.clone();
    t.dispose();
    return owned;
  });
  return { y, mean: mean!, variance: variance! };
}
