import type { Dataset } from '@polyhead/data';
import { describe, expect, it } from 'vitest';

import { combinedDataset, COMBINED_HEAD, comboToHeads, headDataset, joinCombo, parseStrategies, splitCombo } from './strategies.js';

function sample(path: string, labels: (string | null)[]) {
  return { path, labels, source: { file: 'labels.csv', line: 1 } };
}

const dataset: Dataset = {
  heads: ['color', 'type'],
  samples: [
    sample('/a.png', ['red', 'jeans']),
    sample('/b.png', ['blue', 'shirt']),
    sample('/c.png', ['red', null]),
    sample('/d.png', ['dark_blue', 'a,b|c']),
  ],
  skipped: [],
  origin: '/labels.csv',
};

describe('combined classifier labels', () => {
  it('should join each fully labelled image into one class and leave partial ones out', () => {
    const combined = combinedDataset(dataset);
    expect(combined.heads).toEqual([COMBINED_HEAD]);
    expect(combined.samples.map((s) => s.path)).toEqual(['/a.png', '/b.png', '/d.png']);
    expect(combined.samples.map((s) => splitCombo(s.labels[0]!, 2))).toEqual([
      ['red', 'jeans'],
      ['blue', 'shirt'],
      ['dark_blue', 'a,b|c'],
    ]);
  });

  it('should map combined predictions back to each head’s own label indices', () => {
    const classes = [joinCombo(['red', 'jeans']), joinCombo(['blue', 'shirt']), joinCombo(['dark_blue', 'a,b|c']), joinCombo(['blue', 'jeans'])];
    // vocabularies in a different order from the classes
    const vocab = [
      ['blue', 'dark_blue', 'red'],
      ['a,b|c', 'jeans', 'shirt'],
    ];
    const [color, type] = comboToHeads(Int32Array.of(0, 1, 2, 3, 0), classes, vocab);
    expect([...color!].map((c) => vocab[0]![c])).toEqual(['red', 'blue', 'dark_blue', 'blue', 'red']);
    expect([...type!].map((c) => vocab[1]![c])).toEqual(['jeans', 'shirt', 'a,b|c', 'jeans', 'jeans']);
  });

  it('should only ever answer combinations among its classes', () => {
    const classes = [joinCombo(['red', 'jeans']), joinCombo(['blue', 'shirt'])];
    const vocab = [['blue', 'red'], ['jeans', 'shirt']];
    const predicted = Int32Array.from({ length: 50 }, (_, i) => i % 2);
    const [color, type] = comboToHeads(predicted, classes, vocab);
    const answered = new Set([...color!].map((c, i) => `${vocab[0]![c]} ${vocab[1]![type![i]!]}`));
    expect([...answered].sort()).toEqual(['blue shirt', 'red jeans']);
  });

  it('should throw when a class names a label a head does not know', () => {
    expect(() => comboToHeads(Int32Array.of(0), [joinCombo(['green', 'jeans'])], [['red'], ['jeans']])).toThrow(/"green", unknown to head 0/);
    expect(() => splitCombo(joinCombo(['red']), 2)).toThrow(/does not hold 2 labels/);
  });
});

describe('headDataset', () => {
  it('should keep one attribute and the images labelled for it', () => {
    const type = headDataset(dataset, 1);
    expect(type.heads).toEqual(['type']);
    expect(type.samples.map((s) => [s.path, s.labels])).toEqual([
      ['/a.png', ['jeans']],
      ['/b.png', ['shirt']],
      ['/d.png', ['a,b|c']],
    ]);
  });
});

describe('parseStrategies', () => {
  it('should return known strategies in report order, once each', () => {
    expect(parseStrategies('chain, multihead,chain')).toEqual(['multihead', 'chain']);
  });

  it('should name unknown strategies and the choices', () => {
    expect(() => parseStrategies('multihead,ensemble')).toThrow('unknown strategy "ensemble"; choose from multihead, combined, separate, chain');
  });
});
