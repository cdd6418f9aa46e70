import { DataError } from './errors.js';
import { createRng, deriveSeed, shuffleInPlace } from './rng.js';

/** Options of {@link balancedIndices}. */
export interface BalancedIndicesOptions {
  seed: number;
  /** Mixed into the seed, so each epoch draws anew. Default 0. */
  epoch?: number;
}

/**
 * Draws one epoch of training indices in which every class of one head is equally frequent:
 * the samples labelled for that head are replaced by as many draws, spread evenly over the
 * classes present and made with replacement within each class. Samples without a label for
 * that head are kept once each, so the other heads still see them. The result is shuffled;
 * the same seed and epoch give the same draw.
 *
 * An alternative to class weights: rare classes are seen more often instead of weighing more.
 *
 * @param labels Class index per sample of the balanced head, -1 where unknown.
 * @param indices The samples to draw from (a split's `train` list, say).
 * @example
 * const order = balancedIndices(labels[0], trainIdx, { seed: 1, epoch });
 * for await (const batch of batches(samples, labels, order, opts)) …
 */
export function balancedIndices(
  labels: Int32Array,
  indices: readonly number[],
  options: BalancedIndicesOptions,
): number[] {
  const byClass = new Map<number, number[]>();
  const unlabelled: number[] = [];
  for (const i of indices) {
    const c = labels[i];
    if (c === undefined) {
      throw new DataError(
        'DATA_BAD_OPTION',
        `Sample index ${i} is out of range; expected 0..${labels.length - 1}`,
        { kind: 'usage', details: { index: i } },
      );
    }
    if (c < 0) unlabelled.push(i);
    else if (byClass.has(c)) byClass.get(c)!.push(i);
    else byClass.set(c, [i]);
  }
  const random = createRng(deriveSeed(options.seed, options.epoch ?? 0));
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  const labelled = indices.length - unlabelled.length;
  const per = classes.length > 0 ? Math.floor(labelled / classes.length) : 0;
  // the remainder goes to randomly chosen classes, one extra draw each
  const extra = new Set(shuffleInPlace([...classes], random).slice(0, labelled - per * classes.length));
  const out = [...unlabelled];
  for (const c of classes) {
    const members = byClass.get(c)!;
    const draws = per + (extra.has(c) ? 1 : 0);
    for (let d = 0; d < draws; d++) out.push(members[Math.floor(random() * members.length)]!);
  }
  return shuffleInPlace(out, random);
}
