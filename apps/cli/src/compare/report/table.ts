import type { ComparisonFigures, StrategyFigures } from '../figures.js';

/** A table as header and rows of cell text, shared by the Markdown and HTML reports. */
export interface Table {
  header: string[];
  rows: string[][];
}

/** The measured strategies, in report order. */
export function measured(figures: ComparisonFigures): StrategyFigures[] {
  return Object.values(figures.strategies).filter((s): s is StrategyFigures => s !== undefined);
}

/** Exact-match, cost and speed per strategy. */
export function summaryTable(figures: ComparisonFigures): Table {
  const unseen = figures.split.unseen > 0;
  return {
    header: [
      'strategy',
      'models',
      'seen exact-match',
      ...(unseen ? ['unseen exact-match', 'answers with an unseen combination'] : []),
      'parameters',
      'training time',
      'training img/s',
      'latency / image',
      'inference img/s',
      'size on disk',
    ],
    rows: measured(figures).map((s) => [
      s.strategy,
      String(s.models),
      pct(s.seen.exactMatch),
      ...(unseen ? [pct(s.unseen?.exactMatch ?? 0), s.strategy === 'combined' ? `${pct(s.unseen?.novelAnswers ?? 0)} (never: only its ${s.comboClasses} training combinations)` : pct(s.unseen?.novelAnswers ?? 0)] : []),
      s.params.toLocaleString('en-US'),
      `${s.trainSeconds.toFixed(1)} s (${s.epochsRun} epochs)`,
      s.trainImagesPerSec.toFixed(0),
      `${s.latencyMs.toFixed(2)} ms`,
      s.inferImagesPerSec.toFixed(0),
      bytes(s.sizeBytes),
    ]),
  };
}

/** Accuracy and macro-F1 per head and strategy, on seen (validation) and unseen images. */
export function headTable(figures: ComparisonFigures): Table {
  const unseen = figures.split.unseen > 0;
  const heads = figures.heads.map((h) => h.name);
  return {
    header: [
      'strategy',
      ...heads.flatMap((h) => [`${h} acc`, `${h} macro-F1`]),
      ...(unseen ? heads.flatMap((h) => [`${h} acc (unseen)`, `${h} macro-F1 (unseen)`]) : []),
    ],
    rows: measured(figures).map((s) => [
      s.strategy,
      ...heads.flatMap((h) => [pct(s.seen.heads[h]!.accuracy), s.seen.heads[h]!.macroF1.toFixed(3)]),
      ...(unseen ? heads.flatMap((h) => [pct(s.unseen?.heads[h]?.accuracy ?? 0), (s.unseen?.heads[h]?.macroF1 ?? 0).toFixed(3)]) : []),
    ]),
  };
}

/** Per epoch: training loss and validation figures of every strategy. */
export function curveTable(figures: ComparisonFigures): Table {
  const all = measured(figures);
  const epochs = Math.max(0, ...all.map((s) => s.curves.length));
  return {
    header: ['epoch', ...all.flatMap((s) => [`${s.strategy} loss`, `${s.strategy} val acc`])],
    rows: Array.from({ length: epochs }, (_, e) => [
      String(e + 1),
      ...all.flatMap((s) => {
        const p = s.curves[e];
        return p ? [p.loss.toFixed(4), p.valAccuracy !== undefined ? pct(p.valAccuracy) : '–'] : ['–', '–'];
      }),
    ]),
  };
}

/** `41.3%`. */
export function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

/** `1.2 MB`. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 2 ** 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 2 ** 20).toFixed(2)} MiB`;
}

/** A one-line description of the budget. */
export function budgetText(figures: ComparisonFigures): string {
  const b = figures.budget;
  return 'epochs' in b ? `${b.epochs} epochs per model` : `${b.minutes} minutes in all, split evenly over the models (at most ${b.maxEpochs} epochs each)`;
}

/** The declared invariances as a sentence, or '' when there are none. */
export function invarianceText(figures: ComparisonFigures): string {
  const pairs = figures.settings.invariant.map((p) => p.split(':')).map(([head, attribute]) => `${head} ignores ${attribute}`);
  return pairs.length === 0 ? '' : ` Declared invariance for multihead and chain: ${pairs.join(', ')} (trained on changed views).`;
}
