import { createRng, PolyheadError, shuffleInPlace, type Dataset } from '@polyhead/data';

/** A label combination, partial or complete: `{ color: 'blue', type: 'shirt' }`. */
export type Combo = Record<string, string>;

/** Which label combinations to keep out of training and score apart. */
export interface HoldoutSpec {
  /** Explicit combinations; a sample matches when every named head has that label. */
  combos?: Combo[];
  /** Or a share of the complete combinations present, picked with the seed. */
  fraction?: number;
}

/**
 * Parses `color=blue,type=shirt;color=red,type=shoes` (combinations separated
 * by `;`, head=label pairs by `,`).
 */
export function parseCombos(text: string): Combo[] {
  return text
    .split(';')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const combo: Combo = {};
      for (const pair of part.split(',')) {
        const m = /^\s*([^=]+?)\s*=\s*(.+?)\s*$/.exec(pair);
        if (!m) {
          throw new PolyheadError('USAGE_BAD_COMBO', `expected head=label pairs such as color=blue,type=shirt, got "${pair}"`, { kind: 'usage' });
        }
        combo[m[1]!] = m[2]!;
      }
      return combo;
    });
}

/** Formats a combination as `color=blue,type=shirt`. */
export function formatCombo(combo: Combo): string {
  return Object.entries(combo).map(([h, l]) => `${h}=${l}`).join(',');
}

/**
 * Resolves a holdout spec against a dataset: checks heads and labels, and
 * picks combinations for a fraction so that every label of every head stays
 * seen in training. Returns the held-out combinations and, per sample,
 * whether it belongs to one of them.
 */
export function selectHoldout(dataset: Dataset, spec: HoldoutSpec, seed: number): { combos: Combo[]; heldOut: boolean[] } {
  const heads = dataset.heads;
  let combos: Combo[];
  if (spec.combos && spec.combos.length > 0) {
    combos = spec.combos;
    for (const combo of combos) {
      for (const [head, label] of Object.entries(combo)) {
        const h = heads.indexOf(head);
        if (h < 0) {
          throw new PolyheadError('TRAIN_UNKNOWN_HEAD', `holdout combination ${formatCombo(combo)} names head "${head}", but the heads are ${heads.join(', ')}`, { kind: 'usage' });
        }
        const known = [...new Set(dataset.samples.map((s) => s.labels[h]).filter((l): l is string => l !== null))].sort();
        if (!known.includes(label)) {
          throw new PolyheadError('TRAIN_UNKNOWN_LABEL', `holdout combination ${formatCombo(combo)} names label "${label}" of head "${head}"; known labels: ${known.join(', ')}`, { kind: 'usage' });
        }
      }
    }
  } else if (spec.fraction !== undefined && spec.fraction > 0) {
    combos = pickCombos(dataset, spec.fraction, seed);
  } else {
    return { combos: [], heldOut: dataset.samples.map(() => false) };
  }
  const matchers = combos.map((combo) => Object.entries(combo).map(([head, label]) => [heads.indexOf(head), label] as const));
  const heldOut = dataset.samples.map((s) => matchers.some((m) => m.every(([h, label]) => s.labels[h] === label)));
  combos.forEach((combo, i) => {
    if (!dataset.samples.some((s) => matchers[i]!.every(([h, label]) => s.labels[h] === label))) {
      throw new PolyheadError('TRAIN_EMPTY_HOLDOUT', `holdout combination ${formatCombo(combo)} matches no image in ${dataset.origin}`, { kind: 'usage' });
    }
  });
  return { combos, heldOut };
}

function pickCombos(dataset: Dataset, fraction: number, seed: number): Combo[] {
  const heads = dataset.heads;
  const present = new Map<string, string[]>();
  for (const s of dataset.samples) {
    if (s.labels.some((l) => l === null)) continue;
    present.set(JSON.stringify(s.labels), s.labels as string[]);
  }
  const all = shuffleInPlace([...present.values()].sort(), createRng(seed));
  const target = Math.max(1, Math.round(fraction * all.length));
  const kept = new Set(all.map((c) => JSON.stringify(c)));
  const picked: string[][] = [];
  for (const combo of all) {
    if (picked.length >= target) break;
    kept.delete(JSON.stringify(combo));
    // every label of every head must remain in some kept combination
    const stillSeen = heads.every((_, h) => [...kept].some((k) => (JSON.parse(k) as string[])[h] === combo[h]));
    if (stillSeen) picked.push(combo);
    else kept.add(JSON.stringify(combo));
  }
  return picked.map((labels) => Object.fromEntries(heads.map((h, i) => [h, labels[i]!])));
}
