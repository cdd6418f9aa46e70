import type { ComparisonFigures, StrategyFigures } from './figures.js';
import type { Strategy } from './strategies.js';

/** Exact-match differences up to this are called a tie. */
export const TIE = 0.02;

/** The plain-language conclusion of a comparison. */
export interface Verdict {
  /** The strategy to use on this data. */
  recommended: Strategy;
  /** Sentences, each stating one finding with its figures. */
  sentences: string[];
}

/**
 * Reads a comparison's figures and says what they show: which strategy is best
 * on seen and on unseen combinations, whether the combined classifier's blind
 * spot matters, what the winners cost, and which strategy to use. Unseen
 * combinations decide when there are any (they are what multi-output models
 * are for); seen exact-match breaks ties; then the fewest parameters.
 *
 * @example
 * verdict(figures).sentences.join(' ');
 */
export function verdict(figures: Pick<ComparisonFigures, 'strategies' | 'chanceExactMatch'>): Verdict {
  const all = Object.values(figures.strategies).filter((s): s is StrategyFigures => s !== undefined);
  if (all.length === 0) throw new RangeError('a verdict needs at least one measured strategy');
  const sentences: string[] = [];
  const hasUnseen = all.some((s) => s.unseen && s.unseen.images > 0);
  const seen = (s: StrategyFigures) => s.seen.exactMatch;
  const unseen = (s: StrategyFigures) => s.unseen?.exactMatch ?? 0;

  const bySeen = [...all].sort((a, b) => seen(b) - seen(a));
  const tiedSeen = bySeen.filter((s) => seen(bySeen[0]!) - seen(s) <= TIE);
  sentences.push(
    tiedSeen.length > 1
      ? `On combinations seen in training, ${list(tiedSeen.map((s) => `${s.strategy} (${pct(seen(s))})`))} are within ${points(TIE)} of each other in exact-match${bySeen.length > tiedSeen.length ? `, ahead of ${list(bySeen.slice(tiedSeen.length).map((s) => `${s.strategy} (${pct(seen(s))})`))}` : ''}.`
      : `On combinations seen in training, ${bySeen[0]!.strategy} has the best exact-match (${pct(seen(bySeen[0]!))})${bySeen.length > 1 ? `, ${points(seen(bySeen[0]!) - seen(bySeen[1]!))} ahead of ${bySeen[1]!.strategy}` : ''}.`,
  );

  let candidates = tiedSeen;
  let unseenDecides = false;
  if (hasUnseen) {
    const byUnseen = [...all].sort((a, b) => unseen(b) - unseen(a));
    const best = byUnseen[0]!;
    const chance = figures.chanceExactMatch;
    const combined = figures.strategies.combined;
    if (combined?.unseen) {
      sentences.push(
        `The combined classifier can only answer with the ${combined.comboClasses ?? 'few'} combinations it was trained on, so it scores ${pct(unseen(combined))} on unseen combinations by construction.`,
      );
    }
    if (unseen(best) <= 2 * chance) {
      sentences.push(`No strategy recognises unseen combinations clearly above chance (${pct(chance)}); the best is ${best.strategy} at ${pct(unseen(best))}.`);
    } else {
      const tiedUnseen = byUnseen.filter((s) => unseen(best) - unseen(s) <= TIE);
      const who = tiedUnseen.length > 1 ? `${list(tiedUnseen.map((s) => `${s.strategy} (${pct(unseen(s))})`))} tie` : `${best.strategy} is best (${pct(unseen(best))})`;
      sentences.push(`On unseen combinations ${who}, ${ratio(unseen(best), chance)} chance (${pct(chance)}).`);
      const bestSeenOfThem = Math.max(...tiedUnseen.map(seen));
      candidates = tiedUnseen.filter((s) => bestSeenOfThem - seen(s) <= TIE);
      unseenDecides = true;
    }
  }

  const cheapest = [...candidates].sort((a, b) => a.params - b.params || a.trainSeconds - b.trainSeconds)[0]!;
  const others = all.filter((s) => s !== cheapest);
  const costs = others
    .filter((s) => s.params > cheapest.params * 1.1 || s.trainSeconds > cheapest.trainSeconds * 1.2)
    .map((s) => `${s.strategy} has ${ratio(s.params, cheapest.params)} the parameters and takes ${ratio(s.trainSeconds, cheapest.trainSeconds)} the training time`);
  if (costs.length > 0) sentences.push(`Against ${cheapest.strategy}, ${list(costs)}.`);

  const reasons = [
    unseenDecides ? 'best or tied on unseen combinations' : undefined,
    tiedSeen.includes(cheapest) ? 'best or tied on seen ones' : `within ${points(seen(bySeen[0]!) - seen(cheapest))} of the best on seen ones`,
    candidates.length > 1 ? 'the smallest of those that tie' : undefined,
  ].filter((r): r is string => r !== undefined);
  sentences.push(`Use ${cheapest.strategy} here: ${list(reasons)}.`);
  return { recommended: cheapest.strategy, sentences };
}

function points(x: number): string {
  return `${(100 * x).toFixed(1)} points`;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

/** `3.2×`. */
function ratio(a: number, b: number): string {
  if (b <= 0) return a > 0 ? '∞×' : '1×';
  const r = a / b;
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(1)}×`;
}

function list(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}
