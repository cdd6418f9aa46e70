import { DataError } from './errors.js';
import { createRng, shuffleInPlace } from './rng.js';
import { compareCodePoints } from './compare.js';

/** Options of {@link stratifiedSplit}. */
export interface SplitOptions {
  /** Share of samples that go to validation, in [0, 1). Default 0.2. */
  valFraction?: number;
  /** Seed of the shuffle inside each stratum. */
  seed: number;
}

/** Indices of the training and validation samples, each sorted ascending. */
export interface SplitResult {
  train: number[];
  val: number[];
}

/**
 * Splits samples into training and validation so that each stratum (say, each label
 * combination from {@link comboKey}) is divided in proportion.
 *
 * Rounding: the validation total is `round(n × valFraction)`. Each stratum first gets the whole
 * part of its share; the seats left over go to strata that have none yet, then to the largest
 * remainders (ties broken by the seed). A stratum always keeps at least one training sample, so a
 * single-sample stratum is never in validation. A valFraction of 0 puts everything in training.
 *
 * @param keys `keys[i]` is the stratum of sample `i`.
 * @throws DataError `DATA_BAD_OPTION` when valFraction is outside [0, 1).
 * @example
 * const keys = dataset.samples.map((s) => comboKey(s.labels));
 * const { train, val } = stratifiedSplit(keys, { valFraction: 0.2, seed: 7 });
 */
export function stratifiedSplit(keys: string[], opts: SplitOptions): SplitResult {
  const valFraction = opts.valFraction ?? 0.2;
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new DataError(
      'DATA_BAD_OPTION',
      `Invalid valFraction ${valFraction}: expected a number from 0 up to (not including) 1`,
      { kind: 'usage', details: { field: 'valFraction', value: valFraction } },
    );
  }
  const groups = new Map<string, number[]>();
  keys.forEach((key, index) => {
    const group = groups.get(key);
    if (group) group.push(index);
    else groups.set(key, [index]);
  });
  const rng = createRng(opts.seed);
  const strata = [...groups.keys()].sort(compareCodePoints).map((key) => {
    const members = shuffleInPlace(groups.get(key)!, rng);
    const share = members.length * valFraction;
    const cap = members.length - 1;
    return { members, cap, val: Math.min(Math.floor(share), cap), rest: share % 1, tie: rng() };
  });
  let spare = Math.round(keys.length * valFraction) - strata.reduce((sum, s) => sum + s.val, 0);
  const candidates = strata
    .filter((s) => s.val < s.cap)
    .sort((a, b) => Number(b.val === 0) - Number(a.val === 0) || b.rest - a.rest || b.tie - a.tie);
  for (const stratum of candidates) {
    if (spare <= 0) break;
    stratum.val += 1;
    spare -= 1;
  }
  const train: number[] = [];
  const val: number[] = [];
  for (const { members, val: count } of strata) {
    val.push(...members.slice(0, count));
    train.push(...members.slice(count));
  }
  return { train: train.sort((a, b) => a - b), val: val.sort((a, b) => a - b) };
}
