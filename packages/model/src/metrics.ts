/**
 * Classification metrics for multi-output predictions. Everything here works
 * on plain arrays: `labels[h][i]` is the true class of sample i for head h
 * (-1 when unknown) and `predicted[h][i]` the predicted class. Multi-label
 * heads bring their scores and 0/1 truth rows through {@link HeadScores}.
 */
import type { HeadKind } from '@polyhead/data';

import { multiLabelFigures } from './multilabel-metrics.js';

/** Per-class figures of one head. */
export interface ClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  /** Samples whose true label is (multi-label: whose true set holds) this class. */
  support: number;
  /** Multi-label heads: the decision threshold of this label. */
  threshold?: number;
  /** Multi-label heads: average precision of this label's ranking (0 without positives). */
  averagePrecision?: number;
}

/** Figures of one head, over the samples that carry its label. */
export interface HeadMetrics {
  kind: HeadKind;
  /**
   * Share of labelled samples the head got right; for a multi-label head, the
   * share whose predicted label set equals the true set.
   */
  accuracy: number;
  /** Mean F1 over the classes present in the truth. */
  macroF1: number;
  /** Samples with a known label for this head. */
  count: number;
  /**
   * `confusion[t][p]`: samples of true class t predicted as p; for a
   * multi-label head, samples whose true set holds t and predicted set holds p.
   */
  confusion: number[][];
  classes: ClassMetrics[];
  /**
   * Softmax heads with scores: share of samples whose true class is among
   * the k most likely, for k = 1 … min(5, classes), keyed `"1"`, `"2"`, ….
   */
  topK?: Record<string, number>;
  /** Multi-label heads: F1 of all (sample, label) decisions pooled. */
  microF1?: number;
  /** Multi-label heads: mean average precision over the labels present. */
  mAP?: number;
  /** Multi-label heads: share of (sample, label) decisions right. */
  hammingAccuracy?: number;
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
  /**
   * Share of fully labelled samples whose every head is right (a multi-label
   * head when its predicted set equals the true set).
   */
  exactMatch: number;
  /**
   * Mean over the known (sample, head) pairs of the share right: 0 or 1 for a
   * softmax head, the share of its labels decided right for a multi-label
   * head, so every head weighs the same.
   */
  hammingAccuracy: number;
  /** Samples with every head labelled (the exact-match denominator). */
  fullyLabelled: number;
  /** Per combination of the softmax heads' labels, over fully labelled samples. */
  combos: ComboMetrics[];
}

/** Names of the heads and their vocabularies, in output order. */
export interface HeadVocab {
  name: string;
  labels: readonly string[];
  /** Default `softmax`. */
  kind?: HeadKind;
  /** Multi-label heads: decision threshold per label. Default 0.5. */
  thresholds?: readonly number[];
}

/** Scores and truth rows of one head, beyond its class indices. */
export interface HeadScores {
  /**
   * Row-major [n, k] scores: softmax probabilities (gives top-k) or, for a
   * multi-label head, one sigmoid score per label (required).
   */
  probs?: Float32Array;
  /** Multi-label heads: row-major [n, k] 0/1 truth (required). */
  targets?: Float32Array;
}

/**
 * Computes per-head, cross-head and per-combination metrics.
 *
 * For a multi-label head `labels[h][i] >= 0` only marks a known cell, its
 * `predicted[h]` is ignored, and `scores[h]` must give `probs` and `targets`.
 *
 * @example
 * const m = computeMetrics(heads, labels, predicted, probs.map((p) => ({ probs: p })));
 * m.heads.color.topK?.['2']; // top-2 accuracy
 */
export function computeMetrics(
  heads: readonly HeadVocab[],
  labels: readonly Int32Array[],
  predicted: readonly Int32Array[],
  scores: readonly (HeadScores | undefined)[] = [],
): MultiHeadMetrics {
  const n = labels[0]?.length ?? 0;
  const perHead: Record<string, HeadMetrics> = {};
  // per head and sample: share right (NaN when unknown) and whether exactly right
  const shares: Float64Array[] = [];
  const exacts: Uint8Array[] = [];
  heads.forEach((head, h) => {
    if (head.kind === 'multilabel') {
      const { probs, targets } = scores[h] ?? {};
      if (!probs || !targets) {
        throw new TypeError(`head "${head.name}" is multi-label: computeMetrics needs its probs and targets`);
      }
      const thresholds = head.thresholds ?? head.labels.map(() => 0.5);
      const f = multiLabelFigures(head.labels, thresholds, probs, targets, labels[h]!);
      perHead[head.name] = {
        kind: 'multilabel',
        accuracy: f.subsetAccuracy,
        macroF1: f.macroF1,
        count: f.count,
        confusion: f.confusion,
        classes: f.labels,
        microF1: f.microF1,
        mAP: f.mAP,
        hammingAccuracy: f.hammingAccuracy,
      };
      shares.push(f.share);
      exacts.push(f.exact);
      return;
    }
    perHead[head.name] = headMetrics(head.labels, labels[h]!, predicted[h]!, scores[h]?.probs);
    const exact = Uint8Array.from(labels[h]!, (t, i) => (t >= 0 && predicted[h]![i] === t ? 1 : 0));
    shares.push(Float64Array.from(labels[h]!, (t, i) => (t < 0 ? Number.NaN : exact[i]!)));
    exacts.push(exact);
  });

  let knownPairs = 0;
  let rightShare = 0;
  for (const share of shares) {
    for (const v of share) {
      if (Number.isNaN(v)) continue;
      knownPairs++;
      rightShare += v;
    }
  }

  const single = heads.map((_, h) => h).filter((h) => heads[h]!.kind !== 'multilabel');
  let full = 0;
  let exact = 0;
  const combos = new Map<string, { labels: number[]; count: number; right: number }>();
  for (let i = 0; i < n; i++) {
    if (heads.some((_, h) => labels[h]![i]! < 0)) continue;
    const allRight = heads.every((_, h) => exacts[h]![i] === 1);
    full++;
    if (allRight) exact++;
    if (single.length === 0) continue;
    const key = single.map((h) => labels[h]![i]).join(',');
    let combo = combos.get(key);
    if (!combo) {
      combo = { labels: single.map((h) => labels[h]![i]!), count: 0, right: 0 };
      combos.set(key, combo);
    }
    combo.count++;
    if (allRight) combo.right++;
  }

  return {
    heads: perHead,
    exactMatch: full > 0 ? exact / full : 0,
    hammingAccuracy: knownPairs > 0 ? rightShare / knownPairs : 0,
    fullyLabelled: full,
    combos: [...combos.values()]
      .sort((a, b) => compareIndexLists(a.labels, b.labels))
      .map((c) => ({
        labels: Object.fromEntries(single.map((h, j) => [heads[h]!.name, heads[h]!.labels[c.labels[j]!]!])),
        count: c.count,
        exactMatch: c.right / c.count,
      })),
  };
}

/**
 * Accuracy, confusion matrix and per-class precision/recall/F1 of a softmax
 * head; with its row-major [n, k] `probs`, also top-k accuracy.
 */
export function headMetrics(
  vocabulary: readonly string[],
  labels: Int32Array,
  predicted: Int32Array,
  probs?: Float32Array,
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
  const accuracy = count > 0 ? right / count : 0;
  const topK = probs ? topKAccuracy(probs, labels, k) : undefined;
  return { kind: 'softmax', accuracy, macroF1, count, confusion, classes, ...(topK ? { topK } : {}) };
}

/**
 * Share of labelled samples whose true class is among the `k` highest scores,
 * for k = 1 … min(5, classes), keyed by k. A true class tied with others ranks
 * after those strictly above it only.
 */
export function topKAccuracy(
  probs: Float32Array,
  labels: Int32Array,
  numClasses: number,
): Record<string, number> {
  const ks = Math.min(5, numClasses);
  const hits = new Array<number>(ks).fill(0);
  let count = 0;
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i]!;
    if (t < 0) continue;
    count++;
    const truth = probs[i * numClasses + t]!;
    let rank = 0;
    for (let c = 0; c < numClasses; c++) if (probs[i * numClasses + c]! > truth) rank++;
    for (let k = rank; k < ks; k++) hits[k]!++;
  }
  return Object.fromEntries(hits.map((h, k) => [String(k + 1), count > 0 ? h / count : 0]));
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
 * answer "blue shirt" at all? Combinations are of the softmax heads only, so
 * each entry of `known` lists those heads' labels in head order.
 */
export function comboPredictions(
  heads: readonly HeadVocab[],
  predicted: readonly Int32Array[],
  known: readonly (readonly string[])[],
): PredictedCombo[] {
  const n = predicted[0]?.length ?? 0;
  const single = heads.map((_, h) => h).filter((h) => heads[h]!.kind !== 'multilabel');
  const knownKeys = new Set(known.map((k) => JSON.stringify(k)));
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const key = JSON.stringify(single.map((h) => heads[h]!.labels[predicted[h]![i]!]));
    if (!knownKeys.has(key)) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([key, count]) => {
      const labels = JSON.parse(key) as string[];
      const named = single.map((h, j) => [heads[h]!.name, labels[j]!]);
      return { labels: Object.fromEntries(named), count, share: n > 0 ? count / n : 0 };
    });
}
