import { describe, expect, it } from 'vitest';
import { comboKey, type Dataset } from './dataset.js';
import { DataError } from './errors.js';
import { LabelEncoder, splitMultiLabel } from './labels.js';

/** A dataset from label rows; row i sits on line i + 2 of `labels.csv`. */
function dataset(heads: string[], rows: (string | null)[][]): Dataset {
  return {
    heads,
    samples: rows.map((labels, i) => ({
      path: `/data/img${i}.png`,
      labels,
      source: { file: 'labels.csv', line: i + 2 },
    })),
    skipped: [],
    origin: '/data/labels.csv',
  };
}

const training = dataset(
  ['color', 'type'],
  [
    ['red', 'circle'],
    ['blue', null],
    [null, 'square'],
    ['Red', 'circle'],
    ['été', 'square'],
  ],
);

function thrown(call: () => unknown): DataError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(DataError);
    return error as DataError;
  }
  throw new Error('expected a DataError, nothing was thrown');
}

describe('LabelEncoder', () => {
  it('should build code-point sorted vocabularies from non-blank labels when fitting', () => {
    const encoder = LabelEncoder.fit(training);
    expect(encoder.heads).toEqual([
      { name: 'color', labels: ['Red', 'blue', 'red', 'été'] },
      { name: 'type', labels: ['circle', 'square'] },
    ]);
    expect(encoder.numClasses(0)).toBe(4);
    expect(encoder.indexOf(1, 'square')).toBe(1);
    expect(encoder.indexOf(1, 'triangle')).toBe(-1);
  });

  it('should encode unknown labels as -1 and known ones as their index', () => {
    const [color, type] = LabelEncoder.fit(training).encode(training);
    expect([...color!]).toEqual([2, 1, -1, 0, 3]);
    expect([...type!]).toEqual([0, -1, 1, 0, 1]);
  });

  it('should decode every encoded index back to its label', () => {
    const encoder = LabelEncoder.fit(training);
    const encoded = encoder.encode(training);
    training.samples.forEach((sample, i) => {
      sample.labels.forEach((label, h) => {
        const index = encoded[h]![i]!;
        expect(index === -1 ? null : encoder.decode(h, index)).toBe(label);
      });
    });
  });

  it('should round-trip through JSON when saved and loaded', () => {
    const encoder = LabelEncoder.fit(training);
    const restored = LabelEncoder.fromJSON(JSON.parse(JSON.stringify(encoder)));
    expect(restored.toJSON()).toEqual(encoder.toJSON());
    expect(restored.encode(training)).toEqual(encoder.encode(training));
  });

  it('should name file, line, head and value and list known labels when a label is unknown', () => {
    const encoder = LabelEncoder.fit(training);
    const val = dataset(
      ['color', 'type'],
      [
        ['red', 'circle'],
        ['purple', 'square'],
      ],
    );
    const error = thrown(() => encoder.encode(val));
    expect(error.code).toBe('DATA_UNKNOWN_LABEL');
    expect(error.message).toContain(
      'labels.csv:3: head "color" has label "purple", which is not among the known labels: Red, blue, red, été',
    );
  });

  it('should name the missing and extra heads when the dataset heads differ', () => {
    const encoder = LabelEncoder.fit(training);
    const error = thrown(() => encoder.encode(dataset(['color', 'size'], [['red', 'big']])));
    expect(error.code).toBe('DATA_HEAD_MISMATCH');
    expect(error.message).toMatch(/missing head type; extra head size/);
    expect(error.details).toMatchObject({ missing: ['type'], extra: ['size'] });
  });

  it('should reject heads in another order', () => {
    const encoder = LabelEncoder.fit(training);
    const error = thrown(() => encoder.encode(dataset(['type', 'color'], [['circle', 'red']])));
    expect(error.message).toMatch(/heads in a different order/);
  });

  it('should refuse to fit a head that has no label at all', () => {
    const error = thrown(() => LabelEncoder.fit(dataset(['color', 'type'], [['red', null]])));
    expect(error.code).toBe('DATA_EMPTY_HEAD');
    expect(error.message).toMatch(/head "type" has no labelled sample/);
  });

  it.each([
    [null, /"heads" array/],
    [{ heads: [] }, /at least one head/],
    [{ heads: [{ name: 'color' }] }, /heads\[0\]\.labels \(color\)/],
    [{ heads: [{ name: '', labels: ['a'] }] }, /heads\[0\]\.name/],
    [{ heads: [{ name: 'c', labels: ['a', 'a'] }] }, /each label once/],
    [{ heads: [{ name: 'c', labels: ['a', 3] }] }, /heads\[0\]\.labels\[1\]/],
    [
      {
        heads: [
          { name: 'c', labels: ['a'] },
          { name: 'c', labels: ['b'] },
        ],
      },
      /appears twice/,
    ],
  ])('should reject %j when loading from JSON', (json, message) => {
    const error = thrown(() => LabelEncoder.fromJSON(json));
    expect(error.code).toBe('DATA_BAD_LABELS');
    expect(error.message).toMatch(message);
  });

  it('should throw a RangeError when decoding an index out of range', () => {
    const encoder = LabelEncoder.fit(training);
    expect(() => encoder.decode(1, 2)).toThrow(/out of range for head "type"; expected 0\.\.1/);
    expect(() => encoder.decode(2, 0)).toThrow(RangeError);
  });
});

describe('LabelEncoder with a multi-label head', () => {
  const tagged = dataset(
    ['color', 'tags'],
    [
      ['red', 'summer|casual'],
      ['blue', 'casual'],
      ['red', null],
      [null, '|'],
      ['blue', ' formal | summer |formal'],
    ],
  );

  it('should infer a multi-label head from a cell with | and split its vocabulary', () => {
    const encoder = LabelEncoder.fit(tagged);
    expect(encoder.heads).toEqual([
      { name: 'color', labels: ['blue', 'red'] },
      { name: 'tags', labels: ['casual', 'formal', 'summer'], kind: 'multilabel' },
    ]);
    expect([encoder.kind(0), encoder.kind(1)]).toEqual(['softmax', 'multilabel']);
  });

  it('should mark unknown cells -1 and give multi-hot rows with every listed label positive', () => {
    const encoder = LabelEncoder.fit(tagged);
    const [color, tags] = encoder.encode(tagged);
    expect([...color!]).toEqual([1, 0, 1, -1, 0]);
    expect([...tags!]).toEqual([2, 1, -1, 0, 2]);
    const targets = encoder.encodeTargets(tagged);
    expect(targets[0]).toBeUndefined();
    expect([...targets[1]!]).toEqual([1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
  });

  it('should take a head kind given by name over the inferred one', () => {
    const encoder = LabelEncoder.fit(tagged, { kinds: { tags: 'softmax', color: 'multilabel' } });
    expect(encoder.heads[1]!.labels).toEqual([' formal | summer |formal', 'casual', 'summer|casual', '|']);
    expect(encoder.kind(0)).toBe('multilabel');
    expect(encoder.encodeTargets(tagged)[0]).toEqual(Float32Array.from([0, 1, 1, 0, 0, 1, 0, 0, 1, 0]));
  });

  it('should reject a head kind for a head the dataset lacks', () => {
    const error = thrown(() => LabelEncoder.fit(tagged, { kinds: { style: 'multilabel' } }));
    expect(error.code).toBe('DATA_UNKNOWN_HEAD');
    expect(error.message).toMatch(/"style", but the heads of \/data\/labels\.csv are color, tags/);
  });

  it('should keep the kind through JSON and name an unknown label of a multi-label cell', () => {
    const encoder = LabelEncoder.fromJSON(JSON.parse(JSON.stringify(LabelEncoder.fit(tagged))));
    expect(encoder.kind(1)).toBe('multilabel');
    const error = thrown(() => encoder.encode(dataset(['color', 'tags'], [['red', 'casual|beach']])));
    expect(error.message).toContain('labels.csv:2: head "tags" has label "beach"');
    expect(thrown(() => LabelEncoder.fromJSON({ heads: [{ name: 'c', labels: ['a'], kind: 'x' }] })).message)
      .toMatch(/heads\[0\]\.kind \(c\)/);
  });
});

describe('splitMultiLabel', () => {
  it('should trim labels and drop blanks and repeats', () => {
    expect(splitMultiLabel('summer| casual|summer||')).toEqual(['summer', 'casual']);
    expect(splitMultiLabel('|')).toEqual([]);
  });
});

describe('comboKey', () => {
  it('should join labels with | and show unknown ones as ∅', () => {
    expect(comboKey(['red', null, 'big'])).toBe('red|∅|big');
  });
});
