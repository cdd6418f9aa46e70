import { buildSmallCnn } from './backbone/small-cnn.js';
import { buildSoftmaxHead } from './heads/softmax-head.js';
import { outputNames } from './heads/softmax-head.js';
import { smallCnnSpec, type SmallCnnArgs } from './backbone/small-cnn.js';
import type { NetworkSpec } from './spec.js';
import { tf } from './tf.js';

/**
 * A multi-output network: one shared backbone and a head per attribute. Two
 * views share the same layers: `model` outputs probabilities (what is saved and
 * served), `logitsModel` outputs logits (what the trainer differentiates).
 */
export interface Network {
  spec: NetworkSpec;
  model: tf.LayersModel;
  logitsModel: tf.LayersModel;
  /** Per head, the trainable variables that belong to that head only. */
  headVariables: tf.Variable[][];
}

/**
 * Builds a fresh network; with `seed` its initial weights are reproducible.
 *
 * @example
 * const net = buildNetwork(networkSpec({ inputSize: 64, heads: [{ name: 'color', labels: ['red', 'blue'] }] }));
 */
export function buildNetwork(spec: NetworkSpec, options: { seed?: number } = {}): Network {
  const { seed } = options;
  const input = tf.input({ shape: [spec.inputSize, spec.inputSize, 3], name: 'input' });
  const features = buildSmallCnn(input, spec.backbone, seed);
  const heads = spec.heads.map((head, h) =>
    buildSoftmaxHead(features, head, seed === undefined ? undefined : seed + 100 + h),
  );
  const model = tf.model({ inputs: input, outputs: heads.map((h) => h.probs), name: 'polyhead' });
  return wrapNetwork(spec, model);
}

/**
 * Wraps a probabilities model (built or loaded) as a {@link Network}, finding
 * each head's logits layer by name.
 */
export function wrapNetwork(spec: NetworkSpec, model: tf.LayersModel): Network {
  const logits = spec.heads.map((head) => model.getLayer(`${head.output}_logits`));
  const logitsModel = tf.model({
    inputs: model.inputs,
    outputs: logits.map((layer) => layer.output as tf.SymbolicTensor),
    name: 'polyhead_logits',
  });
  const headVariables = logits.map((layer) =>
    layer.trainableWeights.map((w) => w.read() as tf.Variable),
  );
  return { spec, model, logitsModel, headVariables };
}

/** Releases the network's weights. */
export function disposeNetwork(net: Network): void {
  net.model.dispose();
}

/** Arguments of {@link networkSpec}. */
export interface NetworkSpecArgs {
  /** Square input side in pixels. */
  inputSize: number;
  /** Heads in output order, with their vocabularies and optional loss weights. */
  heads: { name: string; labels: readonly string[]; weight?: number }[];
  backbone?: SmallCnnArgs;
}

/** Fills in a full {@link NetworkSpec}: output names, default weights, backbone defaults. */
export function networkSpec(args: NetworkSpecArgs): NetworkSpec {
  if (!Number.isInteger(args.inputSize) || args.inputSize < 8) {
    throw new RangeError(`input size must be an integer of at least 8 pixels, got ${args.inputSize}`);
  }
  if (args.heads.length === 0) throw new RangeError('a network needs at least one head');
  const outputs = outputNames(args.heads.map((h) => h.name));
  return {
    inputSize: args.inputSize,
    backbone: smallCnnSpec(args.backbone),
    heads: args.heads.map((h, i) => {
      if (h.labels.length < 1) throw new RangeError(`head ${h.name} has no labels`);
      return { name: h.name, kind: 'softmax', labels: [...h.labels], weight: h.weight ?? 1, output: outputs[i]! };
    }),
  };
}
