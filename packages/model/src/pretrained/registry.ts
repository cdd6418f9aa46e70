import type { Scaling } from '@polyhead/data';

/** Size and SHA-256 of downloaded bytes. */
export interface FileDigest {
  /** Bytes. */
  size: number;
  /** Lower-case hex SHA-256. */
  sha256: string;
}

/**
 * A pretrained TensorFlow.js layers model usable as a backbone, with the defaults that go with
 * its weights (timm-style: per-variant input size and normalisation beside the entry).
 */
export interface PretrainedEntry {
  /** Registry name, `arch-variant` (`mobilenet-v2-0.35`). */
  name: string;
  /** What the weights are, in a line. */
  description: string;
  /** Official address of `model.json`; the weight files sit beside it. */
  url: string;
  /** Input side the weights were trained at. */
  inputSize: number;
  /** Other input sides the network accepts (fully convolutional up to the feature layer). */
  inputSizes: number[];
  /** Pixel scaling the weights expect. */
  scaling: Scaling;
  /** Layer whose output (`[N, h, w, c]`) is pooled into the feature vector. */
  featureLayer: string;
  /** Channels of the feature layer (the pooled feature length). */
  featureChannels: number;
  /**
   * Block a layer belongs to, from its name (capture group 1 is the block number); layers that
   * match none belong to the block after the last numbered one. Used to unfreeze the last blocks.
   */
  blockPattern: RegExp;
  /** `model.json` as published; undefined where only the weights can be checked. */
  modelJson?: FileDigest;
  /** The weight files concatenated in `weightsManifest` order. */
  weights: FileDigest;
}

/**
 * Backbones known by name. The digests are checked after every download and on every load from
 * the cache, so a truncated or altered file is never used.
 */
export const PRETRAINED: Record<string, PretrainedEntry> = {
  'mobilenet-v1-0.25': {
    name: 'mobilenet-v1-0.25',
    description: 'MobileNet V1, alpha 0.25, ImageNet (Keras weights converted by Google for TensorFlow.js)',
    url: 'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.25_224/model.json',
    inputSize: 224,
    inputSizes: [128, 160, 192, 224],
    scaling: 'symmetric',
    featureLayer: 'conv_pw_13_relu',
    featureChannels: 256,
    blockPattern: /^conv_(?:dw|pw)_(\d+)(?:_|$)/,
    modelJson: { size: 54_134, sha256: 'd14c680e069d74143e3771c291cf3fd153ee88b6ea9ee44bfaf84e2008ded44e' },
    weights: { size: 1_902_176, sha256: 'eb49857447f6089e7e392f7991f3f4fdce1936efaf83d535f5eb8aaba9538e0b' },
  },
  'mobilenet-v2-0.35': {
    name: 'mobilenet-v2-0.35',
    description: 'MobileNet V2, alpha 0.35, ImageNet, no top (the Teachable Machine image backbone)',
    url: 'https://storage.googleapis.com/teachable-machine-models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top/model.json',
    inputSize: 224,
    inputSizes: [96, 128, 160, 192, 224],
    scaling: 'symmetric',
    featureLayer: 'out_relu',
    featureChannels: 1280,
    blockPattern: /^block_(\d+)_/,
    // NOTE: the weights digest is of the 260 published tensors in their published order, taken
    // from copies of the published base; the published model.json itself (a different layout of
    // the same layers) has not been seen here, so it is parsed and checked but not hashed. Record
    // its digest once it has been fetched from `url`.
    weights: { size: 1_640_832, sha256: 'e159deb3afa15bc63a53edb3eb31d0d6de1a25f0d8d72d9b8372b5088a902a8a' },
  },
};

/** Names in the registry, sorted. */
export function pretrainedNames(): string[] {
  return Object.keys(PRETRAINED).sort();
}

/** The registry entry called `name`, or undefined. */
export function pretrainedEntry(name: string): PretrainedEntry | undefined {
  return Object.hasOwn(PRETRAINED, name) ? PRETRAINED[name] : undefined;
}
