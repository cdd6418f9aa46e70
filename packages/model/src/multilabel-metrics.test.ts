import { describe, expect, it } from 'vitest';

import { averagePrecision, multiLabelFigures, thresholdRows, tuneThresholds } from './multilabel-metrics.js';

// one label over six rows, best score first; rows 0, 2 and 3 are positive
const scores = Float32Array.from([0.9, 0.8, 0.6, 0.4, 0.3, 0.1]);
const truth = Float32Array.from([1, 0, 1, 1, 0, 0]);
const allKnown = Int32Array.from([1, 1, 1, 1, 1, 1]);

describe('tuneThresholds', () => {
  it('should pick the F1-optimal cut, halfway to the next score, when tuning one label', () => {
    // calling the top 1…6 rows positive gives F1 1/2, 2/5, 2/3, 6/7, 3/4, 2/3
    const [t] = tuneThresholds(scores, truth, allKnown, 1);
    expect(t).toBeCloseTo((0.4 + 0.3) / 2, 6);
  });

  it('should skip unknown rows and keep 0.5 for a label without positives', () => {
    // two labels interleaved; row 3 is unknown, so its 0.4 cannot shift the first label's cut
    const two = Float32Array.from([0.9, 0.2, 0.8, 0.7, 0.6, 0.1, 0.4, 0.9, 0.3, 0.5, 0.1, 0.3]);
    const rows = Float32Array.from([1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0]);
    const known = Int32Array.from([1, 0, 1, -1, 0, 0]);
    const [first, second] = tuneThresholds(two, rows, known, 2);
    expect(first).toBeCloseTo((0.6 + 0.3) / 2, 6);
    expect(second).toBe(0.5);
  });

  it('should put tied scores on the same side of the threshold', () => {
    const tied = Float32Array.from([0.7, 0.7, 0.2]);
    const [t] = tuneThresholds(tied, Float32Array.from([1, 0, 0]), Int32Array.from([1, 1, 1]), 1);
    expect(t).toBeCloseTo(0.45, 6);
  });
});

describe('averagePrecision', () => {
  it('should sum precision times recall gained over the ranking', () => {
    // hits at ranks 1, 3 and 4: (1 + 2/3 + 3/4) / 3
    expect(averagePrecision(scores, truth, allKnown, 1, 0)).toBeCloseTo(29 / 36, 12);
  });

  it('should count tied scores together and give 0 without positives', () => {
    const tied = Float32Array.from([0.5, 0.5, 0.1]);
    // the tie holds one hit of two rows: precision 1/2 at recall 1
    expect(averagePrecision(tied, Float32Array.from([1, 0, 0]), Int32Array.from([1, 1, 1]), 1, 0)).toBeCloseTo(0.5, 12);
    expect(averagePrecision(tied, new Float32Array(3), Int32Array.from([1, 1, 1]), 1, 0)).toBe(0);
  });
});

describe('multiLabelFigures', () => {
  // three rows, labels a, b, c; row 2 unknown
  const vocabulary = ['a', 'b', 'c'];
  const probs = Float32Array.from([0.9, 0.6, 0.1, 0.2, 0.8, 0.7, 0.9, 0.9, 0.9]);
  const targets = Float32Array.from([1, 0, 0, 0, 1, 1, 0, 0, 0]);
  const known = Int32Array.from([1, 2, -1]);
  const f = multiLabelFigures(vocabulary, [0.5, 0.7, 0.5], probs, targets, known);

  it('should threshold each label with its own threshold', () => {
    expect(Array.from(thresholdRows(probs, [0.5, 0.7, 0.5]))).toEqual([1, 0, 0, 0, 1, 1, 1, 1, 1]);
  });

  it('should give subset and Hamming accuracy, micro and macro F1 and mAP over known rows', () => {
    expect(f.count).toBe(2);
    expect(f.subsetAccuracy).toBe(1);
    expect(f.hammingAccuracy).toBe(1);
    expect(f.microF1).toBe(1);
    expect(f.macroF1).toBe(1);
    expect(f.mAP).toBe(1);
    expect(f.confusion).toEqual([
      [1, 0, 0],
      [0, 1, 1],
      [0, 1, 1],
    ]);
  });

  it('should count a set wrong when one label flips', () => {
    const g = multiLabelFigures(vocabulary, [0.5, 0.5, 0.5], probs, targets, known);
    // row 0 now also predicts b: one false positive of four positives called
    expect(g.subsetAccuracy).toBe(0.5);
    expect(g.hammingAccuracy).toBeCloseTo(5 / 6, 12);
    expect(g.microF1).toBeCloseTo((2 * 3) / (2 * 3 + 1), 12);
    expect(g.labels[1]).toMatchObject({ label: 'b', precision: 0.5, recall: 1, support: 1, threshold: 0.5 });
    expect(g.macroF1).toBeCloseTo((1 + 2 / 3 + 1) / 3, 12);
    expect(Array.from(g.exact)).toEqual([0, 1, 0]);
  });
});
