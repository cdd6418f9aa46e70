/**
 * The four ways `polyhead compare` can answer several attributes at once, and
 * the label plumbing each needs: the combined classifier trains on one joined
 * label per image and its answers are split back into attributes.
 */
import type { Dataset } from '@polyhead/data';

/** Strategy names, in report order. */
export const STRATEGIES = ['multihead', 'combined', 'separate', 'chain'] as const;

export type Strategy = (typeof STRATEGIES)[number];

/** One line per strategy, for the report. */
export const STRATEGY_DESCRIPTIONS: Record<Strategy, string> = {
  multihead: 'one shared backbone, one head per attribute',
  combined: 'one classifier over every label combination seen in training',
  separate: 'one model per attribute',
  chain: 'classifier chain: later heads also see earlier heads’ predictions',
};

/** Name of the single head of the combined classifier. */
export const COMBINED_HEAD = 'combination';

/**
 * Joins one image's labels into the combined classifier's class name; JSON keeps
 * every label recoverable, whatever characters it holds.
 */
export function joinCombo(labels: readonly string[]): string {
  return JSON.stringify(labels);
}

/** Splits a combined class name back into one label per attribute. */
export function splitCombo(name: string, heads: number): string[] {
  const labels = JSON.parse(name) as unknown;
  if (!Array.isArray(labels) || labels.length !== heads || !labels.every((l) => typeof l === 'string')) {
    throw new TypeError(`combined class ${name} does not hold ${heads} labels`);
  }
  return labels as string[];
}

/**
 * The dataset the combined classifier trains on: one head whose label is the
 * joined combination. Images missing any attribute's label cannot be placed in
 * a combination and are left out.
 */
export function combinedDataset(dataset: Dataset): Dataset {
  return {
    ...dataset,
    heads: [COMBINED_HEAD],
    samples: dataset.samples
      .filter((s) => s.labels.every((l) => l !== null))
      .map((s) => ({ ...s, labels: [joinCombo(s.labels as string[])] })),
  };
}

/** The dataset of one attribute alone, for the separate models. */
export function headDataset(dataset: Dataset, head: number): Dataset {
  return {
    ...dataset,
    heads: [dataset.heads[head]!],
    samples: dataset.samples.filter((s) => s.labels[head] !== null).map((s) => ({ ...s, labels: [s.labels[head]!] })),
  };
}

/**
 * Maps combined-class predictions back to per-attribute class indices.
 *
 * @param predicted index into `comboClasses` per image
 * @param comboClasses the combined head's vocabulary (joined combinations)
 * @param vocabularies each attribute's labels, in head order
 * @returns per attribute, the predicted class index per image
 * @example
 * comboToHeads(Int32Array.of(1), ['["red","jeans"]', '["blue","shirt"]'], [['blue', 'red'], ['jeans', 'shirt']]);
 * // [Int32Array [0], Int32Array [1]]
 */
export function comboToHeads(
  predicted: Int32Array,
  comboClasses: readonly string[],
  vocabularies: readonly (readonly string[])[],
): Int32Array[] {
  const table = comboClasses.map((name) =>
    splitCombo(name, vocabularies.length).map((label, h) => {
      const index = vocabularies[h]!.indexOf(label);
      if (index < 0) throw new TypeError(`combined class ${name} names label "${label}", unknown to head ${h}`);
      return index;
    }),
  );
  return vocabularies.map((_, h) => Int32Array.from(predicted, (c) => table[c]![h]!));
}

/** Parses `multihead,chain` into strategies, checked and deduplicated. */
export function parseStrategies(text: string): Strategy[] {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(STRATEGIES as readonly string[]).includes(n));
  if (names.length === 0 || unknown.length > 0) {
    throw new RangeError(`unknown strategy ${unknown.map((u) => `"${u}"`).join(', ') || '(none given)'}; choose from ${STRATEGIES.join(', ')}`);
  }
  return STRATEGIES.filter((s) => names.includes(s));
}
