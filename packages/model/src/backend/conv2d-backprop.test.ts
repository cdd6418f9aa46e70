import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import {
  growth,
  onBackend,
  readAll,
  relativeError,
  seededFor,
  spreadTaps,
  withTuning,
} from './__tests__/helpers.js';
import { filterGradTuning } from './conv2d-backprop-filter.js';


type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

interface ConvCase {
  x: [number, number, number, number];
  w: [number, number, number, number];
  stride: number | [number, number];
  pad: Pad;
}

const TOLERANCE = 1e-4;

const cases: ConvCase[] = [
  { x: [1, 5, 5, 1], w: [3, 3, 1, 2], stride: 1, pad: 'same' },
  { x: [2, 9, 7, 3], w: [3, 3, 3, 4], stride: 1, pad: 'same' },
  { x: [3, 6, 5, 5], w: [3, 3, 5, 4], stride: 1, pad: 'valid' },
  { x: [2, 7, 7, 3], w: [2, 2, 3, 4], stride: 1, pad: 'same' },
  { x: [2, 8, 8, 32], w: [3, 3, 32, 16], stride: 1, pad: 'same' },
  { x: [2, 8, 8, 3], w: [3, 3, 3, 5], stride: 2, pad: 'same' },
  { x: [1, 9, 9, 5], w: [3, 3, 5, 3], stride: 2, pad: 'valid' },
  { x: [2, 7, 8, 3], w: [4, 4, 3, 2], stride: 2, pad: 'same' },
  { x: [2, 10, 11, 1], w: [3, 3, 1, 3], stride: 3, pad: 'same' },
  { x: [1, 11, 10, 3], w: [5, 5, 3, 2], stride: 3, pad: 'valid' },
  { x: [2, 6, 6, 4], w: [1, 1, 4, 3], stride: 2, pad: 'valid' },
  { x: [2, 7, 9, 3], w: [3, 2, 3, 4], stride: [1, 2], pad: 'same' },
  { x: [2, 6, 6, 3], w: [3, 3, 3, 2], stride: 1, pad: 1 },
  {
    x: [2, 7, 6, 3],
    w: [3, 3, 3, 2],
    stride: 1,
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
  {
    x: [2, 5, 4, 2],
    w: [2, 3, 2, 3],
    stride: 1,
    pad: [
      [0, 0],
      [2, 1],
      [1, 3],
      [0, 0],
    ],
  },
  {
    x: [2, 9, 8, 3],
    w: [3, 3, 3, 2],
    stride: 2,
    pad: [
      [0, 0],
      [2, 0],
      [1, 1],
      [0, 0],
    ],
  },
];

function label(c: ConvCase): string {
  return `x ${c.x.join('x')}, w ${c.w.join('x')}, stride ${String(c.stride)}, pad ${JSON.stringify(c.pad)}`;
}

/** Forward output and both gradients of `sum(conv2d(x, w) * r)`. */
function convAndGrads(c: ConvCase): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(seededFor(c.x, 1), c.x);
    const w = tf.tensor4d(seededFor(c.w, 2), c.w);
    const y = tf.conv2d(x, w, c.stride, c.pad);
    const r = tf.tensor(seededFor(y.shape, 3), y.shape);
    const f = (xx: tf.Tensor, ww: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.stride, c.pad), r));
    const [gx, gw] = tf.grads(f)([x, w]);
    return readAll([y, gx, gw]);
  });
}

// The filter gradient sums cache blocks of output positions; one block per call and one
// output row per block are both checked.
const oneBlock = { blockPositions: Infinity };
const patchModes = [
  { mode: 'in one block', tuning: oneBlock },
  { mode: 'one output row per block', tuning: { blockPositions: 1 } },
];

describe('Conv2DBackpropFilter / Conv2DBackpropInput on wasm', () => {
  for (const { mode, tuning } of patchModes) {
    for (const c of cases) {
      it(`should match the cpu backend ${mode} when ${label(c)}`, async () => {
        const want = await onBackend('cpu', () => convAndGrads(c));
        const got = await withTuning(filterGradTuning, tuning, () =>
          onBackend('wasm', () => convAndGrads(c)),
        );
        const names = ['output', 'dx', 'dw'];
        for (let k = 0; k < 3; k++) {
          expect(relativeError(got[k], want[k]), names[k]).toBeLessThan(TOLERANCE);
        }
      });
    }
  }

  for (const c of [
    { x: [2, 9, 9, 3], w: [3, 3, 3, 4], pad: 'same' },
    { x: [1, 10, 8, 2], w: [3, 3, 2, 3], pad: 'valid' },
    { x: [2, 9, 10, 3], w: [2, 2, 3, 2], pad: 'same' },
  ] as const) {
    it(`should handle dilation 2 when x ${c.x.join('x')}, w ${c.w.join('x')}, pad ${c.pad}`, async () => {
      const xs = [...c.x] as [number, number, number, number];
      const ws = [...c.w] as [number, number, number, number];
      const want = await onBackend('cpu', () =>
        tf.tidy(() => {
          const x = tf.tensor4d(seededFor(xs, 4), xs);
          const wd = spreadTaps(tf.tensor4d(seededFor(ws, 5), ws), 2);
          const y = tf.conv2d(x, wd, 1, c.pad);
          const r = tf.tensor(seededFor(y.shape, 6), y.shape);
          const [gx, gwd] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
            tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, c.pad), r)),
          )([x, wd]);
          const gw = tf.stridedSlice(gwd, [0, 0, 0, 0], gwd.shape, [2, 2, 1, 1]);
          return { r: r.dataSync().slice(), rShape: r.shape, out: readAll([y, gx, gw]) };
        }),
      );
      const got = await withTuning(filterGradTuning, oneBlock, () =>
        onBackend('wasm', () =>
          tf.tidy(() => {
            const x = tf.tensor4d(seededFor(xs, 4), xs);
            const w = tf.tensor4d(seededFor(ws, 5), ws);
            const y = tf.conv2d(x, w, 1, c.pad, 'NHWC', 2);
            const dy = tf.tensor(want.r, want.rShape);
            const common = { strides: 1, pad: c.pad, dataFormat: 'NHWC', dilations: 2 };
            const gx = tf
              .engine()
              .runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...common, inputShape: xs });
            const gw = tf
              .engine()
              .runKernel('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: ws });
            return readAll([y, gx as tf.Tensor, gw as tf.Tensor]);
          }),
        ),
      );
      for (let k = 0; k < 3; k++)
        expect(relativeError(got[k], want.out[k])).toBeLessThan(TOLERANCE);
    });
  }

  it('should leave tensor and data-id counts flat when called 20 times', async () => {
    await onBackend('wasm', () => undefined);
    const x = tf.tensor4d(seededFor([2, 9, 9, 4], 7), [2, 9, 9, 4]);
    const w = tf.tensor4d(seededFor([3, 3, 4, 5], 8), [3, 3, 4, 5]);
    for (const { tuning } of patchModes) {
      for (const stride of [1, 2]) {
        const step = () => {
          tf.tidy(() => {
            const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
              tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, 'same')),
            )([x, w]);
            gx.dataSync();
            gw.dataSync();
          });
        };
        const counts = await withTuning(filterGradTuning, tuning, async () =>
          growth(step),
        );
        expect(counts).toEqual({ tensors: 0, dataIds: 0 });
      }
    }
    tf.dispose([x, w]);
  });
});
