import type { Scaling } from '@polyhead/data';
import { PolyheadError } from '@polyhead/data';

import { tf } from '../tf.js';
import { hueRotation, unitConverters } from '../views/colour-views.js';

/** Geometric and photometric augmentation; each field 0 or false turns its part off. */
export interface AugmentOptions {
  /** Mirror a random half left-right. Default true. */
  flip: boolean;
  /** Zoom in by up to this share of the side (a random crop resized back). Default 0.15. */
  crop: number;
  /** Rotate by up to ± this many degrees. Default 10. */
  rotate: number;
  /** Shift brightness by up to ± this (on 0..1 pixels). Default 0.1. */
  brightness: number;
  /** Scale contrast by up to 1 ± this. Default 0.15. */
  contrast: number;
  /**
   * Rotate the hue by up to ± this many degrees. Changes colour, so heads that describe colour
   * never learn from a hue-shifted image (their label is hidden for it). Default 0 (off).
   */
  hue: number;
}

/** The default augmentation: shape and light only, no colour change. */
export const DEFAULT_AUGMENT: AugmentOptions = { flip: true, crop: 0.15, rotate: 10, brightness: 0.1, contrast: 0.15, hue: 0 };

/** No augmentation at all. */
export const NO_AUGMENT: AugmentOptions = { flip: false, crop: 0, rotate: 0, brightness: 0, contrast: 0, hue: 0 };

/**
 * Reads an augmentation list such as `flip,crop=0.2,rotate=8,brightness,contrast,hue=20`:
 * named parts are on (with their default or the given amount), the others off; `none` turns all
 * off and `default` gives {@link DEFAULT_AUGMENT}.
 */
export function parseAugment(text: string): AugmentOptions {
  const spec = text.trim();
  if (spec === 'default') return { ...DEFAULT_AUGMENT };
  const out: AugmentOptions = { ...NO_AUGMENT };
  if (spec === 'none' || spec === '') return out;
  const fallback: Record<string, number> = { crop: DEFAULT_AUGMENT.crop, rotate: DEFAULT_AUGMENT.rotate, brightness: DEFAULT_AUGMENT.brightness, contrast: DEFAULT_AUGMENT.contrast, hue: 20 };
  const limits: Record<string, number> = { crop: 0.5, rotate: 45, brightness: 0.5, contrast: 0.9, hue: 180 };
  for (const part of spec.split(',')) {
    const [name = '', value] = part.split('=').map((s) => s.trim());
    if (name === 'flip' && value === undefined) {
      out.flip = true;
      continue;
    }
    if (!(name in fallback)) {
      throw new PolyheadError('USAGE_BAD_AUGMENT', `augmentation "${part}" is not one of flip, crop[=f], rotate[=deg], brightness[=f], contrast[=f], hue[=deg], none, default`, { kind: 'usage' });
    }
    const amount = value === undefined ? fallback[name]! : Number(value);
    if (!(Number.isFinite(amount) && amount >= 0 && amount <= limits[name]!)) {
      throw new PolyheadError('USAGE_BAD_AUGMENT', `augmentation ${name} must be a number in [0, ${limits[name]}], got "${value}"`, { kind: 'usage' });
    }
    (out as unknown as Record<string, number>)[name] = amount;
  }
  return out;
}

/** Whether an augmentation does anything. */
export function augments(options: AugmentOptions): boolean {
  return options.flip || options.crop > 0 || options.rotate > 0 || options.brightness > 0 || options.contrast > 0 || options.hue > 0;
}

/** A batch after augmentation, and which of its images had their colour changed. */
export interface AugmentedBatch {
  x: tf.Tensor4D;
  /** 1 where the image's hue was shifted (colour heads must not learn from it), else 0. */
  recoloured: Uint8Array;
}

/**
 * Augments a batch of model inputs (scaled with `scaling`): one random affine warp per image
 * (mirror, zoom-in crop, small rotation; edges repeat), then brightness and contrast, then an
 * optional hue shift of a random half. `random` draws everything, so a seeded run repeats.
 */
export function augmentBatch(x: tf.Tensor4D, options: AugmentOptions, scaling: Scaling, random: () => number): AugmentedBatch {
  const [n, h, w] = x.shape;
  const recoloured = new Uint8Array(n);
  const transforms = new Float32Array(n * 8);
  const shift = new Float32Array(n);
  const gain = new Float32Array(n);
  const hue = new Float32Array(n * 9);
  const uniform = (a: number) => (2 * random() - 1) * a;
  for (let i = 0; i < n; i++) {
    const mirror = options.flip && random() < 0.5 ? -1 : 1;
    const scale = 1 - options.crop * random();
    const angle = (uniform(options.rotate) * Math.PI) / 180;
    const cos = Math.cos(angle) * scale;
    const sin = Math.sin(angle) * scale;
    const slack = (1 - scale) / 2;
    const tx = uniform(slack) * w;
    const ty = uniform(slack) * h;
    const cx = (w - 1) / 2;
    const cy = (h - 1) / 2;
    // output pixel (x, y) reads input (a0 x + a1 y + a2, b0 x + b1 y + b2)
    const a0 = cos * mirror;
    const a1 = -sin;
    const b0 = sin * mirror;
    const b1 = cos;
    transforms.set([a0, a1, cx - a0 * cx - a1 * cy + tx, b0, b1, cy - b0 * cx - b1 * cy + ty, 0, 0], i * 8);
    shift[i] = uniform(options.brightness);
    gain[i] = 1 + uniform(options.contrast);
    const shiftHue = options.hue > 0 && random() < 0.5;
    recoloured[i] = shiftHue ? 1 : 0;
    hue.set(shiftHue ? hueRotation((uniform(options.hue) * Math.PI) / 180) : [1, 0, 0, 0, 1, 0, 0, 0, 1], i * 9);
  }
  const out = tf.tidy(() => {
    const { toUnit, fromUnit } = unitConverters(scaling);
    const geometric = options.flip || options.crop > 0 || options.rotate > 0;
    let y = geometric ? tf.image.transform(x, tf.tensor2d(transforms, [n, 8]), 'bilinear', 'nearest') : x;
    let unit = toUnit(y);
    if (options.brightness > 0 || options.contrast > 0) {
      const mean = tf.mean(unit, [1, 2, 3], true);
      unit = tf.add(tf.mul(tf.sub(unit, mean), tf.tensor4d(gain, [n, 1, 1, 1])), tf.add(mean, tf.tensor4d(shift, [n, 1, 1, 1])));
    }
    if (options.hue > 0) {
      unit = tf.reshape(tf.matMul(tf.reshape(unit, [n, h * w, 3]), tf.tensor3d(hue, [n, 3, 3])), [n, h, w, 3]);
    }
    y = fromUnit(tf.clipByValue(unit, 0, 1));
    return y;
  });
  return { x: out, recoloured };
}
