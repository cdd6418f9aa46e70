import type { Dataset } from '@polyhead/data';
import { describe, expect, it } from 'vitest';

import { compareSplit, subset } from './split.js';
import { combinedDataset, headDataset } from './strategies.js';

const colors = ['red', 'green', 'blue'];
const types = ['shirt', 'shoe', 'bag', 'hat'];
const dataset: Dataset = {
  heads: ['color', 'type'],
  samples: Array.from({ length: 240 }, (_, i) => ({
    path: `/img/${i}.png`,
    labels: [colors[i % 3]!, types[Math.floor(i / 3) % 4]!],
    source: { file: '/labels.csv', line: i + 2 },
  })),
  skipped: [],
  origin: '/labels.csv',
};

describe('compareSplit', () => {
  it('should put every held-out combination in unseen and nowhere else', async () => {
    const split = await compareSplit(dataset, { holdout: { combos: [{ color: 'blue', type: 'bag' }] }, valFraction: 0.25, seed: 3 });
    const labelsOf = (idx: number[]) => idx.map((i) => dataset.samples[i]!.labels.join(' '));
    expect(new Set(labelsOf(split.unseen))).toEqual(new Set(['blue bag']));
    expect(labelsOf([...split.train, ...split.val])).not.toContain('blue bag');
    expect(split.train.length + split.val.length + split.unseen.length).toBe(240);
    expect(new Set([...split.train, ...split.val, ...split.unseen]).size).toBe(240);
    expect(split.val.length).toBe(Math.round(220 * 0.25));
  });

  it('should give the same split for the same seed and a different one for another seed', async () => {
    const options = { holdout: { fraction: 0.2 }, valFraction: 0.2, seed: 7 };
    const a = await compareSplit(dataset, options);
    const b = await compareSplit(dataset, options);
    const c = await compareSplit(dataset, { ...options, seed: 8 });
    expect(b).toEqual(a);
    expect(c.val).not.toEqual(a.val);
  });

  it('should hand every strategy the same images in the same order', async () => {
    const split = await compareSplit(dataset, { holdout: { combos: [{ color: 'red', type: 'hat' }] }, valFraction: 0.2, seed: 0 });
    for (const part of [split.train, split.val]) {
      const base = subset(dataset, part);
      const paths = base.samples.map((s) => s.path);
      expect(combinedDataset(base).samples.map((s) => s.path)).toEqual(paths);
      expect(headDataset(base, 0).samples.map((s) => s.path)).toEqual(paths);
      expect(headDataset(base, 1).samples.map((s) => s.path)).toEqual(paths);
    }
  });
});
