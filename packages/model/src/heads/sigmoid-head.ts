import { tf } from '../tf.js';
import type { HeadSpec } from '../spec.js';
import type { HeadOutputs } from './softmax-head.js';

/**
 * Builds a multi-label head on top of `features`: a dense layer giving one
 * logit per label, then a sigmoid layer named after the head's output, so each
 * label gets its own probability.
 */
export function buildSigmoidHead(
  features: tf.SymbolicTensor,
  head: HeadSpec,
  seed?: number,
): HeadOutputs {
  const dense = tf.layers.dense({
    units: head.labels.length,
    kernelInitializer: tf.initializers.glorotUniform({ seed }),
    name: `${head.output}_logits`,
  });
  const sigmoid = tf.layers.activation({ activation: 'sigmoid', name: head.output });
  const logits = dense.apply(features) as tf.SymbolicTensor;
  const probs = sigmoid.apply(logits) as tf.SymbolicTensor;
  return { logits, probs, layers: [dense, sigmoid] };
}

/** Decision thresholds of a head: its tuned ones, or 0.5 per label. */
export function headThresholds(head: Pick<HeadSpec, 'labels' | 'thresholds'>): number[] {
  return head.thresholds ?? head.labels.map(() => 0.5);
}
