import { describe, expect, it } from 'vitest';

import { argmaxRows, computeMetrics } from './metrics.js';

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

describe('argmaxRows', () => {
  it('should pick the first maximum of each row', () => {
    expect(Array.from(argmaxRows(Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.5, 0]), 3))).toEqual([1, 0]);
  });
});
