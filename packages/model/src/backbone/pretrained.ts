import { buildHead } from '../heads/index.js';
import { wrapNetwork, type Network } from '../network.js';
import type { LoadedBackbone } from '../pretrained/load.js';
import type { NetworkSpec, PretrainedBackboneSpec } from '../spec.js';
import { tf } from '../tf.js';

/** Arguments of {@link pretrainedBackboneSpec}. */
export interface PretrainedBackboneArgs {
  /** Dropout on the pooled features. Default 0. */
  dropout?: number;
}

/** The spec of a loaded backbone, as saved in `polyhead.json`. */
export function pretrainedBackboneSpec(backbone: LoadedBackbone, args: PretrainedBackboneArgs = {}): PretrainedBackboneSpec {
  const dropout = args.dropout ?? 0;
  if (!(dropout >= 0 && dropout < 1)) throw new RangeError(`dropout must be in [0, 1), got ${dropout}`);
  return { kind: 'pretrained', source: backbone.source, featureLayer: backbone.featureLayer, featureChannels: backbone.featureChannels, dropout };
}

/**
 * A network on a pretrained backbone, in two views that share every head layer:
 *
 * - `net`: image → backbone up to the feature layer → global average pooling → heads; what is
 *   trained when backbone blocks are unfrozen, saved and served.
 * - `heads`: pooled features (fed as `[N, 1, 1, C]`) → the same head layers; what is trained on
 *   cached features while the backbone is frozen. Training it trains `net`'s heads.
 */
export interface PretrainedNetwork {
  net: Network;
  heads: Network;
}

/**
 * Builds the heads of `spec` on a loaded backbone. Per-head branches and classifier chains are
 * small-CNN features and are refused here.
 *
 * @example
 * const backbone = await loadBackbone('mobilenet-v1-0.25', { inputSize: 160 });
 * const { net, heads } = buildPretrainedNetwork(spec, backbone, { seed: 0 });
 */
export function buildPretrainedNetwork(spec: NetworkSpec, backbone: LoadedBackbone, options: { seed?: number } = {}): PretrainedNetwork {
  const { seed } = options;
  if (spec.backbone.kind !== 'pretrained') throw new TypeError(`expected a pretrained backbone spec, got ${spec.backbone.kind}`);
  if (spec.sharedDepth !== undefined || (spec.chain?.length ?? 0) > 0) {
    throw new RangeError('per-head branches (sharedDepth) and classifier chains need the small-CNN backbone');
  }
  const channels = backbone.featureChannels;
  const dropout = spec.backbone.dropout;
  const featureInput = tf.input({ shape: [1, 1, channels], name: 'pooled_features' });
  let flat = tf.layers.flatten({ name: 'features_flat' }).apply(featureInput) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({ name: 'features' }).apply(backbone.model.getLayer(backbone.featureLayer).output) as tf.SymbolicTensor;
  let full = pooled;
  if (dropout > 0) {
    const drop = tf.layers.dropout({ rate: dropout, seed, name: 'features_dropout' });
    flat = drop.apply(flat) as tf.SymbolicTensor;
    full = drop.apply(full) as tf.SymbolicTensor;
  }
  const headProbs: tf.SymbolicTensor[] = [];
  const fullProbs: tf.SymbolicTensor[] = [];
  spec.heads.forEach((head, h) => {
    const built = buildHead(flat, head, seed === undefined ? undefined : seed + 100 + 10 * h);
    headProbs.push(built.probs);
    // the same layer objects applied to the image path: one set of weights for both views
    fullProbs.push(built.layers.reduce((x, layer) => layer.apply(x) as tf.SymbolicTensor, full));
  });
  const headsModel = tf.model({ inputs: featureInput, outputs: headProbs, name: 'polyhead_heads' });
  const model = tf.model({ inputs: backbone.model.inputs, outputs: fullProbs, name: 'polyhead' });
  return { net: wrapNetwork(spec, model), heads: wrapNetwork(spec, headsModel) };
}

/**
 * The backbone's layers grouped into blocks, in order, from the registry's block pattern (or,
 * for other models, one block per layer with weights). Layers without a numbered block join the
 * block after the last numbered one (MobileNet's final 1x1 conv), or the first (its stem).
 */
export function backboneBlocks(net: Network, featureLayer: string, pattern?: RegExp): tf.layers.Layer[][] {
  const layers: tf.layers.Layer[] = [];
  for (const layer of net.model.layers) {
    layers.push(layer);
    if (layer.name === featureLayer) break;
  }
  const blocks = new Map<string, tf.layers.Layer[]>();
  let last = 'stem';
  let seenNumbered = false;
  for (const layer of layers) {
    const m = pattern?.exec(layer.name);
    let key: string;
    if (pattern) {
      if (m) {
        key = `b${m[1]}`;
        seenNumbered = true;
      } else {
        key = seenNumbered ? 'top' : 'stem';
      }
    } else {
      if (layer.weights.length > 0) last = `l${blocks.size}`;
      key = last;
    }
    const list = blocks.get(key);
    if (list) list.push(layer);
    else blocks.set(key, [layer]);
  }
  return [...blocks.values()].filter((block) => block.some((l) => l.weights.length > 0));
}

/**
 * Sets which backbone layers train: all frozen, then the last `blocks` blocks unfrozen. Every
 * BatchNormalization layer of the backbone runs in inference mode from then on, trainable or
 * not, so its moving statistics (learnt on ImageNet) are neither used nor overwritten by the
 * small batches of fine-tuning. Returns the number of unfrozen layers.
 */
export function setTrainableBlocks(net: Network, featureLayer: string, blocks: number, pattern?: RegExp): number {
  const groups = backboneBlocks(net, featureLayer, pattern);
  const unfrozen = new Set(blocks > 0 ? groups.slice(-blocks).flat() : []);
  let count = 0;
  for (const group of groups) {
    for (const layer of group) {
      layer.trainable = unfrozen.has(layer);
      if (layer.trainable && layer.weights.length > 0) count++;
      if (layer.getClassName() === 'BatchNormalization') inferenceOnly(layer);
    }
  }
  return count;
}

const pinned = new WeakSet<tf.layers.Layer>();

/** Makes a layer ignore `training: true`. */
function inferenceOnly(layer: tf.layers.Layer): void {
  if (pinned.has(layer)) return;
  pinned.add(layer);
  const call = layer.call.bind(layer);
  // NOTE: tfjs has no per-layer switch for this (Keras' `trainable = False` implies it, tfjs'
  // does not), so the layer's own call is wrapped.
  layer.call = (inputs, kwargs) => call(inputs, { ...kwargs, training: false });
}
