/**
 * Figures of multi-label heads. Scores come as row-major [n, k] arrays (one
 * sigmoid score per label), truth as 0/1 rows of the same shape, and `known[i]`
 * >= 0 marks the rows whose cell was filled in; other rows are skipped.
 */

/** Counts of one label at one threshold. */
interface LabelCounts {
  tp: number;
  fp: number;
  fn: number;
}

/** Label c of every known row, best score first. */
function rankedColumn(
  scores: Float32Array,
  targets: Float32Array,
  known: Int32Array,
  k: number,
  c: number,
): { score: number; positive: boolean }[] {
  const rows: { score: number; positive: boolean }[] = [];
  for (let i = 0; i < known.length; i++) {
    if (known[i]! < 0) continue;
    rows.push({ score: scores[i * k + c]!, positive: targets[i * k + c]! > 0.5 });
  }
  return rows.sort((a, b) => b.score - a.score);
}

/**
 * Average precision of one label: the sum over distinct score thresholds of
 * the precision there times the recall gained, as scikit-learn computes it
 * (tied scores enter together). 0 when the label has no positive row.
 */
export function averagePrecision(
  scores: Float32Array,
  targets: Float32Array,
  known: Int32Array,
  k: number,
  c: number,
): number {
  const ranked = rankedColumn(scores, targets, known, k, c);
  const positives = ranked.filter((r) => r.positive).length;
  if (positives === 0) return 0;
  let tp = 0;
  let fp = 0;
  let ap = 0;
  let recalled = 0;
  for (let i = 0; i < ranked.length; i++) {
    if (ranked[i]!.positive) tp++;
    else fp++;
    if (i + 1 < ranked.length && ranked[i + 1]!.score === ranked[i]!.score) continue;
    const recall = tp / positives;
    ap += (recall - recalled) * (tp / (tp + fp));
    recalled = recall;
  }
  return ap;
}

/**
 * Per-label decision thresholds that maximise each label's F1 on the rows
 * given (validation data). Each threshold sits halfway between the lowest
 * score still called positive and the next lower score, so it does not hang on
 * one sample's exact value; with no lower score it is that lowest score. A
 * label without a positive row keeps 0.5. Of equal F1s the highest threshold
 * wins.
 *
 * @example
 * // one label; rows scored 0.9 … 0.1, the 1st, 3rd and 4th positive
 * const scores = Float32Array.from([0.9, 0.8, 0.6, 0.4, 0.3, 0.1]);
 * const truth = Float32Array.from([1, 0, 1, 1, 0, 0]);
 * tuneThresholds(scores, truth, new Int32Array(6), 1);
 * // → [0.35]: calling the top four positive gives F1 6/7
 */
export function tuneThresholds(
  scores: Float32Array,
  targets: Float32Array,
  known: Int32Array,
  k: number,
): number[] {
  return Array.from({ length: k }, (_, c) => {
    const ranked = rankedColumn(scores, targets, known, k, c);
    const positives = ranked.filter((r) => r.positive).length;
    if (positives === 0) return 0.5;
    let tp = 0;
    let bestF1 = -1;
    let best = 0.5;
    for (let i = 0; i < ranked.length; i++) {
      if (ranked[i]!.positive) tp++;
      const next = ranked[i + 1];
      if (next && next.score === ranked[i]!.score) continue;
      // i + 1 rows called positive: 2·tp / (2·tp + fp + fn) = 2·tp / (called + positives)
      const f1 = (2 * tp) / (i + 1 + positives);
      if (f1 > bestF1) {
        bestF1 = f1;
        best = next ? (ranked[i]!.score + next.score) / 2 : ranked[i]!.score;
      }
    }
    return best;
  });
}

/** 0/1 predictions: 1 where a score reaches its label's threshold. */
export function thresholdRows(scores: Float32Array, thresholds: readonly number[]): Uint8Array {
  const k = thresholds.length;
  const out = new Uint8Array(scores.length);
  for (let j = 0; j < scores.length; j++) out[j] = scores[j]! >= thresholds[j % k]! ? 1 : 0;
  return out;
}

/** Per-class figures of a multi-label head; `support` counts positive rows. */
export interface LabelMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
  /** Decision threshold used. */
  threshold: number;
  /** Average precision of the label's ranking; 0 without a positive row. */
  averagePrecision: number;
}

/** Figures of one multi-label head over its known rows. */
export interface MultiLabelFigures {
  /** Share of rows whose predicted label set equals the true set. */
  subsetAccuracy: number;
  /** Share of (row, label) pairs right. */
  hammingAccuracy: number;
  /** F1 of all (row, label) decisions pooled. */
  microF1: number;
  /** Mean F1 over the labels that occur. */
  macroF1: number;
  /** Mean average precision over the labels that occur. */
  mAP: number;
  count: number;
  /** `confusion[t][p]`: rows where label t is true and label p is predicted. */
  confusion: number[][];
  labels: LabelMetrics[];
  /** Per row: whether the predicted set is exact, and the share of labels right (NaN if unknown). */
  exact: Uint8Array;
  share: Float64Array;
}

/** Scores a multi-label head at the given thresholds. */
export function multiLabelFigures(
  vocabulary: readonly string[],
  thresholds: readonly number[],
  scores: Float32Array,
  targets: Float32Array,
  known: Int32Array,
): MultiLabelFigures {
  const k = vocabulary.length;
  const n = known.length;
  const predicted = thresholdRows(scores, thresholds);
  const counts: LabelCounts[] = vocabulary.map(() => ({ tp: 0, fp: 0, fn: 0 }));
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const exact = new Uint8Array(n);
  const share = new Float64Array(n).fill(Number.NaN);
  let count = 0;
  let exactRows = 0;
  let rightPairs = 0;
  for (let i = 0; i < n; i++) {
    if (known[i]! < 0) continue;
    count++;
    let right = 0;
    for (let c = 0; c < k; c++) {
      const truth = targets[i * k + c]! > 0.5;
      const guess = predicted[i * k + c] === 1;
      if (truth === guess) right++;
      if (truth && guess) counts[c]!.tp++;
      else if (guess) counts[c]!.fp++;
      else if (truth) counts[c]!.fn++;
      if (!truth) continue;
      for (let p = 0; p < k; p++) if (predicted[i * k + p] === 1) confusion[c]![p]!++;
    }
    exact[i] = right === k ? 1 : 0;
    share[i] = right / k;
    exactRows += exact[i]!;
    rightPairs += right;
  }
  const labels = vocabulary.map((label, c): LabelMetrics => {
    const { tp, fp, fn } = counts[c]!;
    const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
    const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
    const f1 = tp > 0 ? (2 * tp) / (2 * tp + fp + fn) : 0;
    return {
      label,
      precision,
      recall,
      f1,
      support: tp + fn,
      threshold: thresholds[c]!,
      averagePrecision: averagePrecision(scores, targets, known, k, c),
    };
  });
  const pooled = { tp: 0, fp: 0, fn: 0 };
  for (const { tp, fp, fn } of counts) {
    pooled.tp += tp;
    pooled.fp += fp;
    pooled.fn += fn;
  }
  const present = labels.filter((l) => l.support > 0);
  const mean = (values: number[]) =>
    values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : 0;
  return {
    subsetAccuracy: count > 0 ? exactRows / count : 0,
    hammingAccuracy: count > 0 ? rightPairs / (count * k) : 0,
    microF1: pooled.tp > 0 ? (2 * pooled.tp) / (2 * pooled.tp + pooled.fp + pooled.fn) : 0,
    macroF1: mean(present.map((l) => l.f1)),
    mAP: mean(present.map((l) => l.averagePrecision)),
    count,
    confusion,
    labels,
    exact,
    share,
  };
}
