import {
  balancedIndices,
  batches,
  checkImages,
  UNUSABLE_KINDS,
  type CheckReport,
  DataError,
  findDuplicates,
  defaultPreprocessing,
  ImageCache,
  LabelEncoder,
  PolyheadError,
  type Dataset,
  type HeadKind,
  type Preprocessing,
  type Sample,
} from '@polyhead/data';

import type { SmallCnnArgs } from '../backbone/small-cnn.js';
import { balancedClassWeights, balancedLabelWeights } from '../loss.js';
import type { MultiHeadMetrics } from '../metrics.js';
import { buildNetwork, networkSpec, type Network } from '../network.js';
import type { ModelMeta, NetworkSpec } from '../spec.js';
import { tf } from '../tf.js';
import { colourView, type ColourViewKind } from '../views/colour-views.js';
import { splitKeepingGroups, trainingCombos } from './group-split.js';
import { formatCombo, selectHoldout, type Combo, type HoldoutSpec } from './holdout.js';
import type { LossBalance } from '../train/loss-balance.js';
import { evaluate, train, type CheckpointOptions, type Invariance, type SelectMetric, type TrainCallbacks, type TrainResult } from '../train/trainer.js';
import type { TrainCheckpoint } from '../train/train-state.js';

/** Class weights of one head: `balanced` (n / (k · n_c)) or a weight per label name. */
export type ClassWeightSetting = 'balanced' | Record<string, number>;

/** Settings of {@link trainOnDataset}; every field but `dataset` has a default. */
export interface TrainOnDatasetOptions {
  /** Labelled samples (a CSV manifest or a folder, loaded with `loadDataset`). */
  dataset: Dataset;
  /** Explicit validation set; without it `valFraction` of `dataset` is split off. */
  val?: Dataset;
  /** Share of each label combination held out for validation. Default 0.2. */
  valFraction?: number;
  /** Label combinations kept out of training and validation, scored apart as `unseen`. */
  holdout?: HoldoutSpec;
  /**
   * What to do with images that cannot be decoded (truncated, too many
   * pixels, not an image): `fail` lists them all and stops before training,
   * `skip` leaves them out and reports them. Default `fail`.
   */
  onBadImage?: 'fail' | 'skip';
  /**
   * A `checkDataset` report of `dataset` with the same preprocessing: its unusable images and
   * duplicate groups are taken as they are instead of decoding everything again.
   */
  check?: CheckReport;
  /** Keep images with identical decoded pixels on one side of the split. Default true. */
  dedupe?: boolean;
  /** Square input side. Default 64. */
  inputSize?: number;
  /** Small-CNN backbone settings. */
  backbone?: SmallCnnArgs;
  /** Backbone blocks shared by all heads; later blocks become per-head branches. Default: all. */
  sharedDepth?: number;
  /** Classifier chain: head names in order; each sees the probabilities of those before. */
  chain?: string[];
  /** Pixel scaling and resize policy; `size` follows `inputSize`. */
  preprocessing?: Partial<Omit<Preprocessing, 'size'>>;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  weightDecay?: number;
  /** Seeds the split, the shuffling, the initial weights and augmentation. Default 0. */
  seed?: number;
  /** Loss weight per head name; unnamed heads weigh 1. */
  lossWeights?: Record<string, number>;
  /** How head losses are balanced over the run. Default `fixed`. */
  lossBalance?: LossBalance;
  /** Class weights per head name; unnamed heads get none. */
  classWeights?: Record<string, ClassWeightSetting>;
  /**
   * Kind per head name (`{ tags: 'multilabel' }`); other heads are inferred
   * from their cells: `multilabel` when any cell holds a `|`.
   */
  headKinds?: Record<string, HeadKind>;
  /**
   * Draw each epoch's training samples so that this (softmax) head's classes
   * are equally frequent, with replacement; an alternative to class weights.
   */
  balanceHead?: string;
  /**
   * Declared invariances: `{ head: 'type', attribute: 'color' }` trains the
   * type head on views whose colour is changed, the color head on the rest.
   * One attribute for all entries.
   */
  invariant?: { head: string; attribute: string }[];
  /** How colour is changed for an invariance to a colour attribute. Default `recolor`. */
  invariantView?: ColourViewKind;
  /** Share of each batch shown as a changed view. Default 0.5. */
  invariantFraction?: number;
  /** Random horizontal flips of training images. Default true. */
  flip?: boolean;
  selectMetric?: SelectMetric;
  /** Restore the best validation epoch's weights at the end. Default true. */
  restoreBest?: boolean;
  patience?: number;
  /** Decoded-image cache budget in MiB. Default 1024. */
  cacheMb?: number;
  /** A decoded-image cache to use instead of a new one of `cacheMb` (one a `checkDataset` run has filled, say). */
  cache?: ImageCache;
  /** Keep the training order as listed (no shuffling). Default false. */
  noShuffle?: boolean;
  callbacks?: TrainCallbacks;
  signal?: AbortSignal;
  /** Checkpoints during training; see {@link CheckpointOptions}. */
  checkpoint?: CheckpointOptions;
  /** Continue from a checkpoint of a run with the same dataset and options. */
  resume?: TrainCheckpoint;
}

/** An image that failed to decode, where it is listed, and why. */
export interface BadImage {
  file: string;
  line?: number;
  path: string;
  code: string;
  message: string;
}

/** What {@link trainOnDataset} produced. */
export interface TrainedModel {
  net: Network;
  meta: ModelMeta;
  result: TrainResult;
  encoder: LabelEncoder;
  /** Indices into `dataset.samples` used for training and validation, and held out. */
  split: { train: number[]; val: number[]; unseen: number[] };
  /** Scores on the held-out combinations, when some were held out. */
  unseen?: MultiHeadMetrics;
  /** Combinations held out. */
  heldOut: Combo[];
  /** Images left out because they could not be decoded (with `onBadImage: 'skip'`). */
  badImages: BadImage[];
  /** Groups of identical images found, each kept on one side of the split. */
  duplicates: { groups: number; images: number };
  /** Resolved class weights per head, keyed by label name (1 where none were given). */
  classWeights: Record<string, Record<string, number>>;
}

/**
 * The whole training job on a loaded dataset: label vocabularies, a stratified
 * split, a small CNN with one head per attribute, the training loop, and the
 * metadata to save beside the weights.
 *
 * @example
 * const dataset = await loadDataset('labels.csv');
 * const { net, meta } = await trainOnDataset({ dataset, epochs: 10 });
 * await saveModelDir('runs/model', net, meta);
 */
export async function trainOnDataset(options: TrainOnDatasetOptions): Promise<TrainedModel> {
  const dataset = options.dataset;
  const seed = options.seed ?? 0;
  const inputSize = options.inputSize ?? 64;
  const batchSize = options.batchSize ?? 32;
  const epochs = options.epochs ?? 10;
  const preprocessing = defaultPreprocessing({ ...options.preprocessing, size: inputSize });

  const encoder = LabelEncoder.fit(dataset, { kinds: options.headKinds });
  const labels = encoder.encode(dataset);
  const targets = encoder.encodeTargets(dataset);
  const balanceHead = resolveBalanceHead(encoder, options.balanceHead);
  const holdout = selectHoldout(dataset, options.holdout ?? {}, seed);
  const cache = options.cache ?? new ImageCache((options.cacheMb ?? 1024) * 2 ** 20);

  // Decode everything once before training: bad images are all reported up
  // front (not mid-epoch), and the cache is warm for the first epoch.
  const problems = options.check
    ? options.check.problems
        .filter((p) => UNUSABLE_KINDS.has(p.kind))
        .map((p) => ({ index: p.index, path: p.file, source: p.source ?? { file: p.file }, error: { code: p.code ?? p.kind, message: p.message } }))
    : await checkImages(dataset.samples, preprocessing, { cache });
  const badImages: BadImage[] = problems.map((p) => ({
    file: p.source.file,
    line: p.source.line,
    path: p.path,
    code: p.error.code,
    message: p.error.message,
  }));
  if (badImages.length > 0 && (options.onBadImage ?? 'fail') === 'fail') {
    const listed = badImages.slice(0, 20).map((b) => `  ${b.message}`);
    if (badImages.length > 20) listed.push(`  … and ${badImages.length - 20} more`);
    throw new DataError(
      'DATA_BAD_IMAGES',
      `${badImages.length} image${badImages.length > 1 ? 's' : ''} in ${dataset.origin} cannot be used (pass onBadImage 'skip' / --on-bad-image skip to leave them out):\n${listed.join('\n')}`,
      { details: { badImages } },
    );
  }
  const bad = new Set(problems.map((p) => p.index));
  const usable = (i: number) => !bad.has(i);
  const candidates = dataset.samples.map((_, i) => i).filter((i) => !holdout.heldOut[i] && usable(i));
  const unseenIdx = dataset.samples.map((_, i) => i).filter((i) => holdout.heldOut[i] && usable(i));
  const inCandidates = new Set(candidates);
  const groups =
    options.dedupe === false
      ? []
      : options.check
        ? options.check.duplicateGroups.map((g) => g.filter((i) => inCandidates.has(i))).filter((g) => g.length > 1)
        : await findDuplicates(dataset.samples, preprocessing, { indices: candidates, cache });
  let trainIdx: number[];
  let valIdx: number[];
  let valSamples: Sample[];
  let valLabels: Int32Array[];
  let valTargets: (Float32Array | undefined)[];
  if (options.val) {
    trainIdx = candidates;
    valIdx = options.val.samples.map((_, i) => i);
    valSamples = options.val.samples;
    valLabels = encoder.encode(options.val);
    valTargets = encoder.encodeTargets(options.val);
  } else {
    ({ trainIdx, valIdx } = splitKeepingGroups(dataset, candidates, groups, options.valFraction ?? 0.2, seed));
    valSamples = dataset.samples;
    valLabels = labels;
    valTargets = targets;
  }
  if (trainIdx.length === 0) {
    throw new PolyheadError('DATA_EMPTY', `${dataset.origin}: no samples left to train on`);
  }

  // NOTE: balanced weights count every labelled row of `dataset`, not the training part of the
  // split: a stratified split cannot keep rare classes' shares exact, and the weights should be
  // the n / (k · n_c) of the data the user supplied.
  const allIdx = dataset.samples.map((_, i) => i);
  const classWeights = resolveClassWeights(encoder, labels, allIdx, options.classWeights ?? {}, targets);
  const lossWeights = options.lossWeights ?? {};
  for (const name of Object.keys(lossWeights)) {
    if (!dataset.heads.includes(name)) {
      throw new PolyheadError('TRAIN_UNKNOWN_HEAD', `loss weight given for head "${name}", but the heads are ${dataset.heads.join(', ')}`, { kind: 'usage' });
    }
  }
  let spec: NetworkSpec;
  try {
    spec = networkSpec({
      inputSize,
      backbone: options.backbone,
      sharedDepth: options.sharedDepth,
      chain: options.chain,
      heads: encoder.heads.map((h, i) => ({ name: h.name, labels: h.labels, kind: encoder.kind(i), weight: lossWeights[h.name] ?? 1 })),
    });
  } catch (cause) {
    if (!(cause instanceof RangeError)) throw cause;
    throw new PolyheadError('TRAIN_BAD_NETWORK', cause.message, { kind: 'usage', cause });
  }
  const invariance = resolveInvariance(options, encoder.heads.map((h) => h.name), preprocessing, seed);
  const net = buildNetwork(spec, { seed });
  const flip = options.flip ?? true;

  try {
    const result = await train(
      net,
      {
        trainSize: trainIdx.length,
        train: (epoch, fromBatch = 0) =>
          augmented(
            batches(
              dataset.samples,
              labels,
              balanceHead === undefined ? trainIdx : balancedIndices(labels[balanceHead]!, trainIdx, { seed: seed + 2, epoch }),
              { batchSize, shuffle: !options.noShuffle, seed, epoch, pre: preprocessing, cache, targets, startBatch: fromBatch },
            ),
            flip ? seed * 7919 + epoch : null,
            fromBatch,
          ),
        val:
          valIdx.length > 0
            ? () => batches(valSamples, valLabels, valIdx, { batchSize: 64, shuffle: false, seed, pre: preprocessing, cache, targets: valTargets })
            : undefined,
      },
      {
        epochs,
        batchSize,
        learningRate: options.learningRate ?? 2e-3,
        weightDecay: options.weightDecay,
        classWeights: encoder.heads.map((h) => Float32Array.from(h.labels.map((l) => classWeights[h.name]![l]!))),
        selectMetric: options.selectMetric,
        restoreBest: options.restoreBest,
        lossBalance: options.lossBalance,
        invariance,
        patience: options.patience,
        callbacks: {
          ...options.callbacks,
          onEpochEnd: async (log) => {
            log.memory.cacheMb = cache.bytes / 2 ** 20;
            await options.callbacks?.onEpochEnd?.(log);
          },
        },
        signal: options.signal,
        checkpoint: options.checkpoint,
        resume: options.resume,
      },
    );
    let unseen: MultiHeadMetrics | undefined;
    if (unseenIdx.length > 0) {
      const evaluation = await evaluate(
        net,
        batches(dataset.samples, labels, unseenIdx, { batchSize: 64, shuffle: false, seed, pre: preprocessing, cache, targets }),
      );
      unseen = evaluation.metrics;
    }
    const trainCombos = trainingCombos(dataset, encoder, trainIdx);
    const meta: ModelMeta = {
      format: 'polyhead-model/1',
      network: spec,
      preprocessing,
      training: {
        dataset: dataset.origin,
        samples: { train: trainIdx.length, val: valIdx.length, skipped: dataset.skipped.length },
        epochs,
        epochsRun: result.history.length,
        bestEpoch: result.bestEpoch,
        batchSize,
        learningRate: options.learningRate ?? 2e-3,
        lossBalance: options.lossBalance ?? 'fixed',
        seed,
        flip,
        holdout: holdout.combos.map(formatCombo),
        badImages: badImages.map((b) => ({ file: b.file, line: b.line, code: b.code })),
        duplicates: { groups: groups.length, images: groups.reduce((a, g) => a + g.length, 0) },
        trainCombos,
        invariant: options.invariant ?? [],
        invariantView: invariance ? (options.invariantView ?? 'recolor') : undefined,
        invariantFraction: invariance ? (invariance.fraction ?? 0.5) : undefined,
        classWeights,
        headKinds: Object.fromEntries(encoder.heads.map((h, i) => [h.name, encoder.kind(i)])),
        ...(balanceHead !== undefined ? { balanceHead: encoder.heads[balanceHead]!.name } : {}),
        backend: tf.getBackend(),
      },
      metrics: { ...(result.val ? { val: result.val } : {}), ...(unseen ? { unseen } : {}) },
      createdAt: new Date().toISOString(),
      versions: { tfjs: tf.version.tfjs, polyhead: '0.1.0' },
    };
    return {
      net,
      meta,
      result,
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

function resolveInvariance(
  options: TrainOnDatasetOptions,
  heads: string[],
  preprocessing: Preprocessing,
  seed: number,
): Invariance | undefined {
  const entries = options.invariant ?? [];
  if (entries.length === 0) return undefined;
  const index = (name: string, role: string) => {
    const i = heads.indexOf(name);
    if (i < 0) {
      throw new PolyheadError('TRAIN_UNKNOWN_HEAD', `invariance names ${role} "${name}", but the heads are ${heads.join(', ')}`, { kind: 'usage' });
    }
    return i;
  };
  const attributes = [...new Set(entries.map((e) => e.attribute))];
  if (attributes.length > 1) {
    throw new PolyheadError('TRAIN_BAD_INVARIANCE', `invariances must all name one attribute, got ${attributes.join(' and ')}`, { kind: 'usage' });
  }
  const changed = index(attributes[0]!, 'attribute');
  const invariantHeads = entries.map((e) => index(e.head, 'head'));
  if (invariantHeads.includes(changed)) {
    throw new PolyheadError('TRAIN_BAD_INVARIANCE', `head "${heads[changed]}" cannot be invariant to itself`, { kind: 'usage' });
  }
  return {
    transform: colourView(options.invariantView ?? 'recolor', preprocessing.scaling),
    invariantHeads,
    changedHeads: [changed],
    fraction: options.invariantFraction,
    seed: seed + 1,
  };
}

/** Index of the head to balance batches on, checked: it must exist and be a softmax head. */
function resolveBalanceHead(encoder: LabelEncoder, name: string | undefined): number | undefined {
  if (name === undefined) return undefined;
  const names = encoder.heads.map((h) => h.name);
  const h = names.indexOf(name);
  if (h < 0) {
    throw new PolyheadError('TRAIN_UNKNOWN_HEAD', `balanced sampling names head "${name}", but the heads are ${names.join(', ')}`, { kind: 'usage', details: { head: name } });
  }
  if (encoder.kind(h) !== 'softmax') {
    throw new PolyheadError('TRAIN_BAD_BALANCE', `balanced sampling needs a softmax head; "${name}" is multi-label (use class weights for it)`, { kind: 'usage', details: { head: name } });
  }
  return h;
}

/**
 * Checks class-weight settings against the vocabularies and resolves them to a
 * weight per label. An unknown head or label fails before anything trains.
 * For a multi-label head a weight scales its label's binary cross-entropy
 * term, and `balanced` weighs labels by n / (k · n_c) over their positive rows
 * (`targets`, as {@link LabelEncoder.encodeTargets} gives, is needed then).
 */
export function resolveClassWeights(
  encoder: LabelEncoder,
  labels: Int32Array[],
  trainIdx: number[],
  settings: Record<string, ClassWeightSetting>,
  targets: (Float32Array | undefined)[] = [],
): Record<string, Record<string, number>> {
  const heads = encoder.heads;
  for (const name of Object.keys(settings)) {
    if (!heads.some((h) => h.name === name)) {
      throw new PolyheadError(
        'TRAIN_UNKNOWN_HEAD',
        `class weights given for head "${name}", but the heads are ${heads.map((h) => h.name).join(', ')}`,
        { kind: 'usage', details: { head: name } },
      );
    }
  }
  const out: Record<string, Record<string, number>> = {};
  heads.forEach((head, h) => {
    const setting = settings[head.name];
    const weights: Record<string, number> = Object.fromEntries(head.labels.map((l) => [l, 1]));
    const rows = targets[h];
    if (setting === 'balanced' && encoder.kind(h) === 'multilabel') {
      if (!rows) throw new TypeError(`head "${head.name}" is multi-label: balanced weights need its targets`);
      const k = head.labels.length;
      const subset = new Float32Array(trainIdx.length * k);
      trainIdx.forEach((i, j) => subset.set(rows.subarray(i * k, (i + 1) * k), j * k));
      const balanced = balancedLabelWeights(subset, Int32Array.from(trainIdx, (i) => labels[h]![i]!), k);
      head.labels.forEach((l, c) => (weights[l] = balanced[c]!));
    } else if (setting === 'balanced') {
      const subset = Int32Array.from(trainIdx, (i) => labels[h]![i]!);
      const balanced = balancedClassWeights(subset, head.labels.length);
      head.labels.forEach((l, c) => (weights[l] = balanced[c]!));
    } else if (setting) {
      for (const [label, w] of Object.entries(setting)) {
        if (!head.labels.includes(label)) {
          throw new PolyheadError(
            'TRAIN_UNKNOWN_LABEL',
            `class weights for head "${head.name}" name unknown label "${label}"; known labels: ${head.labels.join(', ')}`,
            { kind: 'usage', details: { head: head.name, label, known: head.labels } },
          );
        }
        if (!(typeof w === 'number' && Number.isFinite(w) && w >= 0)) {
          throw new PolyheadError('TRAIN_BAD_WEIGHT', `class weight of "${label}" in head "${head.name}" must be a non-negative number, got ${String(w)}`, { kind: 'usage' });
        }
        weights[label] = w;
      }
    }
    out[head.name] = weights;
  });
  return out;
}

/**
 * Mirrors a seeded random half of each batch left-right (labels unchanged). Batch `i` of an
 * epoch draws from `seed` and `i` alone; `fromBatch` is the index of the first batch given.
 */
async function* augmented(source: AsyncIterable<import('@polyhead/data').Batch>, seed: number | null, fromBatch = 0) {
  let step = fromBatch;
  for await (const b of source) {
    if (seed === null) {
      yield b;
      continue;
    }
    const [n, h, w, c] = b.shape;
    const x = b.x;
    let state = (seed + step++ * 104729) >>> 0;
    const row = w * c;
    for (let i = 0; i < n; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      if (state < 2 ** 31) continue;
      const base = i * h * row;
      for (let y = 0; y < h; y++) {
        const r = base + y * row;
        for (let left = 0, right = w - 1; left < right; left++, right--) {
          for (let k = 0; k < c; k++) {
            const a = r + left * c + k;
            const bb = r + right * c + k;
            const t = x[a]!;
            x[a] = x[bb]!;
            x[bb] = t;
          }
        }
      }
    }
    yield b;
  }
}
