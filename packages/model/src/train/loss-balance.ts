import { tf } from '../tf.js';
import { Adam } from './adam.js';

/**
 * How the heads' loss terms are weighed against each other.
 *
 * - `fixed`: the given weights, all run long.
 * - `uncertainty`: each term scaled by a learned precision exp(−s) plus the
 *   regulariser s (Kendall, Gal and Cipolla, 2018); a head whose loss is large
 *   by nature gets weighed down.
 * - `dwa`: dynamic weight averaging (Liu, Johns and Davison, 2019): a head
 *   whose loss fell slowly over the last two epochs gets more weight.
 */
export type LossBalance = 'fixed' | 'uncertainty' | 'dwa';

/** Weighs the heads' losses into one total. */
export interface LossBalancer {
  readonly kind: LossBalance;
  /** Trainable variables of the balancer, one per head (or none). */
  readonly variables: tf.Variable[];
  /** Total loss from per-head losses; runs inside the gradient tape. */
  total(perHead: tf.Scalar[]): tf.Scalar;
  /** Updates the balancer's own variables. */
  apply(grads: ReadonlyMap<tf.Variable, tf.Tensor>): void;
  /** Called with each head's mean training loss at the end of an epoch. */
  endEpoch(headLosses: number[]): void;
  /** Current weight of each head's loss term, given weights included. */
  effectiveWeights(): number[];
  /** The balancer's state as plain JSON, for a checkpoint. */
  saveState(): Promise<BalancerState>;
  /** Restores a state taken with {@link LossBalancer.saveState}. */
  restoreState(state: BalancerState): void;
  dispose(): void;
}

/** Checkpointed state of a balancer: `dwa`'s loss history, or `uncertainty`'s variables and their Adam. */
export interface BalancerState {
  history?: number[][];
  values?: number[];
  optimizer?: { learningRate: number; slots: { index: number; t: number; m: number[]; v: number[] }[] };
}

/** Arguments of {@link createLossBalancer}. */
export interface LossBalancerArgs {
  kind: LossBalance;
  /** Base weight per head. */
  weights: number[];
  /** Learning rate of the log-variances (`uncertainty`). Default 0.05. */
  learningRate?: number;
  /** Temperature of `dwa`. Default 2. */
  temperature?: number;
}

/** Makes the balancer for a training run. */
export function createLossBalancer(args: LossBalancerArgs): LossBalancer {
  const base = args.weights;
  if (args.kind === 'uncertainty') return new UncertaintyBalancer(base, args.learningRate ?? 0.05);
  const multipliers = base.map(() => 1);
  const history: number[][] = [];
  const temperature = args.temperature ?? 2;
  const reweigh = () => {
    if (history.length < 2) return;
    const [before, last] = history.slice(-2) as [number[], number[]];
    const rates = last.map((l, h) => (before[h]! > 0 ? l / before[h]! : 1));
    const exps = rates.map((r) => Math.exp(r / temperature));
    const sum = exps.reduce((a, b) => a + b, 0);
    exps.forEach((e, h) => (multipliers[h] = (base.length * e) / sum));
  };
  return {
    kind: args.kind,
    variables: [],
    total: (perHead) => tf.addN(perHead.map((l, h) => tf.mul(l, base[h]! * multipliers[h]!))) as tf.Scalar,
    apply: () => undefined,
    endEpoch(losses) {
      if (args.kind !== 'dwa') return;
      history.push(losses);
      reweigh();
    },
    effectiveWeights: () => base.map((w, h) => w * multipliers[h]!),
    saveState: async () => ({ history: history.map((l) => [...l]) }),
    restoreState(state) {
      history.splice(0, history.length, ...(state.history ?? []).map((l) => [...l]));
      reweigh();
    },
    dispose: () => undefined,
  };
}

class UncertaintyBalancer implements LossBalancer {
  readonly kind = 'uncertainty' as const;
  readonly variables: tf.Variable[];
  private readonly optimizer: Adam;

  constructor(
    private readonly base: number[],
    learningRate: number,
  ) {
    this.variables = base.map(() => tf.tidy(() => tf.variable(tf.scalar(0), true)));
    this.optimizer = new Adam({ learningRate });
  }

  total(perHead: tf.Scalar[]): tf.Scalar {
    return tf.addN(
      perHead.map((l, h) => {
        const s = this.variables[h]!;
        return tf.add(tf.mul(tf.exp(tf.neg(s)), tf.mul(l, this.base[h]!)), s);
      }),
    ) as tf.Scalar;
  }

  apply(grads: ReadonlyMap<tf.Variable, tf.Tensor>): void {
    this.optimizer.apply(grads);
  }

  endEpoch(): void {}

  effectiveWeights(): number[] {
    return this.variables.map((s, h) => this.base[h]! * Math.exp(-s.dataSync()[0]!));
  }

  async saveState(): Promise<BalancerState> {
    const index = new Map(this.variables.map((v, i) => [v.name, i]));
    const { learningRate, slots } = await this.optimizer.getState();
    return {
      values: this.variables.map((v) => v.dataSync()[0]!),
      optimizer: { learningRate, slots: slots.map((s) => ({ index: index.get(s.name)!, t: s.t, m: [...s.m], v: [...s.v] })) },
    };
  }

  restoreState(state: BalancerState): void {
    (state.values ?? []).forEach((value, i) => tf.tidy(() => this.variables[i]!.assign(tf.scalar(value))));
    const saved = state.optimizer;
    if (!saved) return;
    const slots = saved.slots.map((s) => ({ name: this.variables[s.index]!.name, t: s.t, shape: [], m: Float32Array.from(s.m), v: Float32Array.from(s.v) }));
    this.optimizer.setState({ learningRate: saved.learningRate, slots }, this.variables);
  }

  dispose(): void {
    this.optimizer.dispose();
    tf.dispose(this.variables);
  }
}
