import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { batches, ImageCache, LabelEncoder, PolyheadError, defaultPreprocessing, type Dataset, type Preprocessing } from '@polyhead/data';
import {
  argmaxRows,
  comboPredictions,
  computeMetrics,
  saveModelDir,
  tf,
  trainOnDataset,
  type EpochLog,
  type HoldoutSpec,
  type ModelMeta,
  type Network,
  type TrainCallbacks,
} from '@polyhead/model';

import type { ComparisonFigures, CurvePoint, SetFigures, StrategyFigures } from './figures.js';
import { compareSplit, subset, type CompareSplit } from './split.js';
import { combinedDataset, comboToHeads, headDataset, STRATEGY_DESCRIPTIONS, type Strategy } from './strategies.js';

/** How long each strategy may train: a number of epochs, or wall-clock minutes for all. */
export type CompareBudget = { epochs: number } | { minutes: number; maxEpochs: number };

/** One training run of a comparison (separate has one per attribute). */
export interface TrainingInfo {
  strategy: Strategy;
  /** The attribute, for a separate model. */
  head?: string;
  /** 1-based position among all trainings, and their count. */
  index: number;
  total: number;
  /** Epochs planned (the cap, under a minutes budget). */
  epochs: number;
}

/** Settings of {@link runComparison}. */
export interface CompareOptions {
  dataset: Dataset;
  holdout: HoldoutSpec;
  strategies: Strategy[];
  budget: CompareBudget;
  /** Where the trained models are saved, one folder per strategy. */
  outDir: string;
  inputSize: number;
  backbone: { width: number; depth: number };
  batchSize: number;
  learningRate: number;
  seed: number;
  valFraction: number;
  flip: boolean;
  /**
   * Declared invariances (`type` ignores `color`), applied where every head is trained together:
   * multihead and chain. The combined classifier's one label holds the attribute, and a separate
   * model has no head for it. Default none.
   */
  invariant?: { head: string; attribute: string }[];
  cacheMb: number;
  /** Progress hooks for each training. */
  onTraining?: (info: TrainingInfo) => TrainCallbacks;
  /** Called with each strategy's figures once it is measured (latency comes last, for all at once). */
  onStrategy?: (figures: StrategyFigures) => void;
}

/** A trained model of a strategy, with what it was trained on. */
interface Trained {
  net: Network;
  meta: ModelMeta;
  history: EpochLog[];
  seconds: number;
  images: number;
}

/**
 * Trains every requested strategy on one split, with one budget, seed,
 * backbone and preprocessing, and scores them all on the same validation and
 * unseen-combination images, per original attribute.
 *
 * @example
 * const figures = await runComparison({ dataset, holdout: { fraction: 0.2 }, strategies: ['multihead', 'combined'], budget: { epochs: 4 }, ... });
 * figures.strategies.combined?.unseen?.exactMatch; // 0: it cannot answer an unseen pair
 */
export async function runComparison(options: CompareOptions): Promise<ComparisonFigures> {
  const started = performance.now();
  const { dataset } = options;
  const reference = LabelEncoder.fit(dataset);
  const multiLabel = reference.heads.filter((_, h) => reference.kind(h) !== 'softmax').map((h) => h.name);
  if (multiLabel.length > 0) {
    throw new PolyheadError('COMPARE_MULTILABEL', `compare needs single-label heads; ${multiLabel.join(', ')} hold label sets`, { kind: 'usage' });
  }
  if (dataset.heads.length < 2) {
    throw new PolyheadError('COMPARE_ONE_HEAD', `compare needs at least two heads to combine; ${dataset.origin} has ${dataset.heads.join(', ')}`, { kind: 'usage' });
  }
  const pre = defaultPreprocessing({ size: options.inputSize });
  const cache = new ImageCache(options.cacheMb * 2 ** 20);
  const split = await compareSplit(dataset, {
    holdout: options.holdout,
    valFraction: options.valFraction,
    seed: options.seed,
    dedupe: { pre, cache },
  });
  if (split.val.length === 0) {
    throw new PolyheadError('COMPARE_NO_VAL', `${dataset.origin}: the split left no validation images (raise --val-fraction)`, { kind: 'usage' });
  }
  const trainings = options.strategies.reduce((n, s) => n + (s === 'separate' ? dataset.heads.length : 1), 0);
  const epochs = 'epochs' in options.budget ? options.budget.epochs : options.budget.maxEpochs;
  const sliceMs = 'minutes' in options.budget ? (options.budget.minutes * 60_000) / trainings : undefined;
  const labels = reference.encode(dataset);
  const trainCombos = uniqueCombos(dataset, split.train);
  let index = 0;

  const trainOne = async (strategy: Strategy, train: Dataset, val: Dataset, head?: string): Promise<Trained> => {
    index += 1;
    const info: TrainingInfo = { strategy, head, index, total: trainings, epochs };
    const abort = new AbortController();
    const timer = sliceMs === undefined ? undefined : setTimeout(() => abort.abort(), sliceMs);
    const t0 = performance.now();
    try {
      const trained = await trainOnDataset({
        dataset: train,
        val,
        dedupe: false,
        inputSize: options.inputSize,
        backbone: options.backbone,
        chain: strategy === 'chain' ? dataset.heads : undefined,
        epochs,
        batchSize: options.batchSize,
        learningRate: options.learningRate,
        seed: options.seed,
        flip: options.flip,
        invariant: strategy === 'multihead' || strategy === 'chain' ? options.invariant : undefined,
        cacheMb: Math.max(64, options.cacheMb / 4),
        callbacks: options.onTraining?.(info),
        signal: abort.signal,
      });
      const seconds = (performance.now() - t0) / 1000;
      return { net: trained.net, meta: trained.meta, history: trained.result.history, seconds, images: trained.split.train.length * trained.result.history.length };
    } finally {
      clearTimeout(timer);
    }
  };

  const figures: ComparisonFigures = {
    dataset: dataset.origin,
    heads: reference.heads.map((h) => ({ name: h.name, labels: [...h.labels] })),
    split: { train: split.train.length, val: split.val.length, unseen: split.unseen.length },
    heldOut: split.heldOut,
    chanceExactMatch: reference.heads.reduce((p, h) => p / h.labels.length, 1),
    budget: options.budget,
    settings: {
      inputSize: options.inputSize,
      width: options.backbone.width,
      depth: options.backbone.depth,
      batchSize: options.batchSize,
      learningRate: options.learningRate,
      seed: options.seed,
      backend: tf.getBackend(),
      invariant: (options.invariant ?? []).map((e) => `${e.head}:${e.attribute}`),
    },
    strategies: {},
    totalSeconds: 0,
  };

  // every strategy's models stay loaded until the end, so latency is measured
  // for all of them in turns, under the same load
  const kept: { strategy: Strategy; nets: Network[] }[] = [];
  try {
    for (const strategy of options.strategies) {
      const train = subset(dataset, split.train);
      const val = subset(dataset, split.val);
      const models: Trained[] = [];
      kept.push({ strategy, nets: [] });
      if (strategy === 'separate') {
        for (const [h, name] of dataset.heads.entries()) {
          models.push(await trainOne(strategy, headDataset(train, h), headDataset(val, h), name));
          kept.at(-1)!.nets.push(models.at(-1)!.net);
        }
      } else {
        models.push(await trainOne(strategy, strategy === 'combined' ? combinedDataset(train) : train, strategy === 'combined' ? combinedDataset(val) : val));
        kept.at(-1)!.nets.push(models[0]!.net);
      }
      const measured = await measure(strategy, models, { dataset, split, labels, reference, pre, cache, trainCombos, outDir: options.outDir });
      figures.strategies[strategy] = measured;
      options.onStrategy?.(measured);
    }
    const latencies = await latency(kept.map((k) => k.nets), dataset, split.val, pre, cache);
    kept.forEach((k, i) => (figures.strategies[k.strategy]!.latencyMs = latencies[i]!));
  } finally {
    for (const k of kept) for (const net of k.nets) net.model.dispose();
  }
  figures.totalSeconds = (performance.now() - started) / 1000;
  return figures;
}

interface MeasureContext {
  dataset: Dataset;
  split: CompareSplit;
  labels: Int32Array[];
  reference: LabelEncoder;
  pre: Preprocessing;
  cache: ImageCache;
  trainCombos: string[][];
  outDir: string;
}

async function measure(strategy: Strategy, models: Trained[], ctx: MeasureContext): Promise<StrategyFigures> {
  const vocab = ctx.reference.heads;
  const score = async (indices: number[]): Promise<{ figures: SetFigures; seconds: number }> => {
    const t0 = performance.now();
    const predicted = await attributePredictions(strategy, models, vocab, ctx.dataset, indices, ctx.pre, ctx.cache);
    const seconds = (performance.now() - t0) / 1000;
    const truth = ctx.labels.map((l) => Int32Array.from(indices, (i) => l[i]!));
    const m = computeMetrics(vocab, truth, predicted);
    const novel = comboPredictions(vocab, predicted, ctx.trainCombos).reduce((a, c) => a + c.count, 0);
    const heads = Object.fromEntries(Object.entries(m.heads).map(([n, h]) => [n, { accuracy: h.accuracy, macroF1: h.macroF1, confusion: h.confusion }]));
    return { figures: { exactMatch: m.exactMatch, images: m.fullyLabelled, heads, novelAnswers: indices.length > 0 ? novel / indices.length : 0 }, seconds };
  };
  const seen = await score(ctx.split.val);
  const unseen = ctx.split.unseen.length > 0 ? (await score(ctx.split.unseen)).figures : undefined;
  const modelDirs = models.map((m) => join(ctx.outDir, 'models', models.length > 1 ? `${strategy}-${m.net.spec.heads[0]!.name}` : strategy));
  let sizeBytes = 0;
  for (const [i, m] of models.entries()) {
    await saveModelDir(modelDirs[i]!, m.net, { ...m.meta, training: { ...m.meta.training, comparedAs: strategy, seconds: m.seconds, history: m.history } });
    sizeBytes += await folderBytes(modelDirs[i]!);
  }
  const trainSeconds = models.reduce((a, m) => a + m.seconds, 0);
  const combined = strategy === 'combined' ? models[0]!.net.spec.heads[0]!.labels.length : undefined;
  return {
    strategy,
    description: STRATEGY_DESCRIPTIONS[strategy],
    models: models.length,
    seen: seen.figures,
    unseen,
    params: models.reduce((a, m) => a + m.net.model.countParams(), 0),
    trainSeconds,
    trainImagesPerSec: models.reduce((a, m) => a + m.images, 0) / trainSeconds,
    latencyMs: Number.NaN,
    inferImagesPerSec: ctx.split.val.length / seen.seconds,
    sizeBytes,
    epochsRun: Math.max(...models.map((m) => m.history.length)),
    curves: mergeCurves(models.map((m) => m.history)),
    ...(combined !== undefined ? { comboClasses: combined } : {}),
    modelDirs,
  };
}

/** Per original attribute, each image's predicted class index under the reference vocabulary. */
async function attributePredictions(
  strategy: Strategy,
  models: Trained[],
  vocab: LabelEncoder['heads'],
  dataset: Dataset,
  indices: number[],
  pre: Preprocessing,
  cache: ImageCache,
): Promise<Int32Array[]> {
  const outputs = await Promise.all(models.map((m) => predictClasses(m.net, dataset, indices, pre, cache)));
  if (strategy === 'combined') {
    return comboToHeads(outputs[0]![0]!, models[0]!.net.spec.heads[0]!.labels, vocab.map((h) => h.labels));
  }
  // every model's own vocabulary is mapped onto the reference one by label name
  const byName = new Map<string, { labels: readonly string[]; predicted: Int32Array }>();
  models.forEach((m, k) => m.net.spec.heads.forEach((head, h) => byName.set(head.name, { labels: head.labels, predicted: outputs[k]![h]! })));
  return vocab.map((head) => {
    const own = byName.get(head.name)!;
    const map = own.labels.map((l) => head.labels.indexOf(l));
    return Int32Array.from(own.predicted, (c) => map[c]!);
  });
}

/** Argmax class per head for the samples at `indices`, in that order. */
async function predictClasses(net: Network, dataset: Dataset, indices: number[], pre: Preprocessing, cache: ImageCache): Promise<Int32Array[]> {
  const heads = net.spec.heads;
  const none = [new Int32Array(dataset.samples.length).fill(-1)];
  const parts: Int32Array[][] = heads.map(() => []);
  for await (const b of batches(dataset.samples, none, indices, { batchSize: 64, shuffle: false, seed: 0, pre, cache })) {
    const outs = tf.tidy(() => {
      const raw = net.model.predict(tf.tensor4d(b.x, b.shape)) as tf.Tensor | tf.Tensor[];
      return Array.isArray(raw) ? raw : [raw];
    });
    const data = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
    tf.dispose(outs);
    heads.forEach((head, h) => parts[h]!.push(argmaxRows(data[h]!, head.labels.length)));
  }
  return parts.map((p) => Int32Array.from(p.flatMap((a) => [...a])));
}

/**
 * Median time to answer one image alone with every model of a strategy, ms,
 * per strategy. Strategies take turns image by image, so a change in the
 * machine's load affects them all alike.
 */
async function latency(strategies: Network[][], dataset: Dataset, indices: number[], pre: Preprocessing, cache: ImageCache): Promise<number[]> {
  const picked = indices.slice(0, 40);
  const none = [new Int32Array(dataset.samples.length).fill(-1)];
  const times: number[][] = strategies.map(() => []);
  let round = 0;
  for await (const b of batches(dataset.samples, none, picked, { batchSize: 1, shuffle: false, seed: 0, pre, cache })) {
    for (const [s, nets] of strategies.entries()) {
      const t0 = performance.now();
      for (const net of nets) {
        const outs = tf.tidy(() => {
          const raw = net.model.predict(tf.tensor4d(b.x, b.shape)) as tf.Tensor | tf.Tensor[];
          return Array.isArray(raw) ? raw : [raw];
        });
        await Promise.all(outs.map((t) => t.data()));
        tf.dispose(outs);
      }
      // the first rounds warm the kernels up
      if (round >= 5 || picked.length <= 5) times[s]!.push(performance.now() - t0);
    }
    round += 1;
  }
  return times.map((t) => {
    const sorted = [...t].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? 0;
  });
}

/** One curve per strategy: losses summed and accuracies averaged over its models, epoch by epoch. */
export function mergeCurves(histories: EpochLog[][]): CurvePoint[] {
  const epochs = Math.max(0, ...histories.map((h) => h.length));
  const points: CurvePoint[] = [];
  for (let e = 0; e < epochs; e++) {
    const logs = histories.map((h) => h[e]).filter((l): l is EpochLog => l !== undefined);
    const accuracies = logs.flatMap((l) => Object.values(l.val?.heads ?? {}).map((h) => h.accuracy));
    points.push({
      epoch: e + 1,
      loss: logs.reduce((a, l) => a + l.loss, 0),
      ...(histories.length === 1 && logs[0]?.val ? { valExactMatch: logs[0].val.exactMatch } : {}),
      ...(accuracies.length > 0 ? { valAccuracy: accuracies.reduce((a, b) => a + b, 0) / accuracies.length } : {}),
    });
  }
  return points;
}

/** The complete label combinations of the samples at `indices`, each listed once. */
function uniqueCombos(dataset: Dataset, indices: number[]): string[][] {
  const keys = new Set(indices.map((i) => dataset.samples[i]!.labels).filter((l) => l.every((x) => x !== null)).map((l) => JSON.stringify(l)));
  return [...keys].sort().map((k) => JSON.parse(k) as string[]);
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(join(dir, name))).size;
  return total;
}
