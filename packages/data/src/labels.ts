import { compareCodePoints } from './compare.js';
import type { Dataset } from './dataset.js';
import { DataError } from './errors.js';
import { problemsError, type Problem } from './problems.js';

/**
 * How a head reads its cells: `softmax` takes each cell as one label; `multilabel` takes a
 * cell as a set of labels separated by `|` (`summer|casual`).
 */
export type HeadKind = 'softmax' | 'multilabel';

/** What separates the labels of a multi-label cell. */
export const MULTILABEL_SEPARATOR = '|';

/** The classes of one head, in index order. */
export interface HeadVocabulary {
  name: string;
  labels: string[];
  /** How the head reads its cells. Absent means `softmax`. */
  kind?: HeadKind;
}

/** Options of {@link LabelEncoder.fit}. */
export interface FitLabelsOptions {
  /**
   * Kind per head name, overriding the inferred one. A head not named here is `multilabel`
   * when any of its cells holds a `|`, and `softmax` otherwise.
   */
  kinds?: Record<string, HeadKind>;
}

/** The serialised form of a {@link LabelEncoder}. */
export interface LabelEncoderJson {
  heads: HeadVocabulary[];
}

/**
 * Maps each head's labels to class indices and back. Vocabularies come from non-blank cells
 * only, sorted by code point, so the same data always gives the same indices.
 *
 * A multi-label head (a `tags` column holding `summer|casual`) has one vocabulary entry per
 * distinct label; {@link LabelEncoder.encodeTargets} gives its multi-hot rows.
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
    this.heads = heads.map(copyVocabulary);
    this.#index = this.heads.map(({ labels }) => new Map(labels.map((label, i) => [label, i])));
  }

  /**
   * Builds one vocabulary per head from the dataset's labels. Each head's kind is taken from
   * `options.kinds` or inferred from its cells (see {@link inferHeadKind}).
   *
   * @throws DataError `DATA_EMPTY_HEAD` when a head has no label at all, `DATA_UNKNOWN_HEAD`
   *   when `options.kinds` names a head the dataset lacks.
   */
  static fit(dataset: Dataset, options: FitLabelsOptions = {}): LabelEncoder {
    const kinds = options.kinds ?? {};
    const strays = Object.keys(kinds).filter((name) => !dataset.heads.includes(name));
    if (strays.length > 0) {
      throw new DataError(
        'DATA_UNKNOWN_HEAD',
        `head kind given for ${strays.map((n) => `"${n}"`).join(', ')}, but the heads of ` +
          `${dataset.origin} are ${dataset.heads.join(', ')}`,
        { kind: 'usage', details: { heads: strays } },
      );
    }
    const heads: HeadVocabulary[] = dataset.heads.map((name, h) => {
      const kind = kinds[name] ?? inferHeadKind(dataset, h);
      const seen = new Set<string>();
      for (const sample of dataset.samples) {
        const cell = sample.labels[h];
        if (cell === null || cell === undefined) continue;
        if (kind === 'multilabel') for (const label of splitMultiLabel(cell)) seen.add(label);
        else seen.add(cell);
      }
      const labels = [...seen].sort(compareCodePoints);
      return kind === 'multilabel' ? { name, labels, kind } : { name, labels };
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
      const { name, labels, kind } = (head ?? {}) as Partial<HeadVocabulary>;
      if (kind !== undefined && kind !== 'softmax' && kind !== 'multilabel') {
        fail(`heads[${h}].kind (${name}): expected "softmax" or "multilabel"`);
      }
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

  /** How head `head` (by index) reads its cells. */
  kind(head: number): HeadKind {
    return this.#vocabulary(head).kind ?? 'softmax';
  }

  /** Class index of `label` in head `head`, or -1 when it is not in the vocabulary. */
  indexOf(head: number, label: string): number {
    this.#vocabulary(head);
    return this.#index[head]!.get(label) ?? -1;
  }

  /**
   * Encodes every sample: one Int32Array per head, `-1` for an unknown (blank) cell. A
   * softmax head's entry is the class index; a multi-label head's is the number of labels its
   * cell lists, so `>= 0` means "known" for every kind (its labels come from
   * {@link LabelEncoder.encodeTargets}).
   *
   * @throws DataError `DATA_HEAD_MISMATCH` when the dataset's heads differ from the encoder's,
   *   `DATA_UNKNOWN_LABEL` listing every label missing from a vocabulary, with file and line.
   */
  encode(dataset: Dataset): Int32Array[] {
    return this.#encodeAll(dataset).labels;
  }

  /**
   * Multi-hot targets: per multi-label head a row-major `[n, k]` Float32Array (1 where the
   * cell lists the label, 0 elsewhere and on unknown rows); `undefined` for softmax heads.
   *
   * @throws DataError as {@link LabelEncoder.encode} does.
   * @example
   * const targets = encoder.encodeTargets(dataset);
   * targets[2]?.subarray(0, encoder.numClasses(2)); // first sample's tags, e.g. [0, 1, 1]
   */
  encodeTargets(dataset: Dataset): (Float32Array | undefined)[] {
    return this.#encodeAll(dataset).targets;
  }

  #encodeAll(dataset: Dataset): { labels: Int32Array[]; targets: (Float32Array | undefined)[] } {
    this.#checkHeads(dataset);
    const n = dataset.samples.length;
    const labels = this.heads.map(() => new Int32Array(n));
    const targets = this.heads.map(({ kind, labels: vocab }) =>
      kind === 'multilabel' ? new Float32Array(n * vocab.length) : undefined,
    );
    const problems: Problem[] = [];
    const unknown = (sample: Dataset['samples'][number], h: number, label: string) => {
      const { name, labels: vocab } = this.heads[h]!;
      const known = vocab.join(', ');
      const reason = `head "${name}" has label "${label}", which is not among the known labels: ${known}`;
      problems.push({ file: sample.source.file, line: sample.source.line, reason });
    };
    dataset.samples.forEach((sample, i) => {
      this.heads.forEach(({ labels: vocab }, h) => {
        const cell = sample.labels[h] ?? null;
        const rows = targets[h];
        if (cell === null) {
          labels[h]![i] = -1;
        } else if (rows) {
          const listed = splitMultiLabel(cell);
          for (const label of listed) {
            const c = this.#index[h]!.get(label);
            if (c === undefined) unknown(sample, h, label);
            else rows[i * vocab.length + c] = 1;
          }
          labels[h]![i] = listed.length;
        } else {
          const c = this.#index[h]!.get(cell);
          if (c === undefined) unknown(sample, h, cell);
          labels[h]![i] = c ?? -2;
        }
      });
    });
    if (problems.length > 0) {
      const title = `${dataset.origin} has labels the encoder does not know`;
      throw problemsError('DATA_UNKNOWN_LABEL', title, problems);
    }
    return { labels, targets };
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
    return { heads: this.heads.map(copyVocabulary) };
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

function copyVocabulary({ name, labels, kind }: HeadVocabulary): HeadVocabulary {
  return kind === 'multilabel' ? { name, labels: [...labels], kind } : { name, labels: [...labels] };
}

/**
 * The labels of a multi-label cell: split at `|`, trimmed, blanks and repeats dropped.
 * A cell of a lone `|` is the empty set (known to carry no label).
 *
 * @example
 * splitMultiLabel('summer| casual|summer'); // ['summer', 'casual']
 */
export function splitMultiLabel(cell: string): string[] {
  const labels = cell.split(MULTILABEL_SEPARATOR).map((label) => label.trim());
  return [...new Set(labels.filter((label) => label !== ''))];
}

/**
 * The kind a head's cells imply: `multilabel` when any cell holds a `|`, `softmax` otherwise.
 * Pass a kind explicitly for a column whose single labels contain `|`.
 */
export function inferHeadKind(dataset: Dataset, head: number): HeadKind {
  const multi = dataset.samples.some((s) => s.labels[head]?.includes(MULTILABEL_SEPARATOR));
  return multi ? 'multilabel' : 'softmax';
}
