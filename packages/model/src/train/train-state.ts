import { PolyheadError } from '@polyhead/data';

import { readCheckpointFile, writeCheckpointFile, type StoredArray } from '../io/checkpoint-file.js';
import type { MultiHeadMetrics } from '../metrics.js';
import type { Network } from '../network.js';
import { tf } from '../tf.js';
import type { Adam } from './adam.js';
import type { BalancerState, LossBalancer } from './loss-balance.js';
import type { EpochLog } from './trainer.js';

/** Running sums of one head over the batches of an epoch so far. */
export interface HeadSums {
  loss: number;
  right: number;
  count: number;
}

/**
 * Everything a training run needs to continue exactly where it stopped: weights, optimizer and
 * balancer state, the best epoch so far, the metrics history and the position in the run.
 *
 * Every random stream of training (shuffling, balanced draws, flips, invariance views) is a pure
 * function of the run's seed and the counters `epoch`, `batch` and `step`, so those counters are
 * the whole random state.
 */
export interface TrainCheckpoint {
  format: 'polyhead-train-state/1';
  /** Epoch in progress, or the last one finished when `epochDone`. 1-based. */
  epoch: number;
  /** Batches of `epoch` done. */
  batch: number;
  /** Whether `epoch` is complete, validation and history included. */
  epochDone: boolean;
  /** Optimizer steps taken over the whole run. */
  step: number;
  /** No epochs remain: all were run, or patience stopped the run. */
  finished: boolean;
  stoppedEarly: boolean;
  /** Sums of the epoch in progress (when not `epochDone`). */
  partial: { sums: HeadSums[]; samples: number; seconds: number };
  history: EpochLog[];
  best: { score: number; epoch: number; val?: MultiHeadMetrics; thresholds: (number[] | undefined)[]; hasWeights: boolean } | null;
  lastVal?: MultiHeadMetrics;
  lastThresholds: (number[] | undefined)[];
  balancer: BalancerState;
  /** Adam's step count per variable it has seen, by position in the trainable list. */
  optimizer: { learningRate: number; slots: { index: number; t: number }[] };
  /** Model weights (`weight/i`), best-epoch weights (`best/i`), Adam moments (`adam.m/i`, `adam.v/i`). */
  arrays: StoredArray[];
}

/** What {@link captureTrainState} and {@link restoreTrainState} work on. */
export interface TrainStateContext {
  net: Network;
  optimizer: Adam;
  balancer: LossBalancer;
  /** The variables the optimizer updates, in a stable order. */
  trainable: tf.Variable[];
  /** Weights of the best epoch so far, in `net.model.weights` order. */
  bestWeights: tf.Tensor[] | undefined;
}

/** Copies the run's tensors out; the rest of the checkpoint comes from the trainer. */
export async function captureTrainState(
  ctx: TrainStateContext,
  rest: Omit<TrainCheckpoint, 'format' | 'arrays' | 'optimizer' | 'balancer'>,
): Promise<TrainCheckpoint> {
  const arrays: StoredArray[] = [];
  const weights = ctx.net.model.weights.map((w) => w.read());
  for (const [i, w] of weights.entries()) arrays.push(await stored(`weight/${i}`, w));
  for (const [i, w] of (ctx.bestWeights ?? []).entries()) arrays.push(await stored(`best/${i}`, w));
  const index = new Map(ctx.trainable.map((v, i) => [v.name, i]));
  const adam = await ctx.optimizer.getState();
  const slots = adam.slots.map((s) => {
    const i = index.get(s.name);
    if (i === undefined) throw new Error(`optimizer holds state for ${s.name}, which is not trainable`);
    arrays.push({ name: `adam.m/${i}`, dtype: 'float32', shape: s.shape, data: Float32Array.from(s.m) });
    arrays.push({ name: `adam.v/${i}`, dtype: 'float32', shape: s.shape, data: Float32Array.from(s.v) });
    return { index: i, t: s.t };
  });
  return {
    format: 'polyhead-train-state/1',
    ...rest,
    balancer: await ctx.balancer.saveState(),
    optimizer: { learningRate: adam.learningRate, slots },
    arrays,
  };
}

/**
 * Puts a checkpoint's weights, optimizer and balancer state back into a freshly built network
 * of the same spec. Returns the best epoch's weights as kept tensors (or undefined).
 *
 * @throws PolyheadError `CHECKPOINT_MISMATCH` when the network's weights differ in count or shape.
 */
export function restoreTrainState(ctx: Omit<TrainStateContext, 'bestWeights'>, cp: TrainCheckpoint): tf.Tensor[] | undefined {
  const byName = new Map(cp.arrays.map((a) => [a.name, a]));
  const weights = ctx.net.model.weights;
  const take = (prefix: string, count: number, shapeOf: (i: number) => number[]): tf.Tensor[] =>
    Array.from({ length: count }, (_, i) => {
      const a = byName.get(`${prefix}/${i}`);
      const shape = shapeOf(i);
      if (!a || a.shape.join('x') !== shape.join('x')) {
        throw new PolyheadError(
          'CHECKPOINT_MISMATCH',
          `checkpoint ${prefix}/${i} is ${a ? `[${a.shape.join(', ')}]` : 'missing'}; the network expects [${shape.join(', ')}] (was it saved with other --size/--width/--depth?)`,
          { kind: 'usage' },
        );
      }
      return tf.tensor(a.data, a.shape, a.dtype);
    });
  const saved = cp.arrays.filter((a) => a.name.startsWith('weight/')).length;
  if (saved !== weights.length) {
    throw new PolyheadError('CHECKPOINT_MISMATCH', `checkpoint holds ${saved} weights; the network has ${weights.length}`, { kind: 'usage' });
  }
  const values = take('weight', weights.length, (i) => weights[i]!.shape as number[]);
  ctx.net.model.setWeights(values);
  tf.dispose(values);
  const best = cp.best?.hasWeights ? take('best', weights.length, (i) => weights[i]!.shape as number[]).map((t) => tf.keep(t)) : undefined;
  const slots = cp.optimizer.slots.map(({ index, t }) => {
    const variable = ctx.trainable[index];
    if (!variable) throw new PolyheadError('CHECKPOINT_MISMATCH', `checkpoint has optimizer state for variable ${index}; the network has ${ctx.trainable.length}`, { kind: 'usage' });
    const m = byName.get(`adam.m/${index}`)!;
    const v = byName.get(`adam.v/${index}`)!;
    return { name: variable.name, t, shape: m.shape, m: m.data as Float32Array, v: v.data as Float32Array };
  });
  ctx.optimizer.setState({ learningRate: cp.optimizer.learningRate, slots }, ctx.trainable);
  ctx.balancer.restoreState(cp.balancer);
  return best;
}

/** Writes a training checkpoint to one file, atomically (see {@link writeCheckpointFile}). */
export async function saveTrainCheckpoint(file: string, cp: TrainCheckpoint): Promise<void> {
  const { arrays, ...state } = cp;
  await writeCheckpointFile(file, { state, arrays });
}

/** Reads a checkpoint written by {@link saveTrainCheckpoint}. */
export async function loadTrainCheckpoint(file: string): Promise<TrainCheckpoint> {
  const { state, arrays } = await readCheckpointFile<Omit<TrainCheckpoint, 'arrays'>>(file);
  if (state.format !== 'polyhead-train-state/1') {
    throw new PolyheadError('CHECKPOINT_INVALID', `${file}: expected format "polyhead-train-state/1", found ${JSON.stringify(state.format)}`);
  }
  return { ...state, arrays };
}

async function stored(name: string, t: tf.Tensor): Promise<StoredArray> {
  const dtype = t.dtype === 'int32' ? 'int32' : 'float32';
  const data = (await t.data()) as Float32Array | Int32Array;
  return { name, dtype, shape: t.shape.slice(), data: dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data) };
}
