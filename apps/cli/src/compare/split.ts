import {
  findDuplicates,
  type Dataset,
  type ImageCache,
  type Preprocessing,
} from '@polyhead/data';
import { selectHoldout, splitKeepingGroups, type Combo, type HoldoutSpec } from '@polyhead/model';

/** The one split every strategy trains and is scored on. */
export interface CompareSplit {
  /** Indices into the dataset's samples. */
  train: number[];
  val: number[];
  unseen: number[];
  /** Held-out combinations. */
  heldOut: Combo[];
}

/** Settings of {@link compareSplit}. */
export interface CompareSplitOptions {
  holdout: HoldoutSpec;
  /** Share of each seen combination kept for validation. */
  valFraction: number;
  seed: number;
  /** With these, images of identical pixels stay on one side of the split. */
  dedupe?: { pre: Preprocessing; cache?: ImageCache };
}

/**
 * Splits a dataset once for all strategies: the held-out combinations go to
 * `unseen`, the rest is split stratified by combination (with copies of one
 * image kept together), seeded, so every strategy sees exactly these images.
 */
export async function compareSplit(dataset: Dataset, options: CompareSplitOptions): Promise<CompareSplit> {
  const holdout = selectHoldout(dataset, options.holdout, options.seed);
  const all = dataset.samples.map((_, i) => i);
  const unseen = all.filter((i) => holdout.heldOut[i]);
  const candidates = all.filter((i) => !holdout.heldOut[i]);
  const groups = options.dedupe
    ? await findDuplicates(dataset.samples, options.dedupe.pre, { indices: candidates, cache: options.dedupe.cache })
    : [];
  const { trainIdx, valIdx } = splitKeepingGroups(dataset, candidates, groups, options.valFraction, options.seed);
  return { train: trainIdx, val: valIdx, unseen, heldOut: holdout.combos };
}

/** The samples at `indices`, as a dataset of their own. */
export function subset(dataset: Dataset, indices: readonly number[]): Dataset {
  return { ...dataset, samples: indices.map((i) => dataset.samples[i]!) };
}
