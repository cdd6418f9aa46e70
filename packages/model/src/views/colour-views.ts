import type { Scaling } from '@polyhead/data';

import { tf } from '../tf.js';

/**
 * A view transform: returns a copy of a batch (pixel values as fed to the
 * model) with one attribute changed and everything else kept. `random` draws
 * the per-sample randomness, so a seeded run repeats.
 */
export type ViewTransform = (x: tf.Tensor4D, random: () => number) => tf.Tensor4D;

/** Built-in transforms that change an image's colour but not its shape or texture. */
export type ColourViewKind = 'recolor' | 'hue';

/**
 * Makes a colour-changing view transform for inputs scaled with `scaling`.
 *
 * - `recolor`: every pixel becomes its brightness (max over channels) times
 *   one random colour per image. Strong: a white garment can turn red and a
 *   red one white. Suits flat-coloured objects.
 * - `hue`: a random rotation of the hue (YIQ chroma plane) per image, keeping
 *   luma, shading and texture. Suits photos.
 */
export function colourView(kind: ColourViewKind, scaling: Scaling): ViewTransform {
  const { toUnit, fromUnit } = unitConverters(scaling);
  if (kind === 'recolor') {
    return (x, random) =>
      tf.tidy(() => {
        const n = x.shape[0];
        const colours = new Float32Array(n * 3);
        for (let i = 0; i < n; i++) {
          const c = [random(), random(), random()];
          const max = Math.max(...c, 1e-3);
          for (let k = 0; k < 3; k++) colours[i * 3 + k] = c[k]! / max;
        }
        const brightness = tf.max(toUnit(x), 3, true);
        return fromUnit(tf.mul(brightness, tf.tensor4d(colours, [n, 1, 1, 3])));
      });
  }
  return (x, random) =>
    tf.tidy(() => {
      const [n, h, w] = x.shape;
      const matrices = new Float32Array(n * 9);
      for (let i = 0; i < n; i++) matrices.set(hueRotation(2 * Math.PI * random()), i * 9);
      const flat = tf.reshape(toUnit(x), [n, h * w, 3]);
      const rotated = tf.matMul(flat, tf.tensor3d(matrices, [n, 3, 3]));
      return fromUnit(tf.clipByValue(tf.reshape(rotated, [n, h, w, 3]), 0, 1));
    });
}

// RGB <-> YIQ (NTSC); rows map input channels to output channels when used as x · M.
const RGB_TO_YIQ = [
  [0.299, 0.596, 0.211],
  [0.587, -0.274, -0.523],
  [0.114, -0.322, 0.312],
];
const YIQ_TO_RGB = invert3(RGB_TO_YIQ);

/** 3x3 matrix M (row-major) such that rgb · M rotates the hue by `angle`. */
export function hueRotation(angle: number): Float32Array {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const rotate = [
    [1, 0, 0],
    [0, c, s],
    [0, -s, c],
  ];
  const m = multiply3(multiply3(RGB_TO_YIQ, rotate), YIQ_TO_RGB);
  return Float32Array.from(m.flat());
}

function multiply3(a: number[][], b: number[][]): number[][] {
  return a.map((row) => [0, 1, 2].map((j) => row[0]! * b[0]![j]! + row[1]! * b[1]![j]! + row[2]! * b[2]![j]!));
}

function invert3(m: number[][]): number[][] {
  const [a, b, c] = m[0]!;
  const [d, e, f] = m[1]!;
  const [g, h, i] = m[2]!;
  const A = e! * i! - f! * h!;
  const B = -(d! * i! - f! * g!);
  const C = d! * h! - e! * g!;
  const det = a! * A + b! * B + c! * C;
  return [
    [A / det, -(b! * i! - c! * h!) / det, (b! * f! - c! * e!) / det],
    [B / det, (a! * i! - c! * g!) / det, -(a! * f! - c! * d!) / det],
    [C / det, -(a! * h! - b! * g!) / det, (a! * e! - b! * d!) / det],
  ];
}

/** Maps model inputs to [0, 1] pixel values and back, for a scaling. */
export function unitConverters(scaling: Scaling): {
  toUnit: (x: tf.Tensor) => tf.Tensor;
  fromUnit: (x: tf.Tensor) => tf.Tensor4D;
} {
  if (scaling === 'unit') return { toUnit: (x) => x, fromUnit: (x) => x as tf.Tensor4D };
  if (scaling === 'symmetric') {
    return {
      toUnit: (x) => tf.div(tf.add(x, 1), 2),
      fromUnit: (x) => tf.sub(tf.mul(x, 2), 1) as tf.Tensor4D,
    };
  }
  const { mean, std } = scaling;
  return {
    toUnit: (x) => tf.add(tf.mul(x, tf.tensor1d(std)), tf.tensor1d(mean)),
    fromUnit: (x) => tf.div(tf.sub(x, tf.tensor1d(mean)), tf.tensor1d(std)) as tf.Tensor4D,
  };
}
