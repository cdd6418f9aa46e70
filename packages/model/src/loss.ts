import { tf } from './tf.js';

/**
 * Softmax cross-entropy over the samples that carry a label.
 *
 * `labels` holds a class index per sample, or -1 where the label is unknown;
 * those samples contribute nothing, to the value or to the gradient. The sum
 * is divided by the number of labelled samples `count` (given by the caller,
 * who knows it without reading the tensor back), so a batch where the head has
 * no labels at all yields exactly 0 rather than 0/0.
 *
 * `classWeights`, when given, scales each sample's term by the weight of its
 * true class (Keras' `class_weight`, per head).
 */
export function maskedCrossEntropy(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  count: number,
  classWeights?: tf.Tensor1D,
): tf.Scalar {
  return tf.tidy(() => {
    const numClasses = logits.shape[1];
    const known = tf.greaterEqual(labels, 0);
    const safe = tf.where(known, labels, tf.zerosLike(labels));
    const logProbs = tf.logSoftmax(logits);
    const nll = tf.neg(tf.sum(tf.mul(logProbs, tf.oneHot(safe, numClasses)), 1));
    let weights = tf.cast(known, 'float32');
    if (classWeights) weights = tf.mul(weights, tf.gather(classWeights, safe));
    return tf.div(tf.sum(tf.mul(nll, weights)), Math.max(count, 1)) as tf.Scalar;
  });
}

/** Number of samples with a known label (-1 marks unknown). */
export function countKnown(labels: Int32Array): number {
  let n = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i]! >= 0) n++;
  return n;
}

/**
 * "Balanced" class weights n / (k · n_c) over the known labels, as in
 * scikit-learn. A class absent from the data gets weight 0 (nothing to weigh).
 * Computed in double precision, so reports show 0.6 rather than its float32
 * neighbour; the trainer rounds to float32 when it builds the tensor.
 */
export function balancedClassWeights(labels: Int32Array, numClasses: number): Float64Array {
  const counts = new Float64Array(numClasses);
  let n = 0;
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i]!;
    if (c >= 0) {
      counts[c]!++;
      n++;
    }
  }
  const present = counts.filter((c) => c > 0).length;
  const out = new Float64Array(numClasses);
  for (let c = 0; c < numClasses; c++) {
    out[c] = counts[c]! > 0 ? n / (present * counts[c]!) : 0;
  }
  return out;
}
