import type { HeadSpec } from '../spec.js';
import type { tf } from '../tf.js';
import { buildSigmoidHead } from './sigmoid-head.js';
import { buildSoftmaxHead, type HeadOutputs } from './softmax-head.js';

export * from './softmax-head.js';
export * from './sigmoid-head.js';

/** Builds the head its spec's `kind` asks for: softmax or multi-label sigmoid. */
export function buildHead(features: tf.SymbolicTensor, head: HeadSpec, seed?: number): HeadOutputs {
  return head.kind === 'multilabel'
    ? buildSigmoidHead(features, head, seed)
    : buildSoftmaxHead(features, head, seed);
}
