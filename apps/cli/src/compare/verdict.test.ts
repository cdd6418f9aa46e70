import { describe, expect, it } from 'vitest';

import type { SetFigures, StrategyFigures } from './figures.js';
import type { Strategy } from './strategies.js';
import { verdict } from './verdict.js';

function set(exactMatch: number): SetFigures {
  return { exactMatch, images: 100, heads: {}, novelAnswers: 0 };
}

function strategy(name: Strategy, seen: number, unseen: number | undefined, params: number, trainSeconds = 100): StrategyFigures {
  return {
    strategy: name,
    description: name,
    models: name === 'separate' ? 2 : 1,
    seen: set(seen),
    ...(unseen !== undefined ? { unseen: set(unseen) } : {}),
    params,
    trainSeconds,
    trainImagesPerSec: 100,
    latencyMs: 1,
    inferImagesPerSec: 1000,
    sizeBytes: 1,
    epochsRun: 5,
    curves: [],
    ...(name === 'combined' ? { comboClasses: 64 } : {}),
    modelDirs: [],
  };
}

const chanceExactMatch = 1 / 80;

describe('verdict', () => {
  it('should recommend the strategy that recognises unseen combinations when the combined one wins on seen ones', () => {
    const v = verdict({
      chanceExactMatch,
      strategies: {
        multihead: strategy('multihead', 0.8, 0.45, 100_000),
        combined: strategy('combined', 0.86, 0, 100_500),
        separate: strategy('separate', 0.79, 0.4, 200_000, 190),
        chain: strategy('chain', 0.81, 0.3, 100_100),
      },
    });
    expect(v.recommended).toBe('multihead');
    expect(v.sentences[0]).toBe('On combinations seen in training, combined has the best exact-match (86.0%), 5.0 points ahead of chain.');
    expect(v.sentences[1]).toMatch(/only answer with the 64 combinations .* scores 0\.0% on unseen combinations by construction/);
    expect(v.sentences[2]).toBe('On unseen combinations multihead is best (45.0%), 36× chance (1.3%).');
    expect(v.sentences).toContain('Against multihead, separate has 2.0× the parameters and takes 1.9× the training time.');
    expect(v.sentences.at(-1)).toBe('Use multihead here: best or tied on unseen combinations and within 6.0 points of the best on seen ones.');
  });

  it('should pick the smallest of strategies that tie on unseen and seen combinations', () => {
    const v = verdict({
      chanceExactMatch,
      strategies: {
        multihead: strategy('multihead', 0.8, 0.41, 100_000),
        separate: strategy('separate', 0.81, 0.42, 200_000),
      },
    });
    expect(v.recommended).toBe('multihead');
    expect(v.sentences.at(-1)).toBe('Use multihead here: best or tied on unseen combinations, best or tied on seen ones and the smallest of those that tie.');
  });

  it('should say so when no strategy is above chance on unseen combinations, and decide on seen ones', () => {
    const v = verdict({
      chanceExactMatch,
      strategies: {
        multihead: strategy('multihead', 0.7, 0.02, 100_000),
        combined: strategy('combined', 0.9, 0, 100_000),
      },
    });
    expect(v.sentences).toContain('No strategy recognises unseen combinations clearly above chance (1.3%); the best is multihead at 2.0%.');
    expect(v.recommended).toBe('combined');
    expect(v.sentences.at(-1)).toBe('Use combined here: best or tied on seen ones.');
  });

  it('should decide on seen combinations alone when nothing was held out', () => {
    const v = verdict({
      chanceExactMatch,
      strategies: {
        multihead: strategy('multihead', 0.7, undefined, 100_000),
        chain: strategy('chain', 0.75, undefined, 101_000),
      },
    });
    expect(v.recommended).toBe('chain');
    expect(v.sentences.some((s) => s.includes('unseen'))).toBe(false);
  });

  it('should refuse figures without any strategy', () => {
    expect(() => verdict({ chanceExactMatch, strategies: {} })).toThrow(/at least one measured strategy/);
  });
});
