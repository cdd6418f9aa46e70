import { tf } from '../tf.js';
import type { HeadSpec } from '../spec.js';

/** The symbolic outputs of one head. */
export interface HeadOutputs {
  /** Pre-activation scores; the loss is computed from these. */
  logits: tf.SymbolicTensor;
  /** Probabilities; what the saved model outputs. */
  probs: tf.SymbolicTensor;
  /** Layers that belong to this head only. */
  layers: tf.layers.Layer[];
}

/**
 * Builds a softmax classifier head on top of `features`: a dense layer giving
 * one logit per label, then a softmax layer named after the head's output.
 */
export function buildSoftmaxHead(
  features: tf.SymbolicTensor,
  head: HeadSpec,
  seed?: number,
): HeadOutputs {
  const dense = tf.layers.dense({
    units: head.labels.length,
    kernelInitializer: tf.initializers.glorotUniform({ seed }),
    name: `${head.output}_logits`,
  });
  const softmax = tf.layers.softmax({ name: head.output });
  const logits = dense.apply(features) as tf.SymbolicTensor;
  const probs = softmax.apply(logits) as tf.SymbolicTensor;
  return { logits, probs, layers: [dense, softmax] };
}

/**
 * Turns head names into distinct layer-safe output names (`color`, `type`,
 * `size_cm` for `size (cm)`).
 */
export function outputNames(heads: readonly string[]): string[] {
  const used = new Set<string>();
  return heads.map((name) => {
    let base = name.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '') || 'head';
    // layer names of a head's own parts are `<output>_logits`, `<output>_branch_…` and
    // `<output>_chain`; keep outputs clear of those patterns and of the backbone's names
    base = base.replace(/_(branch|chain)(?=_|$)/g, '_$1x');
    if (/^[0-9]/.test(base) || /^block[0-9]/.test(base)) base = `h_${base}`;
    let candidate = base;
    for (let i = 2; used.has(candidate) || RESERVED.has(candidate); i++) candidate = `${base}_${i}`;
    used.add(candidate);
    return candidate;
  });
}

const RESERVED = new Set(['input', 'features', 'features_dropout']);
