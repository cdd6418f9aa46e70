import { deriveSeed } from '@polyhead/data';

import { tf } from '../tf.js';
import { batchNormalization } from '../backend/batch-norm-layer.js';
import type { SmallCnnSpec } from '../spec.js';

/** Arguments of {@link buildSmallCnn}. */
export interface SmallCnnArgs {
  /** Filters of the first block; each later block doubles it. Default 32. */
  width?: number;
  /** Number of conv blocks. Default 4. */
  depth?: number;
  /** Dropout on the pooled features. Default 0. */
  dropout?: number;
}

/** Fills in the defaults of a small-CNN spec and checks its ranges. */
export function smallCnnSpec(args: SmallCnnArgs = {}): SmallCnnSpec {
  const spec: SmallCnnSpec = {
    kind: 'small-cnn',
    width: args.width ?? 32,
    depth: args.depth ?? 4,
    dropout: args.dropout ?? 0,
  };
  if (!Number.isInteger(spec.width) || spec.width < 1) {
    throw new RangeError(`small-cnn width must be a positive integer, got ${spec.width}`);
  }
  if (!Number.isInteger(spec.depth) || spec.depth < 1 || spec.depth > 8) {
    throw new RangeError(`small-cnn depth must be an integer in 1..8, got ${spec.depth}`);
  }
  if (!(spec.dropout >= 0 && spec.dropout < 1)) {
    throw new RangeError(`small-cnn dropout must be in [0, 1), got ${spec.dropout}`);
  }
  return spec;
}

/** Which blocks {@link buildSmallCnn} builds, and how it names them. */
export interface SmallCnnRange {
  /** First block (0-based). Default 0. */
  from?: number;
  /** Block after the last one. Default `spec.depth`. */
  to?: number;
  /** Prefix of every layer name, for per-head branches. Default none. */
  prefix?: string;
}

/**
 * Applies a small VGG-style backbone to `input`: `depth` blocks of 3x3 conv
 * (no bias) → BatchNorm → ReLU, each but the last followed by 2x2 max-pooling,
 * then global average pooling. Returns the pooled feature tensor. With `seed`,
 * the initial weights are the same on every run.
 *
 * With a `range`, only blocks `from`..`to` are applied, so a backbone can be
 * shared up to a block and continue as separate branches per head; the
 * pooling at the end comes with the last block.
 *
 * @example
 * const input = tf.input({ shape: [64, 64, 3] });
 * const features = buildSmallCnn(input, smallCnnSpec({ width: 32, depth: 4 }));
 */
export function buildSmallCnn(
  input: tf.SymbolicTensor,
  spec: SmallCnnSpec,
  seed?: number,
  range: SmallCnnRange = {},
): tf.SymbolicTensor {
  const from = range.from ?? 0;
  const to = range.to ?? spec.depth;
  const prefix = range.prefix ?? '';
  const offset = prefix ? 1000 : 0;
  let h = input;
  for (let block = from; block < to; block++) {
    const filters = spec.width * 2 ** block;
    const name = `${prefix}block${block + 1}`;
    h = tf.layers
      .conv2d({
        filters,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        kernelInitializer: tf.initializers.heNormal({ seed: seed === undefined ? undefined : initializerSeed(seed, offset + block) }),
        name: `${name}_conv`,
      })
      .apply(h) as tf.SymbolicTensor;
    h = batchNormalization({ momentum: 0.9, name: `${name}_bn` }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.reLU({ name: `${name}_relu` }).apply(h) as tf.SymbolicTensor;
    if (block < spec.depth - 1) {
      h = tf.layers.maxPooling2d({ poolSize: 2, name: `${name}_pool` }).apply(h) as tf.SymbolicTensor;
    }
  }
  if (to < spec.depth) return h;
  h = tf.layers.globalAveragePooling2d({ name: `${prefix}features` }).apply(h) as tf.SymbolicTensor;
  if (spec.dropout > 0) {
    h = tf.layers.dropout({ rate: spec.dropout, seed, name: `${prefix}features_dropout` }).apply(h) as tf.SymbolicTensor;
  }
  return h;
}

/**
 * A seed for a TensorFlow.js initializer, one stream per layer. Its normal and truncated-normal
 * generators treat a seed of 0 as "no seed" and draw from `Math.random`, so 0 is never returned.
 */
export function initializerSeed(seed: number, stream: number): number {
  return deriveSeed(seed, stream) || 1;
}
