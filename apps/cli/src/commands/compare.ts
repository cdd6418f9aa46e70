import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Command, InvalidArgumentError, Option } from 'commander';
import { loadDataset, PolyheadError, type Dataset } from '@polyhead/data';

import type { ComparisonFigures, SetFigures } from '../compare/figures.js';
import { compareProgress, duration } from '../compare/progress.js';
import { htmlReport } from '../compare/report/html.js';
import { markdownReport } from '../compare/report/markdown.js';
import { pct } from '../compare/report/table.js';
import { parseStrategies, STRATEGIES, type Strategy } from '../compare/strategies.js';
import { verdict } from '../compare/verdict.js';
import { buildColoredFashionMnist } from '../demo/colored-fashion-mnist.js';
import type { Output } from '../output.js';
import { fraction, headList, invariances, nonNegativeInt, positiveInt, positiveNumber } from '../options.js';

/** The `--data` value that selects the built-in coloured Fashion-MNIST. */
export const DEMO_DATA = 'demo';

interface CompareCommandOptions {
  data: string;
  heads?: string[];
  separator: string;
  strategies: Strategy[];
  holdoutCombos?: string;
  holdoutFraction?: number;
  budgetEpochs?: number;
  budgetMinutes?: number;
  maxEpochs: number;
  valFraction: number;
  perType: number;
  size: number;
  width: number;
  depth: number;
  batch: number;
  lr: number;
  seed: number;
  backend: string;
  flip: boolean;
  /** Pairs from --invariant, false from --no-invariant, undefined when neither is given. */
  invariant?: { head: string; attribute: string }[] | false;
  cacheMb: number;
  out: string;
  json?: boolean;
}

/** Default epochs per model: the whole default comparison on the demo data fits in 15 minutes on two cores. */
const DEFAULT_EPOCHS = 6;

/** `polyhead compare`: multi-head vs one combined classifier vs one model per attribute vs a chain, measured. */
export function compareCommand(out: Output): Command {
  return new Command('compare')
    .description('train multihead, combined, separate and chain strategies on one split and budget, and report which to use')
    .option('--data <csv|folder|demo>', `training data; "${DEMO_DATA}" (the default) builds the coloured Fashion-MNIST of polyhead demo, its 16 held-out pairs unseen`, DEMO_DATA)
    .requiredOption('--out <dir>', 'folder for report.md, report.html, figures.json and the models')
    .option('--strategies <list>', `strategies to compare (${STRATEGIES.join(', ')})`, strategyList, [...STRATEGIES])
    .option('--heads <names>', 'head names, for folder datasets (e.g. color,type)', headList)
    .option('--separator <sep>', 'separator of folder names', '_')
    .option('--holdout-combos <list>', 'label combinations kept out of training and scored as unseen, e.g. "color=blue,type=shirt"')
    .option('--holdout-fraction <f>', 'or hold out this share of the combinations (chosen with --seed)', fraction)
    .option('--budget-epochs <n>', `epochs per model (default ${DEFAULT_EPOCHS})`, positiveInt)
    .option('--budget-minutes <m>', 'or wall-clock minutes for all trainings, split evenly; each stops after the batch its share runs out', positiveNumber)
    .option('--max-epochs <n>', 'epoch cap (and learning-rate schedule length) under --budget-minutes', positiveInt, 30)
    .option('--val-fraction <f>', 'share of each seen combination kept for validation', fraction, 0.2)
    .option('--per-type <n>', `images per garment type of the ${DEMO_DATA} data`, positiveInt, 600)
    .option('--size <px>', 'square input size', positiveInt, 32)
    .option('--width <n>', 'filters of the first backbone block', positiveInt, 32)
    .option('--depth <n>', 'backbone blocks', positiveInt, 3)
    .option('--batch <n>', 'batch size', positiveInt, 64)
    .option('--lr <x>', 'peak learning rate', positiveNumber, 2e-3)
    .option('--seed <n>', 'seed of the split, initial weights, shuffling and augmentation', nonNegativeInt, 0)
    .addOption(new Option('--backend <name>', 'compute backend').choices(['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).default('auto'))
    .option('--no-flip', 'turn off random horizontal flips')
    .option('--invariant <pairs>', `heads that must ignore an attribute, e.g. type:color, for the strategies with one head per attribute (multihead, chain); default type:color on the ${DEMO_DATA} data, none elsewhere`, invariances)
    .option('--no-invariant', 'declare no invariance, on the demo data too')
    .option('--cache-mb <n>', 'memory budget of the decoded-image cache', positiveInt, 1024)
    .option('--json', 'print the figures as one JSON object on the last stdout line')
    .action(async (opts: CompareCommandOptions) => {
      await runCompare(opts, out);
    });
}

function strategyList(value: string): Strategy[] {
  try {
    return parseStrategies(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

async function runCompare(opts: CompareCommandOptions, out: Output): Promise<void> {
  if (opts.budgetEpochs !== undefined && opts.budgetMinutes !== undefined) {
    throw new PolyheadError('USAGE_TWO_BUDGETS', 'give --budget-epochs or --budget-minutes, not both', { kind: 'usage' });
  }
  if (opts.holdoutCombos !== undefined && opts.holdoutFraction !== undefined) {
    throw new PolyheadError('USAGE_TWO_HOLDOUTS', 'give --holdout-combos or --holdout-fraction, not both', { kind: 'usage' });
  }
  const { initBackend, parseCombos } = await import('@polyhead/model');
  const { runComparison } = await import('../compare/run-compare.js');
  const backend = await initBackend(opts.backend as never, { log: (m) => out.info(m) });
  const { dataset, heldOut } = await readData(opts, out);
  const holdout = opts.holdoutCombos
    ? { combos: parseCombos(opts.holdoutCombos) }
    : opts.holdoutFraction !== undefined
      ? { fraction: opts.holdoutFraction }
      : { combos: heldOut };
  const invariant = opts.invariant === false ? [] : (opts.invariant ?? (opts.data === DEMO_DATA ? [{ head: 'type', attribute: 'color' }] : []));
  const budget = opts.budgetMinutes !== undefined ? { minutes: opts.budgetMinutes, maxEpochs: opts.maxEpochs } : { epochs: opts.budgetEpochs ?? DEFAULT_EPOCHS };
  out.info(`comparing ${opts.strategies.join(', ')} on ${dataset.samples.length} images of ${dataset.origin} (${backend.name} backend, ${opts.size}px)`);

  const figures = await runComparison({
    dataset,
    holdout,
    strategies: opts.strategies,
    budget,
    outDir: opts.out,
    inputSize: opts.size,
    backbone: { width: opts.width, depth: opts.depth },
    batchSize: opts.batch,
    learningRate: opts.lr,
    seed: opts.seed,
    valFraction: opts.valFraction,
    flip: opts.flip,
    invariant,
    cacheMb: opts.cacheMb,
    onTraining: compareProgress(out, budget),
    onStrategy: (s) =>
      out.info(`${s.strategy}: seen exact-match ${pct(s.seen.exactMatch)}${s.unseen ? `, unseen ${pct(s.unseen.exactMatch)}` : ''}, ${s.params.toLocaleString('en-US')} parameters, ${s.trainSeconds.toFixed(0)}s`),
  });
  const judged = verdict(figures);
  await writeReports(opts.out, figures, judged);
  for (const sentence of judged.sentences) out.info(sentence);
  out.success(`compared ${opts.strategies.length} strategies in ${duration(figures.totalSeconds)}; report in ${join(opts.out, 'report.html')} and report.md`);
  if (opts.json) out.result(JSON.stringify({ ...jsonFigures(figures), verdict: judged }));
  else out.result(`recommended: ${judged.recommended}`);
}

/** The dataset to compare on and, for the demo data, its held-out pairs. */
async function readData(opts: CompareCommandOptions, out: Output): Promise<{ dataset: Dataset; heldOut: Record<string, string>[] }> {
  if (opts.data !== DEMO_DATA) {
    return { dataset: await loadDataset(opts.data, { heads: opts.heads, separator: opts.separator }), heldOut: [] };
  }
  out.info(`building the coloured Fashion-MNIST (${opts.perType} images per type, seed ${opts.seed})`);
  const data = await buildColoredFashionMnist({ perType: opts.perType, seed: opts.seed });
  const seen = await loadDataset(data.seenCsv);
  const unseen = await loadDataset(data.unseenCsv);
  // one dataset again; the demo's held-out pairs become the holdout, so compare splits it like any other
  const dataset: Dataset = { ...seen, samples: [...seen.samples, ...unseen.samples], skipped: [...seen.skipped, ...unseen.skipped] };
  // with few images per type some held-out pairs may have no image at all
  const present = data.heldOut.filter((p) => unseen.samples.some((s) => s.labels[0] === p.color && s.labels[1] === p.type));
  return { dataset, heldOut: present.map((p) => ({ color: p.color, type: p.type })) };
}

/** figures.json, report.md and report.html, each written to a temporary name and renamed into place. */
async function writeReports(dir: string, figures: ComparisonFigures, judged: ReturnType<typeof verdict>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    ['figures.json', `${JSON.stringify({ ...figures, verdict: judged }, null, 2)}\n`],
    ['report.md', markdownReport(figures, judged)],
    ['report.html', htmlReport(figures, judged)],
  ];
  for (const [name, text] of files) {
    const target = join(dir, name);
    const temp = `${target}.tmp-${process.pid}`;
    await writeFile(temp, text);
    await rename(temp, target);
  }
}

/** The figures without confusion matrices and curves, for one JSON line. */
function jsonFigures(figures: ComparisonFigures) {
  const slimSet = (s: SetFigures) => ({
    exactMatch: s.exactMatch,
    images: s.images,
    novelAnswers: s.novelAnswers,
    heads: Object.fromEntries(Object.entries(s.heads).map(([n, h]) => [n, { accuracy: h.accuracy, macroF1: h.macroF1 }])),
  });
  return {
    dataset: figures.dataset,
    split: figures.split,
    heldOut: figures.heldOut,
    chanceExactMatch: figures.chanceExactMatch,
    budget: figures.budget,
    invariant: figures.settings.invariant,
    totalSeconds: figures.totalSeconds,
    strategies: Object.fromEntries(
      Object.entries(figures.strategies).map(([name, s]) => [
        name,
        {
          models: s.models,
          seen: slimSet(s.seen),
          ...(s.unseen ? { unseen: slimSet(s.unseen) } : {}),
          params: s.params,
          trainSeconds: s.trainSeconds,
          trainImagesPerSec: s.trainImagesPerSec,
          latencyMs: s.latencyMs,
          inferImagesPerSec: s.inferImagesPerSec,
          sizeBytes: s.sizeBytes,
          epochsRun: s.epochsRun,
          ...(s.comboClasses !== undefined ? { comboClasses: s.comboClasses } : {}),
        },
      ]),
    ),
  };
}
