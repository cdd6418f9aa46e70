import { existsSync, readFileSync } from 'node:fs';

import { Command, Option } from 'commander';
import { ImageCache, loadDataset, PolyheadError } from '@polyhead/data';
import type { ClassWeightSetting, SelectMetric } from '@polyhead/model';

import type { Output } from '../output.js';
import { fraction, headKinds, headList, headWeights, invariances, nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber } from '../options.js';
import { trainingProgress } from '../training-progress.js';
import { checkBeforeTraining, openRun, reportDataProblems, saveRunModels, type TrainRun } from '../train-run.js';
import { printSummary, reportDataset, reportHeldOut } from '../train-report.js';
import { BACKBONE_DEFAULTS, backboneConflicts, trainBackboneInRun, type BackboneTrainSettings } from '../train-backbone.js';

/** Settings of `polyhead train`: those of the `--backbone` path plus the small CNN's own. */
export interface TrainCommandOptions extends BackboneTrainSettings {
  size: number;
  width: number;
  depth: number;
  sharedDepth?: number;
  chain?: string[];
  lossBalance: 'fixed' | 'uncertainty' | 'dwa';
  classWeights?: string;
  balanceHead?: string;
  selectMetric: SelectMetric;
  shuffle: boolean;
}

/** `polyhead train`: trains a multi-output model on a CSV manifest or a folder. */
export function trainCommand(out: Output): Command {
  return new Command('train')
    .description('train a multi-output classifier on a CSV manifest (image,head1,head2,…) or a folder of <label1>_<label2>/ subfolders')
    .option('--data <csv|folder>', 'training data: a CSV manifest or a folder of combination subfolders')
    .option('--out <dir>', 'run folder to write: the model, config.json, metrics.jsonl, train.log, checkpoint.bin, last/')
    .option('--resume <dir>', 'continue the interrupted run in this folder, with the settings in its config.json')
    .option('--force', 'replace a finished (or restart an unfinished) run at --out')
    .option('--checkpoint-minutes <n>', 'also checkpoint mid-epoch this often (checkpoints are written every epoch)', nonNegativeNumber, 10)
    .option('--val <csv|folder>', 'explicit validation set (default: split off --val-fraction of --data)')
    .option('--heads <names>', 'head names, for folder datasets (e.g. color,type)', headList)
    .option('--separator <sep>', 'separator of folder names', '_')
    .option('--holdout-combos <list>', 'label combinations kept out of training and scored apart, e.g. "color=blue,type=shirt;color=red,type=shoes"')
    .option('--holdout-fraction <f>', 'or hold out this share of the label combinations (chosen with --seed)', fraction)
    .option('--val-fraction <f>', 'share of each label combination held out for validation', fraction, 0.2)
    .option('--size <px>', `square input size (with --backbone: default ${BACKBONE_DEFAULTS.size} for the registry backbones, else the model's own)`, positiveInt, 64)
    .option('--width <n>', 'filters of the first backbone block (doubling per block)', positiveInt, 32)
    .option('--depth <n>', 'backbone blocks', positiveInt, 4)
    .option('--shared-depth <k>', 'backbone blocks shared by all heads; later blocks become one branch per head', nonNegativeInt)
    .option('--chain <heads>', 'classifier chain: each listed head also sees the predictions of those before it (e.g. color,type)', headList)
    .option('--epochs <n>', `passes over the training data (with --backbone: stage 1 epochs, default ${BACKBONE_DEFAULTS.epochs})`, positiveInt, 10)
    .option('--batch <n>', 'batch size', positiveInt, 32)
    .option('--lr <x>', `peak learning rate (Adam, cosine schedule; with --backbone default ${BACKBONE_DEFAULTS.lr})`, positiveNumber, 2e-3)
    .option('--seed <n>', 'seed of the split, shuffling, initial weights and augmentation', nonNegativeInt, 0)
    .addOption(new Option('--backend <name>', 'compute backend').choices(['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).default('auto'))
    .option('--loss-weights <pairs>', 'loss weight per head, e.g. color=1,type=0.5', headWeights)
    .addOption(new Option('--loss-balance <how>', 'balance head losses: fixed weights, learned uncertainty, or dynamic weight averaging').choices(['fixed', 'uncertainty', 'dwa']).default('fixed'))
    .option('--class-weights <spec>', 'class weights: "balanced" (every head), "color=balanced", or a JSON file {"color": {"red": 0.6}}')
    .option('--head-kind <pairs>', 'head kinds, e.g. tags=multilabel,color=softmax (default: multilabel when a cell holds |, e.g. summer|casual)', headKinds)
    .option('--balance-head <head>', 'draw training batches so that this head\'s classes are equally frequent (seeded, with replacement), instead of class weights')
    .option('--no-flip', 'turn off random horizontal flips')
    .option('--invariant <pairs>', 'heads that must ignore an attribute, e.g. type:color (type is trained on recoloured views, color on the originals)', invariances)
    .addOption(new Option('--invariant-view <kind>', 'how colour is changed for --invariant').choices(['recolor', 'hue']).default('recolor'))
    .option('--invariant-fraction <f>', 'share of each batch shown as a changed view', fraction, 0.5)
    .addOption(new Option('--select-metric <m>', 'validation metric that picks the best epoch').choices(['meanMacroF1', 'exactMatch', 'meanAccuracy', 'valLoss']).default('meanMacroF1'))
    .option('--no-restore-best', 'keep the last epoch\'s weights instead of the best validation epoch\'s')
    .option('--no-shuffle', 'train in the order the data lists the images')
    .option('--patience <n>', 'stop after this many epochs without improvement', positiveInt)
    .addOption(new Option('--on-bad-image <what>', 'images that cannot be decoded: fail (list them all) or skip them').choices(['fail', 'skip']).default('fail'))
    .option('--no-dedupe', 'do not keep identical images on one side of the split')
    .option('--cache-mb <n>', 'memory budget of the decoded-image cache', positiveInt, 1024)
    .option('--backbone <name|model.json|url>', 'train on a pretrained backbone: mobilenet-v1-0.25 or mobilenet-v2-0.35 (downloaded into $POLYHEAD_CACHE), a path to a TensorFlow.js layers model.json, or its URL')
    .option('--feature-layer <name>', 'backbone layer whose output is pooled into the features (default: the registry entry\'s; required for other models)')
    .option('--fine-tune-blocks <n>', 'with --backbone: after training the heads, also train the last n backbone blocks (BatchNorm stays frozen)', nonNegativeInt, 0)
    .option('--fine-tune-epochs <n>', 'epochs of fine-tuning', positiveInt, 2)
    .option('--fine-tune-lr <x>', 'peak learning rate of fine-tuning', positiveNumber, 1e-4)
    .option('--no-feature-cache', 'with --backbone: run the frozen backbone every step instead of training the heads on features computed once')
    .option('--feature-views <n>', 'with --backbone: augmented views cached per training image besides the original (default 2)', nonNegativeInt)
    .option('--augment <list>', 'with --backbone: augmentation, e.g. flip,crop=0.2,rotate=10,brightness,contrast,hue=20, none or default (flip,crop,rotate,brightness,contrast); colour heads never learn from hue-shifted images')
    .option('--colour-heads <names>', 'with --backbone: heads that describe colour, hidden on hue-shifted images (default: heads named color/colour and --invariant attributes)', headList)
    .option('--dropout <f>', 'with --backbone: dropout on the pooled features (default 0.2)', fraction)
    .option('--json', 'print a JSON summary on stdout')
    .action(async (opts: TrainCommandOptions, command: Command) => {
      if (opts.backbone) {
        await runBackboneTrain(opts, command, out);
        return;
      }
      const backboneOnly = ['featureLayer', 'fineTuneBlocks', 'fineTuneEpochs', 'fineTuneLr', 'featureCache', 'featureViews', 'augment', 'colourHeads', 'dropout'];
      const stray = backboneOnly.filter((key) => command.getOptionValueSource(key) === 'cli');
      if (stray.length > 0 && !opts.resume) {
        throw new PolyheadError('USAGE_NEEDS_BACKBONE', `${stray.map((k) => (k === 'featureCache' ? '--no-feature-cache' : `--${kebab(k)}`)).join(', ')} only apply to --backbone runs`, { kind: 'usage' });
      }
      await runTrain(opts, out);
    });
}

/** `train --backbone`: the small-CNN defaults that differ are replaced where not given, conflicting flags refused. */
async function runBackboneTrain(opts: TrainCommandOptions, command: Command, output: Output) {
  const given = new Set(command.options.map((o) => o.attributeName()).filter((key) => command.getOptionValueSource(key) === 'cli'));
  const conflicts = backboneConflicts(given, opts);
  if (conflicts.length > 0) {
    throw new PolyheadError('USAGE_BACKBONE_CONFLICT', `${conflicts.join(', ')} apply to the small CNN and cannot be combined with --backbone`, { kind: 'usage' });
  }
  if (opts.resume) {
    throw new PolyheadError('USAGE_BACKBONE_CONFLICT', '--resume takes every setting from the run folder; do not combine it with --backbone', { kind: 'usage' });
  }
  const settings: BackboneTrainSettings = {
    ...opts,
    size: given.has('size') ? opts.size : undefined,
    epochs: given.has('epochs') ? opts.epochs : BACKBONE_DEFAULTS.epochs,
    lr: given.has('lr') ? opts.lr : BACKBONE_DEFAULTS.lr,
  };
  const run = await openRun(settings, output);
  try {
    return await trainBackboneInRun(run, parseClassWeights(opts.classWeights));
  } finally {
    run.close();
  }
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The train job, shared with `demo`. */
export async function runTrain(given: TrainCommandOptions, output: Output) {
  const run = await openRun(given, output);
  try {
    return await trainInRun(run);
  } finally {
    run.close();
  }
}

async function trainInRun(run: TrainRun<TrainCommandOptions>) {
  const { opts, out } = run;
  // TensorFlow.js loads only for the commands that compute.
  const { initBackend, parseCombos, trainOnDataset } = await import('@polyhead/model');
  const parsedWeights = parseClassWeights(opts.classWeights);
  const backend = await initBackend(opts.backend as never, { log: (m) => out.info(m) });
  const dataset = await loadDataset(opts.data, { heads: opts.heads, separator: opts.separator });
  const classWeights = parsedWeights?.['*'] ? Object.fromEntries(dataset.heads.map((h) => [h, 'balanced' as const])) : parsedWeights;
  const val = opts.val ? await loadDataset(opts.val, { heads: opts.heads ?? dataset.heads, separator: opts.separator }) : undefined;
  reportDataset(out, dataset);
  Object.assign(run.resolved, { backend: backend.name, heads: dataset.heads, images: dataset.samples.length });
  // Images the check decodes stay in the cache for the first epoch.
  const cache = new ImageCache(opts.cacheMb * 2 ** 20);
  const check = await checkBeforeTraining(dataset, opts.size, cache, out);
  out.info(`training ${dataset.heads.join(' + ')} on ${dataset.samples.length} images (${backend.name} backend, ${opts.size}px, ${opts.epochs} epochs)`);
  const started = performance.now();
  const trained = await trainOnDataset({
    check,
    cache,
    checkpoint: run.checkpoint,
    resume: run.resume,
    signal: run.signal,
    dataset,
    val,
    valFraction: opts.valFraction,
    holdout: { combos: opts.holdoutCombos ? parseCombos(opts.holdoutCombos) : undefined, fraction: opts.holdoutFraction },
    inputSize: opts.size,
    backbone: { width: opts.width, depth: opts.depth },
    sharedDepth: opts.sharedDepth,
    chain: opts.chain,
    epochs: opts.epochs,
    batchSize: opts.batch,
    learningRate: opts.lr,
    seed: opts.seed,
    lossWeights: opts.lossWeights,
    lossBalance: opts.lossBalance,
    classWeights,
    headKinds: opts.headKind,
    balanceHead: opts.balanceHead,
    flip: opts.flip,
    invariant: opts.invariant,
    invariantView: opts.invariantView,
    invariantFraction: opts.invariantFraction,
    selectMetric: opts.selectMetric,
    restoreBest: opts.restoreBest,
    noShuffle: !opts.shuffle,
    patience: opts.patience,
    cacheMb: opts.cacheMb,
    onBadImage: opts.onBadImage,
    dedupe: opts.dedupe,
    callbacks: trainingProgress(out, opts.epochs, { onEpochBegin: run.begin, onEpochEnd: run.onEpochEnd }),
  }).catch((error: unknown) => {
    throw run.explain(error);
  });
  const seconds = (performance.now() - started) / 1000;
  await reportDataProblems(opts.out, trained, out);
  trained.meta.training = { ...trained.meta.training, seconds, history: trained.result.history };
  // The last epoch's model goes to last/, the one the run ends with (the best) to the top.
  await saveRunModels(opts.out, trained.net, trained.meta, { epochs: trained.result.history.length, lastWeights: trained.result.lastWeights });
  if (trained.result.val) printSummary(out, trained.result.val, trained.result.bestEpoch);
  await reportHeldOut(out, trained);
  const weighted = Object.entries(trained.classWeights).filter(([name]) => classWeights?.[name] !== undefined);
  for (const [name, w] of weighted) {
    out.info(`class weights ${name}: ${Object.entries(w).map(([l, v]) => `${l}=${round(v)}`).join(', ')}`);
  }
  out.success(`model saved to ${opts.out} (${seconds.toFixed(0)}s, best epoch ${trained.result.bestEpoch})`);
  if (opts.json) {
    out.result(
      JSON.stringify({
        model: opts.out,
        seconds,
        bestEpoch: trained.result.bestEpoch,
        classWeights: trained.classWeights,
        history: trained.result.history,
        val: trained.result.val,
        ...(trained.unseen ? { unseen: trained.unseen, heldOut: trained.heldOut } : {}),
      }),
    );
  }
  return trained;
}

/** Reads `--class-weights`: balanced, head=balanced pairs, or a JSON file; `*` stands for every head. */
export function parseClassWeights(spec: string | undefined): Record<string, ClassWeightSetting> | undefined {
  if (spec === undefined) return undefined;
  if (spec === 'balanced') return { '*': 'balanced' };
  if (existsSync(spec)) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(spec, 'utf8'));
    } catch (cause) {
      throw new PolyheadError('USAGE_BAD_CLASS_WEIGHTS', `${spec} is not valid JSON: ${(cause as Error).message}`, { kind: 'usage', cause });
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new PolyheadError('USAGE_BAD_CLASS_WEIGHTS', `${spec}: expected an object keyed by head name`, { kind: 'usage' });
    }
    for (const [head, value] of Object.entries(json)) {
      const ok = value === 'balanced' || (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'number'));
      if (!ok) {
        throw new PolyheadError('USAGE_BAD_CLASS_WEIGHTS', `${spec}: head "${head}" must map to "balanced" or to an object of label → number`, { kind: 'usage' });
      }
    }
    return json as Record<string, ClassWeightSetting>;
  }
  const out: Record<string, ClassWeightSetting> = {};
  for (const part of spec.split(',')) {
    const m = /^([^=]+)=balanced$/.exec(part.trim());
    if (!m) {
      throw new PolyheadError('USAGE_BAD_CLASS_WEIGHTS', `--class-weights expects "balanced", "head=balanced,…" or a JSON file; "${part}" is none of these (and no such file exists)`, { kind: 'usage' });
    }
    out[m[1]!] = 'balanced';
  }
  return out;
}

function round(x: number): string {
  return String(Math.round(x * 10000) / 10000);
}
