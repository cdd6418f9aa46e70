import { describe, expect, it } from 'vitest';

import { argmaxRows, computeMetrics, topKAccuracy } from './metrics.js';

describe('computeMetrics', () => {
  const heads = [
    { name: 'color', labels: ['blue', 'red'] },
    { name: 'type', labels: ['jeans', 'shirt'] },
  ];
  // five samples; sample 4 has no type label
  const labels = [Int32Array.from([0, 0, 1, 1, 1]), Int32Array.from([0, 1, 1, 0, -1])];
  const predicted = [Int32Array.from([0, 1, 1, 1, 0]), Int32Array.from([0, 1, 0, 0, 1])];
  const m = computeMetrics(heads, labels, predicted);

  it('should count accuracy over labelled samples only', () => {
    expect(m.heads.color!.accuracy).toBeCloseTo(3 / 5, 12);
    expect(m.heads.type!.accuracy).toBeCloseTo(3 / 4, 12);
    expect(m.heads.type!.count).toBe(4);
  });

  it('should fill the confusion matrix as [true][predicted]', () => {
    expect(m.heads.color!.confusion).toEqual([[1, 1], [1, 2]]);
    expect(m.heads.type!.confusion).toEqual([[2, 0], [1, 1]]);
  });

  it('should compute per-class precision, recall and macro-F1', () => {
    const red = m.heads.color!.classes[1]!;
    expect(red.precision).toBeCloseTo(2 / 3, 12);
    expect(red.recall).toBeCloseTo(2 / 3, 12);
    const blueF1 = (2 * 0.5 * 0.5) / 1;
    expect(m.heads.color!.macroF1).toBeCloseTo((blueF1 + 2 / 3) / 2, 12);
  });

  it('should take exact-match over fully labelled samples and group combinations', () => {
    expect(m.fullyLabelled).toBe(4);
    expect(m.exactMatch).toBeCloseTo(2 / 4, 12);
    expect(m.hammingAccuracy).toBeCloseTo(6 / 9, 12);
    expect(m.combos).toEqual([
      { labels: { color: 'blue', type: 'jeans' }, count: 1, exactMatch: 1 },
      { labels: { color: 'blue', type: 'shirt' }, count: 1, exactMatch: 0 },
      { labels: { color: 'red', type: 'jeans' }, count: 1, exactMatch: 1 },
      { labels: { color: 'red', type: 'shirt' }, count: 1, exactMatch: 0 },
    ]);
  });
});

describe('topKAccuracy', () => {
  // four samples over three classes; the true class ranks 1st, 2nd, 3rd, and sample 3 is unknown
  const probs = Float32Array.from([0.6, 0.3, 0.1, 0.5, 0.2, 0.3, 0.1, 0.7, 0.2, 0.2, 0.3, 0.5]);
  const labels = Int32Array.from([0, 2, 0, -1]);

  it('should give k = 1 … min(5, classes) over labelled samples', () => {
    const top = topKAccuracy(probs, labels, 3);
    expect(Object.keys(top)).toEqual(['1', '2', '3']);
    expect(top['1']).toBeCloseTo(1 / 3, 12);
    expect(top['2']).toBeCloseTo(2 / 3, 12);
    expect(top['3']).toBe(1);
  });

  it('should be reported per softmax head when probabilities are given', () => {
    const m = computeMetrics([{ name: 'color', labels: ['a', 'b', 'c'] }], [labels], [argmaxRows(probs, 3)], [{ probs }]);
    expect(m.heads.color!.topK).toEqual(topKAccuracy(probs, labels, 3));
    expect(m.heads.color!.accuracy).toBeCloseTo(m.heads.color!.topK!['1']!, 12);
    const many = topKAccuracy(new Float32Array(14), Int32Array.from([3, 6]), 7);
    expect(many).toEqual({ 1: 1, 2: 1, 3: 1, 4: 1, 5: 1 });
  });
});

describe('computeMetrics with a multi-label head', () => {
  const heads = [
    { name: 'color', labels: ['blue', 'red'] },
    { name: 'tags', labels: ['casual', 'summer'], kind: 'multilabel' as const, thresholds: [0.5, 0.4] },
  ];
  // four samples; tags of sample 3 unknown
  const labels = [Int32Array.from([0, 1, 1, 0]), Int32Array.from([1, 2, 0, -1])];
  const predicted = [Int32Array.from([0, 1, 0, 0]), new Int32Array(4)];
  const tagProbs = Float32Array.from([0.8, 0.3, 0.9, 0.45, 0.6, 0.1, 0.2, 0.9]);
  const tagTargets = Float32Array.from([1, 0, 1, 1, 0, 0, 0, 0]);
  const m = computeMetrics(heads, labels, predicted, [undefined, { probs: tagProbs, targets: tagTargets }]);

  it('should score the set with the head thresholds and count it right only when exact', () => {
    // sample 2 predicts {casual} for an empty set
    expect(m.heads.tags!.accuracy).toBeCloseTo(2 / 3, 12);
    expect(m.heads.tags!.microF1).toBeCloseTo(6 / 7, 12);
    expect(m.fullyLabelled).toBe(3);
    // sample 0 both right; sample 1 both right; sample 2 colour and tags wrong
    expect(m.exactMatch).toBeCloseTo(2 / 3, 12);
  });

  it('should weigh a multi-label head by the share of labels right in Hamming accuracy', () => {
    // colour: 3 of 4 right; tags: 1, 1 and 1/2 over three known samples
    expect(m.hammingAccuracy).toBeCloseTo((3 + 2.5) / 7, 12);
  });

  it('should group combinations by the softmax heads only', () => {
    expect(m.combos).toEqual([
      { labels: { color: 'blue' }, count: 1, exactMatch: 1 },
      { labels: { color: 'red' }, count: 2, exactMatch: 0.5 },
    ]);
  });

  it('should refuse a multi-label head without its scores', () => {
    expect(() => computeMetrics(heads, labels, predicted)).toThrow(/"tags" is multi-label/);
  });
});

describe('argmaxRows', () => {
  it('should pick the first maximum of each row', () => {
    expect(Array.from(argmaxRows(Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.5, 0]), 3))).toEqual([1, 0]);
  });
});
