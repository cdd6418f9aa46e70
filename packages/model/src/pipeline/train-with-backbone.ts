import {
  batches,
  checkImages,
  createRng,
  DataError,
  defaultPreprocessing,
  deriveSeed,
  findDuplicates,
  ImageCache,
  LabelEncoder,
  PolyheadError,
  shuffleInPlace,
  type Batch,
  type Dataset,
  type HeadKind,
  type Preprocessing,
  type Sample,
} from '@polyhead/data';

import { augmentBatch, augments, DEFAULT_AUGMENT, type AugmentOptions } from '../augment/index.js';
import { buildPretrainedNetwork, setTrainableBlocks } from '../backbone/pretrained.js';
import type { MultiHeadMetrics } from '../metrics.js';
import { networkSpec, type Network } from '../network.js';
import type { LoadedBackbone } from '../pretrained/load.js';
import type { ModelMeta } from '../spec.js';
import { tf } from '../tf.js';
import { evaluate, selectionScore, train, weightValues, type Invariance, type WeightValue, type SelectMetric, type TrainCallbacks, type TrainFeed, type TrainResult } from '../train/trainer.js';
import { colourView, type ColourViewKind } from '../views/colour-views.js';
import { splitKeepingGroups, trainingCombos } from './group-split.js';
import { formatCombo, selectHoldout, type HoldoutSpec } from './holdout.js';
import { resolveClassWeights, type BadImage, type ClassWeightSetting, type TrainedModel } from './train-on-dataset.js';

/** Stage 2 of {@link trainWithBackbone}: the last backbone blocks trained too. */
export interface FineTuneOptions {
  /** Backbone blocks unfrozen, counted from the feature layer back. */
  blocks: number;
  /** Epochs of stage 2. Default 2. */
  epochs?: number;
  /** Peak learning rate of stage 2 (heads and unfrozen blocks). Default 1e-4. */
  learningRate?: number;
}

/** Settings of {@link trainWithBackbone}; every field but `dataset` and `backbone` has a default. */
export interface TrainWithBackboneOptions {
  dataset: Dataset;
  /** The pretrained backbone (see `loadBackbone`); its input size and scaling are used. */
  backbone: LoadedBackbone;
  val?: Dataset;
  /** Share of each label combination held out for validation. Default 0.2. */
  valFraction?: number;
  holdout?: HoldoutSpec;
  onBadImage?: 'fail' | 'skip';
  /** Keep identical images on one side of the split. Default true. */
  dedupe?: boolean;
  /** Resize policy and kernel; size and scaling follow the backbone. */
  preprocessing?: Partial<Omit<Preprocessing, 'size' | 'scaling'>>;
  /** Dropout on the pooled features. Default 0.2. */
  dropout?: number;
  /** Stage 1 (heads on the frozen backbone) epochs. Default 30. */
  epochs?: number;
  batchSize?: number;
  /** Stage 1 peak learning rate. Default 1e-3. */
  learningRate?: number;
  weightDecay?: number;
  seed?: number;
  lossWeights?: Record<string, number>;
  classWeights?: Record<string, ClassWeightSetting>;
  headKinds?: Record<string, HeadKind>;
  /** Augmentation of training images. Default {@link DEFAULT_AUGMENT} (no colour change). */
  augment?: AugmentOptions;
  /**
   * Heads whose label a colour change alters: they never learn from a hue-shifted image.
   * Default: the attribute of `invariant`, and heads named `color` or `colour`.
   */
  colourHeads?: string[];
  /**
   * Train stage 1 on features computed once per image (true, default) instead of running the
   * frozen backbone every step. Augmentation then comes from `featureViews` augmented views
   * cached per image, drawn at random each epoch.
   */
  featureCache?: boolean;
  /** Augmented views cached per training image besides the original. Default 2. */
  featureViews?: number;
  /** Declared invariances, as in `trainOnDataset`: `{ head: 'type', attribute: 'color' }`. */
  invariant?: { head: string; attribute: string }[];
  /** How colour is changed for an invariance. Default `hue`. */
  invariantView?: ColourViewKind;
  /** Share of training samples shown as a changed view. Default 0.5. */
  invariantFraction?: number;
  /** Colour-changed views cached per training image (feature cache). Default 3. */
  invariantViews?: number;
  /** Stage 2; omit to keep the backbone frozen. */
  fineTune?: FineTuneOptions;
  selectMetric?: SelectMetric;
  restoreBest?: boolean;
  patience?: number;
  /** Decoded-image cache budget in MiB. Default 1024. */
  cacheMb?: number;
  /** Progress of each stage's training. */
  callbacks?: TrainCallbacks;
  /** Called when a stage starts, with a one-line description. */
  onStage?(stage: 'features' | 'heads' | 'fine-tune', description: string): void;
  /** Called as features are computed. */
  onFeatures?(done: number, total: number): void;
  /**
   * Aborting while features are computed throws `TRAIN_INTERRUPTED` (nothing is trained yet);
   * while a stage trains, it stops early after the batch, as `train` does without checkpoints,
   * and stage 2 is skipped.
   */
  signal?: AbortSignal;
}

/** Outcome of one stage. */
export interface StageResult {
  result: TrainResult;
  seconds: number;
  /** Validation metrics of the weights the stage ended with. */
  val?: MultiHeadMetrics;
}

/** What {@link trainWithBackbone} produced: what `trainOnDataset` does, plus the stages. */
export interface BackboneTrainedModel extends TrainedModel {
  /** The result of the stage whose weights the network holds. */
  result: TrainResult;
  /**
   * The last epoch's weight values (of the last stage run), in `net.model.weights` order, when
   * the network holds other ones (a best epoch restored, or stage 2 discarded); else undefined.
   */
  lastWeights?: WeightValue[];
  stages: { heads: StageResult; fineTune?: StageResult & { kept: boolean; unfrozenLayers: number } };
  /** Seconds spent computing cached features (0 without the cache). */
  featureSeconds: number;
}

/**
 * Transfer learning on a pretrained backbone, in up to two stages:
 *
 * 1. the heads train on the frozen backbone, from features computed once per image (and per
 *    cached augmented or colour-changed view) unless `featureCache` is off;
 * 2. with `fineTune`, the last backbone blocks are unfrozen and train with the heads at a lower
 *    learning rate, on images. BatchNorm layers of the backbone stay in inference mode.
 *
 * Stage 2's weights are kept only when they score at least as well on validation as stage 1's.
 *
 * @example
 * const backbone = await loadBackbone('mobilenet-v2-0.35', { inputSize: 160 });
 * const { net, meta } = await trainWithBackbone({ dataset, backbone, fineTune: { blocks: 2 } });
 * await saveModelDir('runs/mnv2', net, meta);
 */
export async function trainWithBackbone(options: TrainWithBackboneOptions): Promise<BackboneTrainedModel> {
  const { dataset, backbone } = options;
  const seed = options.seed ?? 0;
  const batchSize = options.batchSize ?? 32;
  const epochs = options.epochs ?? 30;
  const learningRate = options.learningRate ?? 1e-3;
  const augment = options.augment ?? DEFAULT_AUGMENT;
  const useCache = options.featureCache ?? true;
  const scaling = backbone.scaling ?? 'symmetric';
  const preprocessing = defaultPreprocessing({ ...options.preprocessing, size: backbone.inputSize, scaling });

  const encoder = LabelEncoder.fit(dataset, { kinds: options.headKinds });
  const names = encoder.heads.map((h) => h.name);
  const labels = encoder.encode(dataset);
  const targets = encoder.encodeTargets(dataset);
  const holdout = selectHoldout(dataset, options.holdout ?? {}, seed);
  const cache = new ImageCache((options.cacheMb ?? 1024) * 2 ** 20);

  const problems = await checkImages(dataset.samples, preprocessing, { cache });
  const badImages: BadImage[] = problems.map((p) => ({ file: p.source.file, line: p.source.line, path: p.path, code: p.error.code, message: p.error.message }));
  if (badImages.length > 0 && (options.onBadImage ?? 'fail') === 'fail') {
    throw new DataError('DATA_BAD_IMAGES', `${badImages.length} image(s) in ${dataset.origin} cannot be used (pass onBadImage 'skip' / --on-bad-image skip to leave them out):\n${badImages.slice(0, 20).map((b) => `  ${b.message}`).join('\n')}`, {
      details: { badImages },
    });
  }
  const bad = new Set(problems.map((p) => p.index));
  const all = dataset.samples.map((_, i) => i).filter((i) => !bad.has(i));
  const candidates = all.filter((i) => !holdout.heldOut[i]);
  const unseenIdx = all.filter((i) => holdout.heldOut[i]);
  const groups = options.dedupe === false ? [] : await findDuplicates(dataset.samples, preprocessing, { indices: candidates, cache });
  let trainIdx: number[];
  let valIdx: number[];
  let valSamples: Sample[] = dataset.samples;
  let valLabels = labels;
  let valTargets = targets;
  if (options.val) {
    trainIdx = candidates;
    valIdx = options.val.samples.map((_, i) => i);
    valSamples = options.val.samples;
    valLabels = encoder.encode(options.val);
    valTargets = encoder.encodeTargets(options.val);
  } else {
    ({ trainIdx, valIdx } = splitKeepingGroups(dataset, candidates, groups, options.valFraction ?? 0.2, seed));
  }
  if (trainIdx.length === 0) throw new PolyheadError('DATA_EMPTY', `${dataset.origin}: no samples left to train on`);

  const classWeights = resolveClassWeights(encoder, labels, all, options.classWeights ?? {}, targets);
  const lossWeights = options.lossWeights ?? {};
  const base = networkSpec({
    inputSize: backbone.inputSize,
    heads: encoder.heads.map((h, i) => ({ name: h.name, labels: h.labels, kind: encoder.kind(i), weight: lossWeights[h.name] ?? 1 })),
  });
  const spec = { ...base, backbone: { kind: 'pretrained' as const, source: backbone.source, featureLayer: backbone.featureLayer, featureChannels: backbone.featureChannels, dropout: options.dropout ?? 0.2 } };
  const invariance = resolveInvariance(options, names, preprocessing, seed);
  const colourHeads = resolveColourHeads(options, names);
  const { net, heads: headNet } = buildPretrainedNetwork(spec, backbone, { seed });
  const trainOptions = {
    batchSize,
    weightDecay: options.weightDecay,
    classWeights: encoder.heads.map((h) => Float32Array.from(h.labels.map((l) => classWeights[h.name]![l]!))),
    selectMetric: options.selectMetric,
    restoreBest: options.restoreBest,
    patience: options.patience,
    callbacks: options.callbacks,
    signal: options.signal,
  };
  const valFeed = () => batches(valSamples, valLabels, valIdx, { batchSize: 64, shuffle: false, seed, pre: preprocessing, cache, targets: valTargets });
  const imageFeed = (): TrainFeed => ({
    trainSize: trainIdx.length,
    train: (epoch) => withTurns(augmentedImages(batches(dataset.samples, labels, trainIdx, { batchSize, shuffle: true, seed, epoch, pre: preprocessing, cache, targets }), augment, scaling, colourHeads, deriveSeed(seed + 5, epoch))),
    val: valIdx.length > 0 ? valFeed : undefined,
  });

  try {
    setTrainableBlocks(net, backbone.featureLayer, 0, backbone.entry?.blockPattern);
    let featureSeconds = 0;
    const stage1Start = performance.now();
    let stage1: TrainResult;
    if (useCache) {
      const started = performance.now();
      const views = augments(augment) ? (options.featureViews ?? 2) : 0;
      const colourViews = invariance ? (options.invariantViews ?? 3) : 0;
      options.onStage?.('features', `computing ${backbone.featureChannels}-d features of ${trainIdx.length} training images × ${1 + views + colourViews} views (${views} augmented, ${colourViews} colour-changed) and ${valIdx.length} validation images`);
      const extractor = featureExtractor(backbone);
      const total = trainIdx.length + valIdx.length;
      let done = 0;
      const progress = (n: number) => options.onFeatures?.((done += n), total);
      const trainFeatures = await cacheFeatures(extractor, batches(dataset.samples, labels, trainIdx, { batchSize: 16, shuffle: false, seed, pre: preprocessing, cache }), {
        views,
        augment,
        colourViews,
        colour: invariance?.transform,
        scaling,
        seed: seed + 11,
        progress,
        signal: options.signal,
      });
      const valFeatures = await cacheFeatures(extractor, batches(valSamples, valLabels, valIdx, { batchSize: 16, shuffle: false, seed, pre: preprocessing, cache }), {
        views: 0,
        augment,
        colourViews: 0,
        scaling,
        seed,
        progress,
        signal: options.signal,
      });
      featureSeconds = (performance.now() - started) / 1000;
      options.onStage?.('heads', `training the heads on cached features (${epochs} epochs)`);
      stage1 = await train(
        headNet,
        featureFeed(trainFeatures, valFeatures, { trainIdx, valIdx, labels, targets, valLabels, valTargets, batchSize, seed, colourHeads, invariance }),
        { ...trainOptions, epochs, learningRate },
      );
    } else {
      options.onStage?.('heads', `training the heads on the frozen backbone, on images (${epochs} epochs)`);
      stage1 = await train(net, imageFeed(), { ...trainOptions, epochs, learningRate, invariance });
    }
    // the heads network's weights are a subset of `net`'s; the last epoch's, in `net`'s order
    let lastWeights = useCache ? inNetOrder(net, headNet.model.weights, stage1.lastWeights) : stage1.lastWeights;
    const heads: StageResult = { result: stage1, seconds: (performance.now() - stage1Start) / 1000, val: stage1.val };
    let result = stage1;
    let fineTune: BackboneTrainedModel['stages']['fineTune'];
    if (options.fineTune && options.fineTune.blocks > 0 && !options.signal?.aborted) {
      const ft = options.fineTune;
      const unfrozenLayers = setTrainableBlocks(net, backbone.featureLayer, ft.blocks, backbone.entry?.blockPattern);
      options.onStage?.('fine-tune', `fine-tuning the heads and the last ${ft.blocks} backbone blocks (${unfrozenLayers} layers with weights) on images (${ft.epochs ?? 2} epochs)`);
      const before = net.model.getWeights().map((w) => tf.keep(w.clone()));
      // NOTE: a model lists trainable weights first, so unfreezing reorders `weights`
      const unfrozenOrder = net.model.weights.slice();
      const started = performance.now();
      try {
        const stage2 = await train(net, imageFeed(), { ...trainOptions, epochs: ft.epochs ?? 2, learningRate: ft.learningRate ?? 1e-4, invariance });
        lastWeights = stage2.lastWeights;
        const select = options.selectMetric ?? 'meanMacroF1';
        const kept = !stage1.val || !stage2.val || selectionScore(select, stage2.val) >= selectionScore(select, stage1.val);
        if (!kept) {
          lastWeights ??= weightValues(net);
          net.model.setWeights(before);
        }
        else result = stage2;
        fineTune = { result: stage2, seconds: (performance.now() - started) / 1000, val: stage2.val, kept, unfrozenLayers };
      } finally {
        tf.dispose(before);
        setTrainableBlocks(net, backbone.featureLayer, 0, backbone.entry?.blockPattern);
      }
      lastWeights = inNetOrder(net, unfrozenOrder, lastWeights);
    }

    let unseen: MultiHeadMetrics | undefined;
    if (unseenIdx.length > 0) {
      unseen = (await evaluate(net, batches(dataset.samples, labels, unseenIdx, { batchSize: 32, shuffle: false, seed, pre: preprocessing, cache, targets }))).metrics;
    }
    const trainCombos = trainingCombos(dataset, encoder, trainIdx);
    const meta: ModelMeta = {
      format: 'polyhead-model/1',
      network: spec,
      preprocessing,
      training: {
        dataset: dataset.origin,
        samples: { train: trainIdx.length, val: valIdx.length, skipped: dataset.skipped.length },
        backbone: { source: backbone.source, inputSize: backbone.inputSize, featureLayer: backbone.featureLayer, ...(backbone.entry ? { url: backbone.entry.url, weightsSha256: backbone.entry.weights.sha256 } : {}) },
        stages: {
          heads: { epochs, epochsRun: stage1.history.length, bestEpoch: stage1.bestEpoch, learningRate, seconds: heads.seconds, featureCache: useCache, featureSeconds },
          ...(fineTune
            ? { fineTune: { blocks: options.fineTune!.blocks, unfrozenLayers: fineTune.unfrozenLayers, epochs: options.fineTune!.epochs ?? 2, learningRate: options.fineTune!.learningRate ?? 1e-4, bestEpoch: fineTune.result.bestEpoch, seconds: fineTune.seconds, kept: fineTune.kept, val: fineTune.val } }
            : {}),
        },
        epochs,
        epochsRun: result.history.length,
        bestEpoch: result.bestEpoch,
        batchSize,
        learningRate,
        seed,
        augment,
        colourHeads,
        featureViews: useCache && augments(augment) ? (options.featureViews ?? 2) : 0,
        holdout: holdout.combos.map(formatCombo),
        badImages: badImages.map((b) => ({ file: b.file, line: b.line, code: b.code })),
        duplicates: { groups: groups.length, images: groups.reduce((a, g) => a + g.length, 0) },
        trainCombos,
        invariant: options.invariant ?? [],
        invariantView: invariance ? (options.invariantView ?? 'hue') : undefined,
        invariantFraction: invariance ? (invariance.fraction ?? 0.5) : undefined,
        invariantViews: invariance && useCache ? (options.invariantViews ?? 3) : undefined,
        classWeights,
        headKinds: Object.fromEntries(encoder.heads.map((h, i) => [h.name, encoder.kind(i)])),
        backend: tf.getBackend(),
      },
      metrics: { ...(result.val ? { val: result.val } : {}), ...(unseen ? { unseen } : {}), stage1: { ...(stage1.val ? { val: stage1.val } : {}) } },
      createdAt: new Date().toISOString(),
      versions: { tfjs: tf.version.tfjs, polyhead: '0.1.0' },
    };
    return {
      net,
      meta,
      result,
      lastWeights,
      stages: { heads, fineTune },
      featureSeconds,
      encoder,
      split: { train: trainIdx, val: valIdx, unseen: unseenIdx },
      unseen,
      heldOut: holdout.combos,
      badImages,
      duplicates: { groups: groups.length, images: groups.reduce((a, g) => a + g.length, 0) },
      classWeights,
    };
  } catch (error) {
    net.model.dispose();
    throw error;
  }
}

/** Weight values of `net` in its current `weights` order, those listed in `order` taken from `values` (given in that order). */
function inNetOrder(net: Network, order: readonly Network['model']['weights'][number][], values: WeightValue[] | undefined): WeightValue[] | undefined {
  if (!values) return undefined;
  const given = new Map(order.map((w, i) => [w, values[i]!]));
  const current = net.model.getWeights();
  return net.model.weights.map((w, i) => given.get(w) ?? { data: Float32Array.from(current[i]!.dataSync()), shape: current[i]!.shape.slice() });
}

/** Image → pooled features of the backbone's feature layer. */
function featureExtractor(backbone: LoadedBackbone): (x: tf.Tensor4D) => tf.Tensor2D {
  const cut = tf.model({ inputs: backbone.model.inputs, outputs: backbone.model.getLayer(backbone.featureLayer).output as tf.SymbolicTensor });
  return (x) => tf.tidy(() => tf.mean(cut.predict(x) as tf.Tensor4D, [1, 2]) as tf.Tensor2D);
}

/** Cached features of a set of images, one matrix per view; row `r` is the `r`-th image given. */
interface FeatureSet {
  /** `[rows, channels]` per view: the original first, then augmented, then colour-changed views. */
  views: Float32Array[];
  /** Per augmented view (same order as `views`), 1 where that image's colour was shifted. */
  recoloured: Uint8Array[];
  augmented: number;
  colourViews: number;
  channels: number;
  /** Sample index → row. */
  row: Map<number, number>;
}

async function cacheFeatures(
  extract: (x: tf.Tensor4D) => tf.Tensor2D,
  source: AsyncIterable<Batch>,
  opts: { views: number; augment: AugmentOptions; colourViews: number; colour?: (x: tf.Tensor4D, random: () => number) => tf.Tensor4D; scaling: Preprocessing['scaling']; seed: number; progress(n: number): void; signal?: AbortSignal },
): Promise<FeatureSet> {
  const parts: Float32Array[][] = Array.from({ length: 1 + opts.views + opts.colourViews }, () => []);
  const flags: Uint8Array[][] = parts.map(() => []);
  const row = new Map<number, number>();
  let channels = 0;
  let step = 0;
  for await (const b of withTurns(source)) {
    if (opts.signal?.aborted) {
      throw new PolyheadError('TRAIN_INTERRUPTED', `interrupted while computing features (${row.size} images done); nothing was trained yet`, { kind: 'runtime', details: { stage: 'features' } });
    }
    const random = createRng(deriveSeed(opts.seed, step++));
    const outs = tf.tidy(() => {
      const x = tf.tensor4d(b.x, b.shape);
      const list: { features: tf.Tensor2D; recoloured: Uint8Array }[] = [{ features: extract(x), recoloured: new Uint8Array(b.shape[0]) }];
      for (let v = 0; v < opts.views; v++) {
        const aug = augmentBatch(x, opts.augment, opts.scaling, random);
        list.push({ features: extract(aug.x), recoloured: aug.recoloured });
      }
      for (let v = 0; v < opts.colourViews; v++) {
        const geometric = augmentBatch(x, { ...opts.augment, hue: 0 }, opts.scaling, random).x;
        list.push({ features: extract(opts.colour!(geometric, random)), recoloured: new Uint8Array(b.shape[0]).fill(1) });
      }
      return list;
    });
    const data = await Promise.all(outs.map((o) => o.features.data() as Promise<Float32Array>));
    channels = outs[0]!.features.shape[1];
    tf.dispose(outs.map((o) => o.features));
    data.forEach((d, v) => {
      parts[v]!.push(d);
      flags[v]!.push(outs[v]!.recoloured);
    });
    for (const i of b.indices) row.set(i, row.size);
    opts.progress(b.shape[0]);
  }
  const join = <T extends Float32Array | Uint8Array>(list: T[], make: (n: number) => T): T => {
    const out = make(list.reduce((a, p) => a + p.length, 0));
    let offset = 0;
    for (const p of list) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  };
  return {
    views: parts.map((p) => join(p, (n) => new Float32Array(n))),
    recoloured: flags.map((f) => join(f, (n) => new Uint8Array(n))),
    augmented: opts.views,
    colourViews: opts.colourViews,
    channels,
    row,
  };
}

/**
 * Batches of cached features, fed as `[n, 1, 1, C]`. Each training sample shows one view drawn
 * per epoch: with an invariance, a share `fraction` shows a colour-changed view, from which only
 * the invariant heads learn (the changed heads learn from the rest); otherwise the original or
 * an augmented view, colour heads not learning from a hue-shifted one.
 */
function featureFeed(
  train: FeatureSet,
  val: FeatureSet,
  d: {
    trainIdx: number[];
    valIdx: number[];
    labels: Int32Array[];
    targets: (Float32Array | undefined)[];
    valLabels: Int32Array[];
    valTargets: (Float32Array | undefined)[];
    batchSize: number;
    seed: number;
    colourHeads: number[];
    invariance?: Invariance;
  },
): TrainFeed {
  const c = train.channels;
  const make = (set: FeatureSet, chunk: number[], labels: Int32Array[], targets: (Float32Array | undefined)[], pick: (i: number) => { view: number; masked: Set<number> }): Batch => {
    const x = new Float32Array(chunk.length * c);
    const out = labels.map((l) => Int32Array.from(chunk, (i) => l[i]!));
    chunk.forEach((i, j) => {
      const r = set.row.get(i)!;
      const { view, masked } = pick(r);
      x.set(set.views[view]!.subarray(r * c, (r + 1) * c), j * c);
      for (const h of masked) out[h]![j] = -1;
    });
    const n = labels[0]?.length ?? 0;
    const rows = targets.some((t) => t) ? targets.map((t) => t && gather(t, n, chunk)) : undefined;
    return { x, shape: [chunk.length, 1, 1, c], labels: out, ...(rows ? { targets: rows } : {}), indices: chunk };
  };
  const inv = d.invariance;
  return {
    trainSize: d.trainIdx.length,
    async *train(epoch, fromBatch = 0) {
      const order = shuffleInPlace([...d.trainIdx], createRng(deriveSeed(d.seed, epoch)));
      for (let b = fromBatch; b * d.batchSize < order.length; b++) {
        await nextTurn();
        const random = createRng(deriveSeed(d.seed + 3, epoch * 100_003 + b));
        const chunk = order.slice(b * d.batchSize, (b + 1) * d.batchSize);
        yield make(train, chunk, d.labels, d.targets, (r) => {
          if (inv && train.colourViews > 0 && random() < (inv.fraction ?? 0.5)) {
            const view = 1 + train.augmented + Math.floor(random() * train.colourViews);
            return { view, masked: new Set(inv.changedHeads) };
          }
          const view = Math.floor(random() * (1 + train.augmented));
          const masked = new Set<number>(inv ? inv.invariantHeads : []);
          if (train.recoloured[view]![r]) for (const h of d.colourHeads) masked.add(h);
          return { view, masked };
        });
      }
    },
    val:
      d.valIdx.length > 0
        ? async function* () {
            for (let s = 0; s < d.valIdx.length; s += 64) yield make(val, d.valIdx.slice(s, s + 64), d.valLabels, d.valTargets, () => ({ view: 0, masked: new Set() }));
          }
        : undefined,
  };
}

/** Training image batches augmented in place; colour heads' labels hidden on hue-shifted images. */
async function* augmentedImages(source: AsyncIterable<Batch>, augment: AugmentOptions, scaling: Preprocessing['scaling'], colourHeads: number[], seed: number) {
  let step = 0;
  for await (const b of source) {
    if (!augments(augment)) {
      yield b;
      continue;
    }
    const random = createRng(deriveSeed(seed, step++));
    const x = tf.tensor4d(b.x, b.shape);
    const out = augmentBatch(x, augment, scaling, random);
    b.x.set(await out.x.data());
    tf.dispose([x, out.x]);
    out.recoloured.forEach((flag, j) => {
      if (flag) for (const h of colourHeads) b.labels[h]![j] = -1;
    });
    yield b;
  }
}

/**
 * Waits for one turn of the event loop. Batches drawn from memory (cached features, decoded
 * images) never wait on I/O, so without a turn per batch a SIGINT handler would not run until
 * training ended.
 */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** `source` with a turn of the event loop before each item (see {@link nextTurn}). */
async function* withTurns<T>(source: AsyncIterable<T>): AsyncIterable<T> {
  for await (const item of source) {
    await nextTurn();
    yield item;
  }
}

function gather(rows: Float32Array, n: number, chunk: number[]): Float32Array {
  const k = rows.length / n;
  const out = new Float32Array(chunk.length * k);
  chunk.forEach((i, j) => out.set(rows.subarray(i * k, (i + 1) * k), j * k));
  return out;
}

/** Heads that describe colour, by index. */
function resolveColourHeads(options: TrainWithBackboneOptions, names: string[]): number[] {
  const listed = options.colourHeads ?? [...new Set([...(options.invariant ?? []).map((e) => e.attribute), ...names.filter((n) => /^colou?r$/i.test(n))])];
  return listed.map((name) => {
    const h = names.indexOf(name);
    if (h < 0) throw new PolyheadError('TRAIN_UNKNOWN_HEAD', `colour head "${name}" is not one of the heads ${names.join(', ')}`, { kind: 'usage' });
    return h;
  });
}

function resolveInvariance(options: TrainWithBackboneOptions, heads: string[], preprocessing: Preprocessing, seed: number): Invariance | undefined {
  const entries = options.invariant ?? [];
  if (entries.length === 0) return undefined;
  const index = (name: string, role: string) => {
    const i = heads.indexOf(name);
    if (i < 0) throw new PolyheadError('TRAIN_UNKNOWN_HEAD', `invariance names ${role} "${name}", but the heads are ${heads.join(', ')}`, { kind: 'usage' });
    return i;
  };
  const attributes = [...new Set(entries.map((e) => e.attribute))];
  if (attributes.length > 1) throw new PolyheadError('TRAIN_BAD_INVARIANCE', `invariances must all name one attribute, got ${attributes.join(' and ')}`, { kind: 'usage' });
  const changed = index(attributes[0]!, 'attribute');
  const invariantHeads = entries.map((e) => index(e.head, 'head'));
  if (invariantHeads.includes(changed)) throw new PolyheadError('TRAIN_BAD_INVARIANCE', `head "${heads[changed]}" cannot be invariant to itself`, { kind: 'usage' });
  return { transform: colourView(options.invariantView ?? 'hue', preprocessing.scaling), invariantHeads, changedHeads: [changed], fraction: options.invariantFraction, seed: seed + 1 };
}
