import type { HeadKind } from '@polyhead/data';

import { buildSmallCnn, smallCnnSpec, type SmallCnnArgs } from './backbone/small-cnn.js';
import { buildHead, outputNames } from './heads/index.js';
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
  if (spec.backbone.kind !== 'small-cnn') {
    throw new TypeError(`buildNetwork builds small-CNN networks; a ${spec.backbone.kind} backbone is built with buildPretrainedNetwork`);
  }
  const backbone = spec.backbone;
  const input = tf.input({ shape: [spec.inputSize, spec.inputSize, 3], name: 'input' });
  const depth = backbone.depth;
  const shared = spec.sharedDepth ?? depth;
  const trunk = buildSmallCnn(input, backbone, seed, { to: shared });
  const chain = spec.chain ?? [];
  // Chained heads are built in chain order, each seeing the probabilities of
  // those before it; the model's outputs stay in head order.
  const order = [
    ...chain.map((name) => spec.heads.findIndex((h) => h.name === name)),
    ...spec.heads.map((_, h) => h).filter((h) => !chain.includes(spec.heads[h]!.name)),
  ];
  const probs: tf.SymbolicTensor[] = [];
  const earlier: tf.SymbolicTensor[] = [];
  for (const h of order) {
    const head = spec.heads[h]!;
    const headSeed = seed === undefined ? undefined : seed + 100 + 10 * h;
    let features =
      shared < depth
        ? buildSmallCnn(trunk, backbone, headSeed, { from: shared, prefix: `${head.output}_branch_` })
        : trunk;
    const inChain = chain.includes(head.name);
    if (inChain && earlier.length > 0) {
      features = tf.layers.concatenate({ name: `${head.output}_chain` }).apply([features, ...earlier]) as tf.SymbolicTensor;
    }
    const built = buildHead(features, head, headSeed);
    probs[h] = built.probs;
    if (inChain) earlier.push(built.probs);
  }
  const model = tf.model({ inputs: input, outputs: probs, name: 'polyhead' });
  return wrapNetwork(spec, model);
}

/**
 * Wraps a probabilities model (built or loaded) as a {@link Network}, finding
 * each head's logits layer by name.
 */
export function wrapNetwork(spec: NetworkSpec, model: tf.LayersModel): Network {
  const logits = spec.heads.map((head, h) => logitsOf(model, `${head.output}_logits`, h));
  const logitsModel = tf.model({
    inputs: model.inputs,
    outputs: logits,
    name: 'polyhead_logits',
  });
  // A head's own layers: its logits and, with branches, its branch blocks.
  const headVariables = spec.heads.map((head) =>
    model.layers
      .filter((l) => l.name === `${head.output}_logits` || l.name.startsWith(`${head.output}_branch_`))
      .flatMap((l) => l.trainableWeights.map((w) => w.read() as tf.Variable)),
  );
  return { spec, model, logitsModel, headVariables };
}

/**
 * The logits tensor of head `h` in `model`. A head layer shared by two models (the image and
 * pooled-feature views of a pretrained network) has one output per model, so the one feeding
 * this model's `h`-th output is taken.
 */
function logitsOf(model: tf.LayersModel, name: string, h: number): tf.SymbolicTensor {
  const layer = model.getLayer(name);
  if (layer.inboundNodes.length <= 1) return layer.output as tf.SymbolicTensor;
  const input = model.outputs[h]?.inputs[0];
  if (!input || input.sourceLayer !== layer) throw new TypeError(`output ${h} of ${model.name} is not fed by layer ${name}`);
  return input;
}

/** Releases the network's weights. */
export function disposeNetwork(net: Network): void {
  net.model.dispose();
}

/** Arguments of {@link networkSpec}. */
export interface NetworkSpecArgs {
  /** Square input side in pixels. */
  inputSize: number;
  /** Heads in output order, with their vocabularies, kinds (default `softmax`) and loss weights. */
  heads: { name: string; labels: readonly string[]; weight?: number; kind?: HeadKind; thresholds?: readonly number[] }[];
  backbone?: SmallCnnArgs;
  /** Backbone blocks shared by all heads; the rest become per-head branches. */
  sharedDepth?: number;
  /** Classifier chain order (head names). */
  chain?: string[];
}

/**
 * Fills in a full {@link NetworkSpec}: output names, default weights, kinds and
 * multi-label thresholds (0.5 each), backbone defaults.
 */
export function networkSpec(args: NetworkSpecArgs): NetworkSpec {
  if (!Number.isInteger(args.inputSize) || args.inputSize < 8) {
    throw new RangeError(`input size must be an integer of at least 8 pixels, got ${args.inputSize}`);
  }
  if (args.heads.length === 0) throw new RangeError('a network needs at least one head');
  const outputs = outputNames(args.heads.map((h) => h.name));
  const backbone = smallCnnSpec(args.backbone);
  const names = args.heads.map((h) => h.name);
  if (args.sharedDepth !== undefined && !(Number.isInteger(args.sharedDepth) && args.sharedDepth >= 0 && args.sharedDepth <= backbone.depth)) {
    throw new RangeError(`shared depth must be an integer in 0..${backbone.depth} (the backbone depth), got ${args.sharedDepth}`);
  }
  for (const name of args.chain ?? []) {
    if (!names.includes(name)) throw new RangeError(`chain names head "${name}", but the heads are ${names.join(', ')}`);
  }
  if (args.chain && new Set(args.chain).size !== args.chain.length) {
    throw new RangeError(`chain repeats a head: ${args.chain.join(', ')}`);
  }
  return {
    inputSize: args.inputSize,
    backbone,
    ...(args.sharedDepth !== undefined && args.sharedDepth < backbone.depth ? { sharedDepth: args.sharedDepth } : {}),
    ...(args.chain && args.chain.length > 1 ? { chain: [...args.chain] } : {}),
    heads: args.heads.map((h, i) => {
      if (h.labels.length < 1) throw new RangeError(`head ${h.name} has no labels`);
      const kind = h.kind ?? 'softmax';
      if (h.thresholds && (kind !== 'multilabel' || h.thresholds.length !== h.labels.length)) {
        throw new RangeError(`head ${h.name}: thresholds need a multilabel head and one per label (${h.labels.length}), got ${h.thresholds.length}`);
      }
      return {
        name: h.name,
        kind,
        labels: [...h.labels],
        weight: h.weight ?? 1,
        output: outputs[i]!,
        ...(kind === 'multilabel' ? { thresholds: h.thresholds ? [...h.thresholds] : h.labels.map(() => 0.5) } : {}),
      };
    }),
  };
}
