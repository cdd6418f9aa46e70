import { compareCodePoints } from './compare.js';
import type { Dataset } from './dataset.js';
import { DataError } from './errors.js';
import { problemsError, type Problem } from './problems.js';

/** The classes of one head, in index order. */
export interface HeadVocabulary {
  name: string;
  labels: string[];
}

/** The serialised form of a {@link LabelEncoder}. */
export interface LabelEncoderJson {
  heads: HeadVocabulary[];
}

/**
 * Maps each head's labels to class indices and back. Vocabularies come from non-blank cells
 * only, sorted by code point, so the same data always gives the same indices.
 *
 * @example
 * const encoder = LabelEncoder.fit(dataset);
 * const [color, type] = encoder.encode(dataset); // Int32Array per head, -1 = unknown
 * encoder.decode(0, color[0]); // 'red'
 */
export class LabelEncoder {
  readonly heads: HeadVocabulary[];
  readonly #index: Map<string, number>[];

  private constructor(heads: HeadVocabulary[]) {
    this.heads = heads.map(({ name, labels }) => ({ name, labels: [...labels] }));
    this.#index = this.heads.map(({ labels }) => new Map(labels.map((label, i) => [label, i])));
  }

  /**
   * Builds one vocabulary per head from the dataset's labels.
   *
   * @throws DataError `DATA_EMPTY_HEAD` when a head has no label at all.
   */
  static fit(dataset: Dataset): LabelEncoder {
    const heads = dataset.heads.map((name, h) => {
      const seen = new Set<string>();
      for (const sample of dataset.samples) {
        const label = sample.labels[h];
        if (label !== null && label !== undefined) seen.add(label);
      }
      return { name, labels: [...seen].sort(compareCodePoints) };
    });
    const empty = heads.filter((head) => head.labels.length === 0).map((head) => head.name);
    if (empty.length > 0) {
      throw new DataError(
        'DATA_EMPTY_HEAD',
        `${dataset.origin}: head ${empty.map((n) => `"${n}"`).join(', ')} has no labelled ` +
          `sample; expected at least one non-blank label per head`,
        { details: { heads: empty, origin: dataset.origin } },
      );
    }
    return new LabelEncoder(heads);
  }

  /**
   * Rebuilds an encoder from {@link LabelEncoder.toJSON} output, checking its shape.
   *
   * @throws DataError `DATA_BAD_LABELS` naming what is wrong.
   */
  static fromJSON(json: unknown): LabelEncoder {
    const fail = (what: string): never => {
      throw new DataError('DATA_BAD_LABELS', `Invalid label encoder: ${what}`);
    };
    if (
      typeof json !== 'object' ||
      json === null ||
      !Array.isArray((json as LabelEncoderJson).heads)
    ) {
      return fail('expected an object with a "heads" array');
    }
    const heads = (json as { heads: unknown[] }).heads;
    if (heads.length === 0) fail('expected at least one head');
    const names = new Set<string>();
    heads.forEach((head, h) => {
      const { name, labels } = (head ?? {}) as Partial<HeadVocabulary>;
      if (typeof name !== 'string' || name === '')
        fail(`heads[${h}].name: expected a non-empty string`);
      if (names.has(name!))
        fail(`heads[${h}].name: "${name}" appears twice; expected unique heads`);
      names.add(name!);
      if (!Array.isArray(labels) || labels.length === 0) {
        fail(`heads[${h}].labels (${name}): expected a non-empty array of strings`);
      }
      labels!.forEach((label, i) => {
        if (typeof label !== 'string' || label === '') {
          fail(`heads[${h}].labels[${i}] (${name}): expected a non-empty string`);
        }
      });
      if (new Set(labels).size !== labels!.length) {
        fail(`heads[${h}].labels (${name}): expected each label once`);
      }
    });
    return new LabelEncoder(heads as HeadVocabulary[]);
  }

  /** Number of classes of head `head` (by index). */
  numClasses(head: number): number {
    return this.#vocabulary(head).labels.length;
  }

  /** Class index of `label` in head `head`, or -1 when it is not in the vocabulary. */
  indexOf(head: number, label: string): number {
    this.#vocabulary(head);
    return this.#index[head]!.get(label) ?? -1;
  }

  /**
   * Encodes every sample: one Int32Array per head, `-1` for an unknown (blank) label.
   *
   * @throws DataError `DATA_HEAD_MISMATCH` when the dataset's heads differ from the encoder's,
   *   `DATA_UNKNOWN_LABEL` listing every label missing from a vocabulary, with file and line.
   */
  encode(dataset: Dataset): Int32Array[] {
    this.#checkHeads(dataset);
    const out = this.heads.map(() => new Int32Array(dataset.samples.length));
    const problems: Problem[] = [];
    dataset.samples.forEach((sample, i) => {
      this.heads.forEach(({ name, labels }, h) => {
        const label = sample.labels[h] ?? null;
        const index = label === null ? -1 : (this.#index[h]!.get(label) ?? -2);
        if (index === -2) {
          const known = labels.join(', ');
          const reason = `head "${name}" has label "${label}", which is not among the known labels: ${known}`;
          problems.push({ file: sample.source.file, line: sample.source.line, reason });
        }
        out[h]![i] = index;
      });
    });
    if (problems.length > 0) {
      const title = `${dataset.origin} has labels the encoder does not know`;
      throw problemsError('DATA_UNKNOWN_LABEL', title, problems);
    }
    return out;
  }

  /** The label of class `index` of head `head`. */
  decode(head: number, index: number): string {
    const { name, labels } = this.#vocabulary(head);
    const label = Number.isInteger(index) ? labels[index] : undefined;
    if (label === undefined) {
      throw new RangeError(
        `Class index ${index} is out of range for head "${name}"; expected 0..${labels.length - 1}`,
      );
    }
    return label;
  }

  /** A plain copy for saving next to a model. */
  toJSON(): LabelEncoderJson {
    return { heads: this.heads.map(({ name, labels }) => ({ name, labels: [...labels] })) };
  }

  #vocabulary(head: number): HeadVocabulary {
    const vocabulary = this.heads[head];
    if (vocabulary === undefined) {
      throw new RangeError(
        `Head index ${head} is out of range; expected 0..${this.heads.length - 1}`,
      );
    }
    return vocabulary;
  }

  #checkHeads(dataset: Dataset): void {
    const mine = this.heads.map((head) => head.name);
    const theirs = dataset.heads;
    if (mine.length === theirs.length && mine.every((name, i) => name === theirs[i])) return;
    const missing = mine.filter((name) => !theirs.includes(name));
    const extra = theirs.filter((name) => !mine.includes(name));
    const parts = [
      missing.length > 0 ? `missing head ${missing.join(', ')}` : '',
      extra.length > 0 ? `extra head ${extra.join(', ')}` : '',
      missing.length + extra.length === 0 ? 'heads in a different order' : '',
    ].filter(Boolean);
    throw new DataError(
      'DATA_HEAD_MISMATCH',
      `${dataset.origin} has heads ${theirs.join(', ')}, but the encoder expects ` +
        `${mine.join(', ')} (${parts.join('; ')})`,
      { details: { expected: mine, found: theirs, missing, extra } },
    );
  }
}
