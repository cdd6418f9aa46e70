import type { ComparisonFigures } from '../figures.js';
import type { Verdict } from '../verdict.js';
import { budgetText, curveTable, invarianceText, headTable, measured, pct, summaryTable, type Table } from './table.js';

/** The comparison as a Markdown document. */
export function markdownReport(figures: ComparisonFigures, verdict: Verdict): string {
  const best = figures.strategies[verdict.recommended]!;
  const lines = [
    '# polyhead compare',
    '',
    `Data: \`${figures.dataset}\` (heads ${figures.heads.map((h) => `${h.name}: ${h.labels.length} labels`).join(', ')}).`,
    `Split, the same for every strategy: ${figures.split.train} training, ${figures.split.val} validation (seen combinations), ${figures.split.unseen} unseen-combination images.`,
    ...(figures.heldOut.length > 0 ? [`Held-out combinations: ${figures.heldOut.map((c) => Object.values(c).join(' ')).join(', ')}.`] : []),
    `Budget: ${budgetText(figures)}; ${figures.settings.inputSize} px, small CNN width ${figures.settings.width} depth ${figures.settings.depth}, batch ${figures.settings.batchSize}, learning rate ${figures.settings.learningRate}, seed ${figures.settings.seed}, ${figures.settings.backend} backend.${invarianceText(figures)} Chance exact-match: ${pct(figures.chanceExactMatch)}.`,
    '',
    '## Verdict',
    '',
    ...verdict.sentences,
    '',
    '## Strategies',
    '',
    ...measured(figures).map((s) => `- **${s.strategy}**: ${s.description}`),
    '',
    table(summaryTable(figures)),
    '',
    figures.strategies.combined && figures.split.unseen > 0
      ? '**The combined classifier never produces an unseen combination**: its classes are the combinations present in training, so its unseen exact-match is 0 by construction.\n'
      : '',
    '## Per head (accuracy and macro-F1)',
    '',
    table(headTable(figures)),
    '',
    '## Training curves',
    '',
    'Training loss (summed over a strategy’s models) and mean validation accuracy of the strategy’s own heads (for combined: accuracy over combinations).',
    '',
    table(curveTable(figures)),
    '',
    `## Confusion matrices of ${best.strategy} (validation, seen combinations)`,
    '',
    ...figures.heads.flatMap((h) => [`### ${h.name}`, '', table(confusion(h.labels, best.seen.heads[h.name]!.confusion)), '']),
  ];
  return `${lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

function confusion(labels: string[], matrix: number[][]): Table {
  return { header: ['true \\ predicted', ...labels], rows: matrix.map((row, t) => [labels[t]!, ...row.map(String)]) };
}

function table(t: Table): string {
  const cell = (c: string) => c.replace(/\|/g, '\\|');
  return [
    `| ${t.header.map(cell).join(' | ')} |`,
    `| ${t.header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...t.rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}
