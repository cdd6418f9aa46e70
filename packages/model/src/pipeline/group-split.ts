import { comboKey, stratifiedSplit, type Dataset, type LabelEncoder } from '@polyhead/data';

/**
 * Splits `candidates` (indices into `dataset.samples`) into training and validation, stratified
 * by label combination and seeded, with each group of identical images (`groups`, as
 * `findDuplicates` returns them) kept on one side. Both lists come back sorted.
 */
export function splitKeepingGroups(
  dataset: Dataset,
  candidates: readonly number[],
  groups: readonly number[][],
  valFraction: number,
  seed: number,
): { trainIdx: number[]; valIdx: number[] } {
  const leader = new Map<number, number>();
  for (const group of groups) for (const i of group) leader.set(i, group[0]!);
  const members = new Map<number, number[]>();
  for (const i of candidates) {
    const lead = leader.get(i) ?? i;
    const list = members.get(lead);
    if (list) list.push(i);
    else members.set(lead, [i]);
  }
  const leaders = [...members.keys()];
  const split = stratifiedSplit(leaders.map((i) => comboKey(dataset.samples[i]!.labels)), { valFraction, seed });
  const expand = (positions: number[]) => positions.flatMap((j) => members.get(leaders[j]!)!).sort((a, b) => a - b);
  return { trainIdx: expand(split.train), valIdx: expand(split.val) };
}

/**
 * The combinations of the softmax heads' labels among fully labelled training samples, sorted,
 * as saved in a model's `training.trainCombos`. A multi-label head's cell only has to be filled in.
 */
export function trainingCombos(dataset: Dataset, encoder: LabelEncoder, trainIdx: readonly number[]): string[][] {
  const single = encoder.heads.map((_, h) => h).filter((h) => encoder.kind(h) === 'softmax');
  const keys = new Set(
    trainIdx
      .map((i) => dataset.samples[i]!.labels)
      .filter((l) => l.every((x) => x !== null))
      .map((l) => JSON.stringify(single.map((h) => l[h]))),
  );
  return [...keys].sort().map((k) => JSON.parse(k) as string[]);
}
