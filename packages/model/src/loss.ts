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

/**
 * Binary cross-entropy of a multi-label head over the samples whose cell is
 * known.
 *
 * `targets` holds a 0/1 row per sample, `labels` marks which rows are known
 * (>= 0) as `LabelEncoder.encode` gives for a multi-label head. A known
 * sample's term is the mean over its k labels of
 * `max(z, 0) − z·y + log(1 + exp(−|z|))`, the overflow-free form of
 * `−y·log σ(z) − (1 − y)·log(1 − σ(z))`; every listed label counts as
 * positive, every other label of the vocabulary as negative. Unknown rows add
 * nothing to the value or the gradient, and the sum is divided by `count`, so a
 * batch without a known row yields exactly 0.
 *
 * `labelWeights`, when given, scales each label's term.
 */
export function maskedBinaryCrossEntropy(
  logits: tf.Tensor2D,
  targets: tf.Tensor2D,
  labels: tf.Tensor1D,
  count: number,
  labelWeights?: tf.Tensor1D,
): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const known = tf.cast(tf.greaterEqual(labels, 0), 'float32');
    const stable = tf.add(
      tf.sub(tf.relu(logits), tf.mul(logits, targets)),
      tf.log1p(tf.exp(tf.neg(tf.abs(logits)))),
    );
    const weighted = labelWeights ? tf.mul(stable, labelWeights) : stable;
    const perSample = tf.div(tf.sum(weighted, 1), k);
    return tf.div(tf.sum(tf.mul(perSample, known)), Math.max(count, 1)) as tf.Scalar;
  });
}

/**
 * "Balanced" label weights of a multi-label head: n / (k · n_c), where n_c
 * counts the known rows listing label c, n sums those counts and k is the
 * number of labels that occur. A label that never occurs keeps weight 1 (its
 * negatives still teach something).
 *
 * @param targets Row-major [rows, numLabels] 0/1 values.
 * @param labels Per row, >= 0 when the row is known.
 */
export function balancedLabelWeights(
  targets: Float32Array,
  labels: Int32Array,
  numLabels: number,
): Float64Array {
  const counts = new Float64Array(numLabels);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! < 0) continue;
    for (let c = 0; c < numLabels; c++) counts[c]! += targets[i * numLabels + c]! > 0.5 ? 1 : 0;
  }
  const n = counts.reduce((a, b) => a + b, 0);
  const present = counts.filter((c) => c > 0).length;
  return counts.map((c) => (c > 0 ? n / (present * c) : 1));
}
