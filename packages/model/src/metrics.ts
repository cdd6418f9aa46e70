/**
 * Classification metrics for multi-output predictions. Everything here works
 * on plain arrays: `labels[h][i]` is the true class of sample i for head h
 * (-1 when unknown) and `predicted[h][i]` the predicted class.
 */

/** Per-class figures of one head. */
export interface ClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  /** Samples whose true label is this class. */
  support: number;
}

/** Figures of one head, over the samples that carry its label. */
export interface HeadMetrics {
  accuracy: number;
  macroF1: number;
  /** Samples with a known label for this head. */
  count: number;
  /** `confusion[t][p]`: samples of true class t predicted as p. */
  confusion: number[][];
  classes: ClassMetrics[];
}

/** Exact-match of one label combination. */
export interface ComboMetrics {
  labels: Record<string, string>;
  count: number;
  exactMatch: number;
}

/** Figures across heads. */
export interface MultiHeadMetrics {
  heads: Record<string, HeadMetrics>;
  /** Share of fully labelled samples whose every head is right. */
  exactMatch: number;
  /** Share of (sample, head) pairs that are right, over known labels. */
  hammingAccuracy: number;
  /** Samples with every head labelled (the exact-match denominator). */
  fullyLabelled: number;
  combos: ComboMetrics[];
}

/** Names of the heads and their vocabularies, in output order. */
export interface HeadVocab {
  name: string;
  labels: readonly string[];
}

/** Computes per-head, cross-head and per-combination metrics. */
export function computeMetrics(
  heads: readonly HeadVocab[],
  labels: readonly Int32Array[],
  predicted: readonly Int32Array[],
): MultiHeadMetrics {
  const n = labels[0]?.length ?? 0;
  const perHead: Record<string, HeadMetrics> = {};
  let knownPairs = 0;
  let rightPairs = 0;
  heads.forEach((head, h) => {
    perHead[head.name] = headMetrics(head.labels, labels[h]!, predicted[h]!);
    knownPairs += perHead[head.name]!.count;
    rightPairs += Math.round(perHead[head.name]!.accuracy * perHead[head.name]!.count);
  });

  let full = 0;
  let exact = 0;
  const combos = new Map<string, { labels: number[]; count: number; right: number }>();
  for (let i = 0; i < n; i++) {
    let complete = true;
    let allRight = true;
    for (let h = 0; h < heads.length; h++) {
      const t = labels[h]![i]!;
      if (t < 0) complete = false;
      else if (predicted[h]![i] !== t) allRight = false;
    }
    if (!complete) continue;
    full++;
    if (allRight) exact++;
    const key = heads.map((_, h) => labels[h]![i]).join(',');
    let combo = combos.get(key);
    if (!combo) {
      combo = { labels: heads.map((_, h) => labels[h]![i]!), count: 0, right: 0 };
      combos.set(key, combo);
    }
    combo.count++;
    if (allRight) combo.right++;
  }

  return {
    heads: perHead,
    exactMatch: full > 0 ? exact / full : 0,
    hammingAccuracy: knownPairs > 0 ? rightPairs / knownPairs : 0,
    fullyLabelled: full,
    combos: [...combos.values()]
      .sort((a, b) => compareIndexLists(a.labels, b.labels))
      .map((c) => ({
        labels: Object.fromEntries(heads.map((head, h) => [head.name, head.labels[c.labels[h]!]!])),
        count: c.count,
        exactMatch: c.right / c.count,
      })),
  };
}

/** Accuracy, confusion matrix and per-class precision/recall/F1 of one head. */
export function headMetrics(
  vocabulary: readonly string[],
  labels: Int32Array,
  predicted: Int32Array,
): HeadMetrics {
  const k = vocabulary.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let count = 0;
  let right = 0;
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i]!;
    if (t < 0) continue;
    const p = predicted[i]!;
    count++;
    if (p === t) right++;
    if (p >= 0 && p < k) confusion[t]![p]!++;
  }
  const classes: ClassMetrics[] = vocabulary.map((label, c) => {
    const tp = confusion[c]![c]!;
    const support = confusion[c]!.reduce((a, b) => a + b, 0);
    const predictedAs = confusion.reduce((a, row) => a + row[c]!, 0);
    const precision = predictedAs > 0 ? tp / predictedAs : 0;
    const recall = support > 0 ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    return { label, precision, recall, f1, support };
  });
  // Macro-F1 over the classes present in the truth, so a class absent from an
  // evaluation set does not count as a zero.
  const present = classes.filter((c) => c.support > 0);
  const macroF1 = present.length > 0 ? present.reduce((a, c) => a + c.f1, 0) / present.length : 0;
  return { accuracy: count > 0 ? right / count : 0, macroF1, count, confusion, classes };
}

/** Index of the largest value in each row of a row-major [n, k] matrix. */
export function argmaxRows(values: Float32Array, k: number): Int32Array {
  const n = values.length / k;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestValue = values[i * k]!;
    for (let c = 1; c < k; c++) {
      const v = values[i * k + c]!;
      if (v > bestValue) {
        bestValue = v;
        best = c;
      }
    }
    out[i] = best;
  }
  return out;
}

function compareIndexLists(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** How often a combination was predicted. */
export interface PredictedCombo {
  labels: Record<string, string>;
  count: number;
  /** Share of all predictions. */
  share: number;
}

/**
 * Counts the predicted label combinations that are not in `known` (for
 * instance, combinations never present in training): does the model ever
 * answer "blue shirt" at all?
 */
export function comboPredictions(
  heads: readonly HeadVocab[],
  predicted: readonly Int32Array[],
  known: readonly (readonly string[])[],
): PredictedCombo[] {
  const n = predicted[0]?.length ?? 0;
  const knownKeys = new Set(known.map((k) => JSON.stringify(k)));
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const key = JSON.stringify(heads.map((head, h) => head.labels[predicted[h]![i]!]));
    if (!knownKeys.has(key)) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([key, count]) => {
      const labels = JSON.parse(key) as string[];
      return { labels: Object.fromEntries(heads.map((head, h) => [head.name, labels[h]!])), count, share: n > 0 ? count / n : 0 };
    });
}
