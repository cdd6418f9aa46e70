import { describe, expect, it } from 'vitest';
import { comboKey, type Dataset } from './dataset.js';
import { DataError } from './errors.js';
import { LabelEncoder } from './labels.js';

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

describe('comboKey', () => {
  it('should join labels with | and show unknown ones as ∅', () => {
    expect(comboKey(['red', null, 'big'])).toBe('red|∅|big');
  });
});
