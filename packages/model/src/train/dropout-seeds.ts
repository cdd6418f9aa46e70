import { deriveSeed } from '@polyhead/data';

import { tf } from '../tf.js';

/** The seed each seeded Dropout layer was built with, before any step changed it. */
const baseSeeds = new WeakMap<tf.layers.Layer, number>();

/** A Dropout layer's seed field, private in the typings. */
type Seeded = { seed?: number };

/**
 * Gives every seeded Dropout layer of `model` a seed of its own for training step `step`.
 *
 * TensorFlow.js draws a seeded Dropout layer's mask from the same seed on every call, so
 * without this each step would drop the same units, and dropout would only shrink the
 * network. Deriving the seed from the step keeps runs reproducible, resumed ones included,
 * while the masks change from step to step. Layers built without a seed are left alone.
 */
export function reseedDropout(model: tf.LayersModel, step: number): void {
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Dropout') continue;
    const seeded = layer as unknown as Seeded;
    let base = baseSeeds.get(layer);
    if (base === undefined) {
      if (seeded.seed === undefined || seeded.seed === null) continue;
      base = seeded.seed;
      baseSeeds.set(layer, base);
    }
    seeded.seed = deriveSeed(base, step);
  }
}
