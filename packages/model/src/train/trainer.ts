import type { Batch } from '@polyhead/data';
import { createRng, deriveSeed, PolyheadError } from '@polyhead/data';

import { countKnown, maskedBinaryCrossEntropy, maskedCrossEntropy } from '../loss.js';
import { argmaxRows, computeMetrics, type MultiHeadMetrics } from '../metrics.js';
import { tuneThresholds } from '../multilabel-metrics.js';
import type { Network } from '../network.js';
import { tf } from '../tf.js';
import type { ViewTransform } from '../views/colour-views.js';
import { Adam } from './adam.js';
import { reseedDropout } from './dropout-seeds.js';
import { createLossBalancer, type LossBalance, type LossBalancer } from './loss-balance.js';
import { captureTrainState, restoreTrainState, type HeadSums, type TrainCheckpoint } from './train-state.js';

/**
 * Declared invariance: some heads must not depend on an attribute that other
 * heads describe ("type does not depend on colour").
 *
 * In every batch a random share `fraction` of the samples is replaced by a
 * view with that attribute changed. Invariant heads learn from those views
 * only, and the heads that describe the attribute from the untouched samples
 * only (the transform changes their label). One forward pass serves both, so
 * the cost of a step does not grow.
 */
export interface Invariance {
  /** Makes the changed view of a batch. */
  transform: ViewTransform;
  /** Heads that must ignore the attribute (indices). */
  invariantHeads: number[];
  /** Heads whose label the transform changes (indices). */
  changedHeads: number[];
  /** Share of each batch shown as a changed view. Default 0.5. */
  fraction?: number;
  /** Seeds which samples are changed and how. Default 0. */
  seed?: number;
}

/** Where the trainer gets its batches from. */
export interface TrainFeed {
  /**
   * Batches of one training epoch (order and shuffling are the feed's), starting at batch
   * `fromBatch` (0-based) when a run resumes mid-epoch; the batches yielded must be those the
   * whole epoch would have yielded from that position on.
   */
  train(epoch: number, fromBatch?: number): AsyncIterable<Batch>;
  /** Samples per training epoch, for progress and the learning-rate schedule. */
  trainSize: number;
  /** Validation batches, read once per epoch; omit to train without validation. */
  val?: () => AsyncIterable<Batch>;
}

/** Metric that picks the best epoch. */
export type SelectMetric = 'meanMacroF1' | 'exactMatch' | 'meanAccuracy' | 'valLoss';

/** Settings of {@link train}. */
export interface TrainOptions {
  /** Passes over the training data. */
  epochs: number;
  /** Samples per batch, for the schedule (the feed makes the batches). */
  batchSize: number;
  /** Peak learning rate of Adam. Default 1e-3. */
  learningRate?: number;
  /** `cosine` decays to 0 over the run after a one-epoch warm-up; `constant` keeps it. Default `cosine`. */
  schedule?: 'cosine' | 'constant';
  /** Decoupled weight decay. Default 0. */
  weightDecay?: number;
  /** Per head, the weight of its loss term; default each head spec's `weight`. */
  lossWeights?: number[];
  /** How head losses are weighed against each other over the run. Default `fixed`. */
  lossBalance?: LossBalance;
  /** Per head, a weight per class (multi-label heads: per label), or undefined for none. */
  classWeights?: (Float32Array | undefined)[];
  /**
   * Tune the decision thresholds of multi-label heads on the validation data
   * every epoch (best F1 per label) and keep those of the epoch whose weights
   * the network ends with. Default true.
   */
  tuneThresholds?: boolean;
  /** Picks the best epoch on validation data. Default `meanMacroF1`. */
  selectMetric?: SelectMetric;
  /** Restore the best epoch's weights at the end. Default true (when validating). */
  restoreBest?: boolean;
  /** Stop after this many epochs without improvement. Default: never. */
  patience?: number;
  /** Heads trained on views with an attribute changed; see {@link Invariance}. */
  invariance?: Invariance;
  callbacks?: TrainCallbacks;
  /**
   * Aborting ends training after the current batch. With `checkpoint`, a checkpoint of that
   * position is written and `TRAIN_INTERRUPTED` thrown; without, validation runs and training
   * stops early.
   */
  signal?: AbortSignal;
  /** Checkpoints written during the run, so that it can continue with `resume`. */
  checkpoint?: CheckpointOptions;
  /** Continue from this checkpoint (of the same network spec, data and options). */
  resume?: TrainCheckpoint;
}

/** When and where {@link train} hands out checkpoints. */
export interface CheckpointOptions {
  /** Stores a checkpoint (atomically: see `saveTrainCheckpoint`). */
  save(checkpoint: TrainCheckpoint): Promise<void>;
  /** Also checkpoint mid-epoch once this many minutes passed since the last one. Default: only at epoch ends. */
  everyMinutes?: number;
}

/** Loss and sample count of one head in one batch. */
export interface HeadBatchLog {
  loss: number;
  /**
   * Share of the labelled samples the head got right (in training mode); a
   * multi-label head is right when every label's score is on the right side of 0.5.
   */
  accuracy: number;
  /** Samples in the batch that carry this head's label. */
  count: number;
}

/** Reported after every training batch. */
export interface BatchLog {
  epoch: number;
  batch: number;
  /** Batches per epoch (estimated from the feed's size). */
  batches: number;
  samples: number;
  loss: number;
  heads: Record<string, HeadBatchLog>;
  learningRate: number;
  imagesPerSec: number;
}

/** Loss and accuracy of one head over an epoch. */
export interface HeadEpochLog {
  loss: number;
  accuracy: number;
  /** Weight of the head's loss term in the total. */
  weight: number;
  count: number;
}

/** Validation figures of one head in an epoch. */
export interface HeadValLog extends HeadEpochLog {
  macroF1: number;
  /** Multi-label heads: pooled F1 over (sample, label) decisions. */
  microF1?: number;
  /** Multi-label heads: mean average precision over labels. */
  mAP?: number;
}

/** Validation figures of an epoch. */
export interface ValLog {
  loss: number;
  heads: Record<string, HeadValLog>;
  exactMatch: number;
  /** Mean share right over (sample, head) pairs; see {@link MultiHeadMetrics}. */
  hammingAccuracy: number;
}

/** Reported after every epoch. */
export interface EpochLog {
  epoch: number;
  loss: number;
  heads: Record<string, HeadEpochLog>;
  val?: ValLog;
  seconds: number;
  imagesPerSec: number;
  learningRate: number;
  /** Whether this epoch is the best so far. */
  best: boolean;
  /** Live tensors and process RSS at the epoch's end; `cacheMb`, the decoded-image cache, when the feed has one. */
  memory: { numTensors: number; rssMb: number; cacheMb?: number };
}

/** Progress hooks; the trainer itself never prints. */
export interface TrainCallbacks {
  onEpochBegin?(epoch: number): void | Promise<void>;
  onBatchEnd?(log: BatchLog): void | Promise<void>;
  onEpochEnd?(log: EpochLog): void | Promise<void>;
}

/** Outcome of {@link train}. */
export interface TrainResult {
  history: EpochLog[];
  /** Epoch whose weights the network holds at the end (1-based). */
  bestEpoch: number;
  /** Validation metrics of that epoch. */
  val?: MultiHeadMetrics;
  /**
   * Per head, the decision thresholds tuned for that epoch (multi-label heads
   * with validation data); also written to `net.spec.heads[h].thresholds`.
   */
  thresholds: (number[] | undefined)[];
  stoppedEarly: boolean;
  /**
   * The last epoch's weight values, in `net.model.weights` order, when the network ends with
   * the best epoch's instead (to save the last model beside the best).
   */
  lastWeights?: WeightValue[];
}

/**
 * Trains a network with masked, weighted multi-head cross-entropy and Adam:
 * softmax cross-entropy for softmax heads, binary cross-entropy per label for
 * multi-label heads (whose batches carry `targets`).
 *
 * Each head's loss averages over the samples that carry its label; a head
 * with no labels in a batch (multi-label: every cell empty) adds exactly zero
 * and its own variables are left as they are (value and optimizer state). The
 * total loss is the weighted sum of the heads' terms. Multi-label thresholds
 * are tuned on the validation data and written into `net.spec`.
 *
 * @example
 * const result = await train(net, feed, { epochs: 10, batchSize: 32 });
 * console.log(result.val?.exactMatch);
 */
export async function train(net: Network, feed: TrainFeed, options: TrainOptions): Promise<TrainResult> {
  const heads = net.spec.heads;
  const balancer = createLossBalancer({ kind: options.lossBalance ?? 'fixed', weights: options.lossWeights ?? heads.map((h) => h.weight) });
  const peakLr = options.learningRate ?? 1e-3;
  const optimizer = new Adam({ learningRate: peakLr, weightDecay: options.weightDecay ?? 0 });
  const classWeights = (options.classWeights ?? []).map((w) => (w ? tf.keep(tf.tensor1d(w)) : undefined));
  const select = options.selectMetric ?? 'meanMacroF1';
  const batchesPerEpoch = Math.max(1, Math.ceil(feed.trainSize / options.batchSize));
  const totalSteps = batchesPerEpoch * options.epochs;
  const schedule = options.schedule ?? 'cosine';
  const learningRateAt = (step: number): number => {
    if (schedule === 'constant') return peakLr;
    const warm = Math.min(batchesPerEpoch, Math.floor(totalSteps / 4));
    if (step < warm) return (peakLr * (step + 1)) / warm;
    const progress = (step - warm) / Math.max(1, totalSteps - warm);
    return 0.5 * peakLr * (1 + Math.cos(Math.PI * Math.min(1, progress)));
  };

  const trainable = net.logitsModel.trainableWeights.map((w) => w.read() as tf.Variable);
  let history: EpochLog[] = [];
  let best: { score: number; epoch: number; weights: tf.Tensor[]; val?: MultiHeadMetrics; thresholds: (number[] | undefined)[] } | null = null;
  let step = 0;
  let stoppedEarly = false;
  let finished = false;
  let lastVal: MultiHeadMetrics | undefined;
  let lastThresholds: (number[] | undefined)[] = heads.map((h) => h.thresholds);
  let start = { epoch: 1, batch: 0, partial: undefined as TrainCheckpoint['partial'] | undefined };
  const resume = options.resume;

  const checkpointAt = async (epoch: number, batch: number, epochDone: boolean, partial: TrainCheckpoint['partial']) => {
    const cp = await captureTrainState(
      { net, optimizer, balancer, trainable, bestWeights: best && best.weights.length > 0 ? best.weights : undefined },
      {
        epoch,
        batch,
        epochDone,
        step,
        finished,
        stoppedEarly,
        partial: { ...partial, sums: partial.sums.map((x) => ({ ...x })) },
        history: history.slice(),
        best: best && { score: best.score, epoch: best.epoch, val: best.val, thresholds: best.thresholds, hasWeights: best.weights.length > 0 },
        lastVal,
        lastThresholds,
      },
    );
    await options.checkpoint!.save(cp);
  };

  try {
    if (resume) {
      const bestWeights = restoreTrainState({ net, optimizer, balancer, trainable }, resume);
      history = structuredClone(resume.history);
      step = resume.step;
      finished = resume.finished;
      stoppedEarly = resume.stoppedEarly;
      lastVal = resume.lastVal;
      lastThresholds = resume.lastThresholds;
      if (resume.best) best = { ...resume.best, weights: bestWeights ?? [] };
      start = resume.epochDone ? { epoch: resume.epoch + 1, batch: 0, partial: undefined } : { epoch: resume.epoch, batch: resume.batch, partial: resume.partial };
    }
    let lastCheckpoint = performance.now();
    const everyMs = (options.checkpoint?.everyMinutes ?? Infinity) * 60_000;
    for (let epoch = start.epoch; epoch <= options.epochs && !finished; epoch++) {
      const fromBatch = epoch === start.epoch ? start.batch : 0;
      const partial = epoch === start.epoch ? start.partial : undefined;
      if (fromBatch === 0) await options.callbacks?.onEpochBegin?.(epoch);
      const started = performance.now() - (partial?.seconds ?? 0) * 1000;
      const sums: HeadSums[] = partial ? partial.sums.map((s) => ({ ...s })) : heads.map(() => ({ loss: 0, right: 0, count: 0 }));
      let samples = partial?.samples ?? 0;
      let batch = fromBatch;
      const progress = () => ({ sums, samples, seconds: (performance.now() - started) / 1000 });
      for await (const b of feed.train(epoch, fromBatch)) {
        if (options.signal?.aborted) break;
        const batchStart = performance.now();
        optimizer.learningRate = learningRateAt(step);
        const values = await trainStep(net, optimizer, balancer, trainable, b, classWeights, options.invariance, step);
        batch++;
        step++;
        samples += b.shape[0];
        if (!Number.isFinite(values.total)) {
          const bad = heads.filter((_, h) => !Number.isFinite(values.heads[h]!.loss)).map((h) => h.name);
          throw new PolyheadError(
            'TRAIN_NONFINITE_LOSS',
            `loss became ${values.total} at epoch ${epoch}, batch ${batch} (head ${bad.join(', ') || 'total'}); lower --lr or check the inputs`,
            { kind: 'runtime', details: { epoch, batch, heads: bad } },
          );
        }
        if (values.nonFinite.length > 0) {
          const parts = values.nonFinite;
          const where = parts.includes('backbone') ? `the backbone shared by every head${parts.length > 1 ? ` and head ${parts.filter((p) => p !== 'backbone').join(', ')}` : ''}` : `head ${parts.join(', ')}`;
          throw new PolyheadError(
            'TRAIN_NONFINITE_LOSS',
            `gradients became NaN or infinite at epoch ${epoch}, batch ${batch} (${where}; loss ${values.total}); the step was not applied; lower --lr or check the inputs`,
            { kind: 'runtime', details: { epoch, batch, heads: parts.includes('backbone') ? heads.map((h) => h.name) : parts, parts } },
          );
        }
        heads.forEach((_, h) => {
          const v = values.heads[h]!;
          sums[h]!.loss += v.loss * v.count;
          sums[h]!.right += v.right;
          sums[h]!.count += v.count;
        });
        await options.callbacks?.onBatchEnd?.({
          epoch,
          batch,
          batches: batchesPerEpoch,
          samples: b.shape[0],
          loss: values.total,
          heads: Object.fromEntries(
            heads.map((head, h) => {
              const v = values.heads[h]!;
              return [head.name, { loss: v.loss, accuracy: v.count > 0 ? v.right / v.count : 0, count: v.count }];
            }),
          ),
          learningRate: optimizer.learningRate,
          imagesPerSec: b.shape[0] / ((performance.now() - batchStart) / 1000),
        });
        if (options.checkpoint && performance.now() - lastCheckpoint >= everyMs) {
          await checkpointAt(epoch, batch, false, progress());
          lastCheckpoint = performance.now();
        }
      }
      if (options.signal?.aborted && options.checkpoint && batch < batchesPerEpoch) {
        await checkpointAt(epoch, batch, false, progress());
        throw interrupted(epoch, batch);
      }
      const trainSeconds = (performance.now() - started) / 1000;

      const headLosses = sums.map((s) => (s.count > 0 ? s.loss / s.count : 0));
      balancer.endEpoch(headLosses);
      const weights = balancer.effectiveWeights();
      const headLogs: Record<string, HeadEpochLog> = {};
      let total = 0;
      heads.forEach((head, h) => {
        const s = sums[h]!;
        const loss = headLosses[h]!;
        total += weights[h]! * loss;
        headLogs[head.name] = { loss, accuracy: s.count > 0 ? s.right / s.count : 0, weight: weights[h]!, count: s.count };
      });

      let valLog: ValLog | undefined;
      let valMetrics: MultiHeadMetrics | undefined;
      if (feed.val) {
        const evaluation = await evaluate(net, feed.val(), { tuneThresholds: options.tuneThresholds ?? true });
        valMetrics = evaluation.metrics;
        lastThresholds = evaluation.thresholds;
        valLog = {
          loss: heads.reduce((a, head, h) => a + weights[h]! * evaluation.losses[head.name]!, 0),
          exactMatch: valMetrics.exactMatch,
          hammingAccuracy: valMetrics.hammingAccuracy,
          heads: Object.fromEntries(
            heads.map((head, h) => {
              const m = valMetrics!.heads[head.name]!;
              const extra = m.kind === 'multilabel' ? { microF1: m.microF1!, mAP: m.mAP! } : {};
              const log: HeadValLog = { loss: evaluation.losses[head.name]!, accuracy: m.accuracy, macroF1: m.macroF1, ...extra, weight: weights[h]!, count: m.count };
              return [head.name, log];
            }),
          ),
        };
      }

      lastVal = valMetrics;
      const score = valLog ? selectionScore(select, valLog) : -total;
      const isBest = best === null || score > best.score;
      if (isBest) {
        if (best) tf.dispose(best.weights);
        best = {
          score,
          epoch,
          weights: feed.val ? net.model.getWeights().map((w) => tf.keep(w.clone())) : [],
          val: valMetrics,
          thresholds: lastThresholds,
        };
      }
      const log: EpochLog = {
        epoch,
        loss: total,
        heads: headLogs,
        val: valLog,
        seconds: (performance.now() - started) / 1000,
        imagesPerSec: samples / trainSeconds,
        learningRate: optimizer.learningRate,
        best: isBest,
        memory: { numTensors: tf.memory().numTensors, rssMb: process.memoryUsage().rss / 2 ** 20 },
      };
      history.push(log);
      await options.callbacks?.onEpochEnd?.(log);
      const aborted = options.signal?.aborted ?? false;
      if (options.patience !== undefined && best && epoch - best.epoch >= options.patience) stoppedEarly = true;
      if (aborted && !options.checkpoint) stoppedEarly = true;
      finished = stoppedEarly || epoch === options.epochs;
      if (options.checkpoint) {
        await checkpointAt(epoch, batch, true, { sums: [], samples: 0, seconds: 0 });
        lastCheckpoint = performance.now();
        if (aborted && !finished) throw interrupted(epoch, batch);
      }
    }

    let bestEpoch = history.length;
    let val = lastVal;
    let thresholds = lastThresholds;
    let lastWeights: WeightValue[] | undefined;
    if (best && feed.val && (options.restoreBest ?? true) && best.epoch !== history.length) {
      lastWeights = weightValues(net);
      net.model.setWeights(best.weights);
      bestEpoch = best.epoch;
      val = best.val;
      thresholds = best.thresholds;
    }
    heads.forEach((head, h) => {
      if (thresholds[h]) head.thresholds = [...thresholds[h]!];
    });
    return { history, bestEpoch, val, thresholds, stoppedEarly, lastWeights };
  } finally {
    if (best) tf.dispose(best.weights);
    tf.dispose(classWeights.filter((w): w is tf.Tensor1D => w !== undefined));
    optimizer.dispose();
    balancer.dispose();
  }
}

function interrupted(epoch: number, batch: number): PolyheadError {
  return new PolyheadError('TRAIN_INTERRUPTED', `training interrupted at epoch ${epoch}, batch ${batch}; a checkpoint of that point was written`, {
    kind: 'runtime',
    details: { epoch, batch },
  });
}

/** One weight's values, copied off the backend. */
export interface WeightValue {
  data: Float32Array;
  shape: number[];
}

/** The values of `net`'s weights, in `net.model.weights` order. */
export function weightValues(net: Network): WeightValue[] {
  return net.model.getWeights().map((w) => ({ data: Float32Array.from(w.dataSync()), shape: w.shape.slice() }));
}

/** The validation figures {@link selectionScore} reads. */
export interface ScoredValidation {
  exactMatch: number;
  heads: Record<string, { accuracy: number; macroF1: number }>;
  /** Absent from metrics computed outside training; macro-F1 then stands in for `valLoss`. */
  loss?: number;
}

/** The figure `metric` ranks validation results by: higher is better. */
export function selectionScore(metric: SelectMetric, val: ScoredValidation): number {
  const heads = Object.values(val.heads);
  const mean = (f: (h: { accuracy: number; macroF1: number }) => number) =>
    heads.reduce((a, h) => a + f(h), 0) / heads.length;
  switch (metric) {
    case 'exactMatch':
      return val.exactMatch;
    case 'meanAccuracy':
      return mean((h) => h.accuracy);
    case 'meanMacroF1':
      return mean((h) => h.macroF1);
    case 'valLoss':
      return val.loss === undefined ? mean((h) => h.macroF1) : -val.loss;
  }
}

interface StepValues {
  total: number;
  heads: { loss: number; right: number; count: number }[];
  /** Parts of the network whose gradient was not finite (the step was not applied). */
  nonFinite: string[];
}

/** One optimizer step on one batch; returns the losses read back. */
async function trainStep(
  net: Network,
  optimizer: Adam,
  balancer: LossBalancer,
  trainable: tf.Variable[],
  batch: Batch,
  classWeights: (tf.Tensor1D | undefined)[],
  invariance: Invariance | undefined,
  step: number,
): Promise<StepValues> {
  const view = invariance ? drawViews(invariance, batch, step) : null;
  const labels = view ? view.labels : batch.labels;
  const targets = batchTargets(net, batch);
  const counts = labels.map(countKnown);
  // A head without labels in this batch must not move: leave its own
  // variables out of the update altogether.
  const frozen = new Set<tf.Variable>();
  counts.forEach((count, h) => {
    if (count > 0) return;
    for (const v of net.headVariables[h]!) frozen.add(v);
    if (balancer.variables[h]) frozen.add(balancer.variables[h]!);
  });
  const all = [...trainable, ...balancer.variables];
  const vars = frozen.size > 0 ? all.filter((v) => !frozen.has(v)) : all;
  reseedDropout(net.model, step);

  let perHead: tf.Scalar[] = [];
  let right: tf.Scalar[] = [];
  let nonFinite: string[] = [];
  const summary = tf.tidy(() => {
    let x = tf.tensor4d(batch.x, batch.shape);
    if (view) {
      const changed = tf.tensor4d(view.mask, [batch.shape[0], 1, 1, 1]);
      x = tf.add(x, tf.mul(tf.sub(invariance!.transform(x, view.random), x), changed));
    }
    const ys = labels.map((l) => tf.tensor1d(l, 'int32'));
    const multiHot = targets.map((t, h) => t && tf.tensor2d(t, [batch.shape[0], net.spec.heads[h]!.labels.length]));
    const { value, grads } = tf.variableGrads(() => {
      const raw = net.logitsModel.apply(x, { training: true }) as tf.Tensor | tf.Tensor[];
      const outs = (Array.isArray(raw) ? raw : [raw]) as tf.Tensor2D[];
      perHead = outs.map((o, h) => {
        const t = multiHot[h];
        const loss = t
          ? maskedBinaryCrossEntropy(o, t, ys[h]!, counts[h]!, classWeights[h])
          : maskedCrossEntropy(o, ys[h]!, counts[h]!, classWeights[h]);
        return tf.keep(loss);
      });
      right = outs.map((o, h) => tf.keep(countRight(o, ys[h]!, multiHot[h])));
      return balancer.total(perHead);
    }, vars);
    const own = new Set(balancer.variables);
    const update = (keep: (v: tf.Variable) => boolean) =>
      new Map(vars.filter((v) => grads[v.name] && keep(v)).map((v) => [v, grads[v.name]!]));
    // NOTE: a non-finite input or weight can leave the loss finite (ReLU and max pooling turn
    // NaN into 0 on wasm), so the gradients are checked as well, before any update.
    nonFinite = nonFiniteParts(net, vars.filter((v) => grads[v.name]).map((v) => [v, grads[v.name]!]));
    if (nonFinite.length === 0) {
      optimizer.apply(update((v) => !own.has(v)));
      balancer.apply(update((v) => own.has(v)));
    }
    return tf.stack([value, ...perHead, ...right]);
  });
  tf.dispose([...perHead, ...right]);
  const values = (await summary.data()) as Float32Array;
  summary.dispose();
  const k = labels.length;
  return {
    total: values[0]!,
    heads: counts.map((count, h) => ({ loss: values[1 + h]!, right: values[1 + k + h]!, count })),
    nonFinite,
  };
}

/**
 * Names the parts of the network (head names, or `backbone`) with a NaN or infinite gradient;
 * empty when all are finite. One read-back for all variables: x − x is 0 for finite x, else NaN.
 */
function nonFiniteParts(net: Network, grads: [tf.Variable, tf.Tensor][]): string[] {
  if (grads.length === 0) return [];
  const checks = tf.stack(grads.map(([, g]) => tf.sum(tf.sub(g, g)))).dataSync();
  const owner = new Map<tf.Variable, string>();
  net.headVariables.forEach((vars, h) => vars.forEach((v) => owner.set(v, net.spec.heads[h]!.name)));
  const parts = new Set<string>();
  grads.forEach(([v], i) => {
    if (!Number.isFinite(checks[i]!)) parts.add(owner.get(v) ?? 'backbone');
  });
  return [...parts];
}

/** Samples a head got right: argmax for softmax heads; every label's side of 0 for multi-label ones. */
function countRight(logits: tf.Tensor2D, labels: tf.Tensor1D, multiHot: tf.Tensor2D | undefined): tf.Scalar {
  if (!multiHot) return tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32'));
  const wrong = tf.sum(tf.abs(tf.sub(tf.cast(tf.greaterEqual(logits, 0), 'float32'), multiHot)), 1);
  const known = tf.cast(tf.greaterEqual(labels, 0), 'float32');
  return tf.sum(tf.mul(tf.cast(tf.equal(wrong, 0), 'float32'), known));
}

/** The batch's multi-hot rows per head, checked against the network's multi-label heads. */
function batchTargets(net: Network, batch: Batch): (Float32Array | undefined)[] {
  return net.spec.heads.map((head, h) => {
    if (head.kind !== 'multilabel') return undefined;
    const rows = batch.targets?.[h];
    const expected = batch.shape[0] * head.labels.length;
    if (!rows || rows.length !== expected) {
      throw new PolyheadError(
        'TRAIN_MISSING_TARGETS',
        `head "${head.name}" is multi-label but the batch has ${rows ? `${rows.length} target values` : 'no targets'} for it; expected ${expected} (${batch.shape[0]} × ${head.labels.length}), as LabelEncoder.encodeTargets and batches({ targets }) give`,
        { kind: 'usage', details: { head: head.name } },
      );
    }
    return rows;
  });
}

/**
 * Picks the samples of a batch to show as changed views, and hides the labels
 * each head must not learn from: invariant heads keep only changed samples,
 * heads describing the attribute only untouched ones.
 */
function drawViews(invariance: Invariance, batch: Batch, step: number) {
  const random = createRng(deriveSeed(invariance.seed ?? 0, step));
  const n = batch.shape[0];
  const fraction = invariance.fraction ?? 0.5;
  const mask = new Float32Array(n);
  for (let i = 0; i < n; i++) mask[i] = random() < fraction ? 1 : 0;
  const labels = batch.labels.map((l, h) => {
    const invariant = invariance.invariantHeads.includes(h);
    const changed = invariance.changedHeads.includes(h);
    if (!invariant && !changed) return l;
    return Int32Array.from(l, (label, i) => ((invariant ? mask[i] === 1 : mask[i] === 0) ? label : -1));
  });
  return { mask, labels, random };
}

/** Predictions and metrics of a network over a stream of labelled batches. */
export interface Evaluation {
  metrics: MultiHeadMetrics;
  /** Mean cross-entropy per head over its labelled samples (binary for multi-label heads). */
  losses: Record<string, number>;
  /** Per head, row-major [n, k] probabilities (sigmoid scores for multi-label heads), in batch order. */
  probs: Float32Array[];
  /** Per head, true labels in batch order (-1 unknown; >= 0 known for multi-label heads). */
  labels: Int32Array[];
  /** Per head, row-major [n, k] multi-hot truth of multi-label heads; undefined for softmax heads. */
  targets: (Float32Array | undefined)[];
  /** Per head, the decision thresholds the metrics used (multi-label heads). */
  thresholds: (number[] | undefined)[];
  /** Sample indices in batch order. */
  indices: number[];
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /**
   * Tune multi-label thresholds on these batches (best F1 per label) and score
   * with them, instead of the thresholds in the network's spec. Default false.
   */
  tuneThresholds?: boolean;
}

/**
 * Runs the network in inference mode over `batches` and scores it.
 *
 * @example
 * const { metrics } = await evaluate(net, batches(samples, labels, idx, { batchSize: 64, shuffle: false, seed: 0, pre, targets }));
 * metrics.heads.tags.mAP;
 */
export async function evaluate(
  net: Network,
  batches: AsyncIterable<Batch>,
  options: EvaluateOptions = {},
): Promise<Evaluation> {
  const heads = net.spec.heads;
  const probParts: Float32Array[][] = heads.map(() => []);
  const labelParts: Int32Array[][] = heads.map(() => []);
  const targetParts: Float32Array[][] = heads.map(() => []);
  const lossSums = heads.map(() => 0);
  const counts = heads.map(() => 0);
  const indices: number[] = [];
  for await (const b of batches) {
    const batchCounts = b.labels.map(countKnown);
    const targets = batchTargets(net, b);
    const outs = tf.tidy(() => {
      const x = tf.tensor4d(b.x, b.shape);
      const raw = net.logitsModel.apply(x, { training: false }) as tf.Tensor | tf.Tensor[];
      const logits = (Array.isArray(raw) ? raw : [raw]) as tf.Tensor2D[];
      return logits.flatMap((l, h) => {
        const known = tf.tensor1d(b.labels[h]!, 'int32');
        const rows = targets[h];
        const loss = rows
          ? maskedBinaryCrossEntropy(l, tf.tensor2d(rows, l.shape), known, batchCounts[h]!)
          : maskedCrossEntropy(l, known, batchCounts[h]!);
        return [rows ? tf.sigmoid(l) : tf.softmax(l), tf.mul(loss, batchCounts[h]!)];
      });
    });
    const data = await Promise.all(outs.map((t) => t.data()));
    tf.dispose(outs);
    heads.forEach((_, h) => {
      probParts[h]!.push(data[2 * h] as Float32Array);
      lossSums[h]! += (data[2 * h + 1] as Float32Array)[0]!;
      counts[h]! += batchCounts[h]!;
      labelParts[h]!.push(b.labels[h]!);
      if (targets[h]) targetParts[h]!.push(targets[h]!);
    });
    indices.push(...b.indices);
  }
  const probs = probParts.map(concatFloat);
  const labels = labelParts.map(concatInt);
  const targets = heads.map((head, h) => (head.kind === 'multilabel' ? concatFloat(targetParts[h]!) : undefined));
  const thresholds = heads.map((head, h) => {
    if (head.kind !== 'multilabel') return undefined;
    if (!options.tuneThresholds) return head.thresholds ?? head.labels.map(() => 0.5);
    return tuneThresholds(probs[h]!, targets[h]!, labels[h]!, head.labels.length);
  });
  const predicted = probs.map((p, h) => argmaxRows(p, heads[h]!.labels.length));
  const vocab = heads.map((head, h) => ({ ...head, thresholds: thresholds[h] }));
  const metrics = computeMetrics(vocab, labels, predicted, probs.map((p, h) => ({ probs: p, targets: targets[h] })));
  const losses = Object.fromEntries(heads.map((head, h) => [head.name, counts[h]! > 0 ? lossSums[h]! / counts[h]! : 0]));
  return { metrics, losses, probs, labels, targets, thresholds, indices };
}

function concatFloat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function concatInt(parts: Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((a, p) => a + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
