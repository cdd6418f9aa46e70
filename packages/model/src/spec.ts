import type { HeadKind, Preprocessing } from '@polyhead/data';

/** One output of a multi-output model. */
export interface HeadSpec {
  /** Attribute name, as in the dataset header (`color`). */
  name: string;
  /**
   * Head kind: `softmax` picks exactly one label; `multilabel` scores each label on its own
   * (sigmoid) and picks every label whose score reaches its threshold.
   */
  kind: HeadKind;
  /** Vocabulary in output order. */
  labels: string[];
  /**
   * Multi-label heads: decision threshold per label, in vocabulary order, tuned on validation
   * data for the best F1 of each label; 0.5 each until tuned (and when absent).
   */
  thresholds?: number[];
  /** Weight of this head's term in the total loss. Default 1. */
  weight: number;
  /** Name of the model output that carries this head's probabilities. */
  output: string;
}

/** Small convolutional backbone trained from scratch. */
export interface SmallCnnSpec {
  kind: 'small-cnn';
  /** Filters of the first block; each later block doubles it. Default 32. */
  width: number;
  /** Number of conv blocks; every block but the last halves the resolution. Default 4. */
  depth: number;
  /** Dropout rate applied to the pooled features before the heads. Default 0. */
  dropout: number;
}

/**
 * A pretrained layers model cut at a feature layer and pooled. The saved model carries its
 * weights; `source` only says where they came from.
 */
export interface PretrainedBackboneSpec {
  kind: 'pretrained';
  /** Registry name (`mobilenet-v2-0.35`), or the path or URL of the `model.json`. */
  source: string;
  /** Layer whose output is globally average-pooled into the features. */
  featureLayer: string;
  /** Length of the pooled feature vector. */
  featureChannels: number;
  /** Dropout rate on the pooled features. Default 0. */
  dropout: number;
}

export type BackboneSpec = SmallCnnSpec | PretrainedBackboneSpec;

/** Everything needed to rebuild a network's architecture. */
export interface NetworkSpec {
  inputSize: number;
  backbone: BackboneSpec;
  heads: HeadSpec[];
  /**
   * Backbone blocks shared by every head; the remaining blocks are built once
   * per head as its own branch. Default: all (fully shared).
   */
  sharedDepth?: number;
  /**
   * Classifier chain: head names in order; each head in the chain also sees
   * the probabilities of the heads before it. Default: none.
   */
  chain?: string[];
}

/** Contents of `polyhead.json`, saved beside the TensorFlow.js model. */
export interface ModelMeta {
  format: 'polyhead-model/1';
  network: NetworkSpec;
  preprocessing: Preprocessing;
  training?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  createdAt: string;
  versions: Record<string, string>;
}
