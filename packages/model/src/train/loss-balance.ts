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
  dispose(): void;
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
  return {
    kind: args.kind,
    variables: [],
    total: (perHead) => tf.addN(perHead.map((l, h) => tf.mul(l, base[h]! * multipliers[h]!))) as tf.Scalar,
    apply: () => undefined,
    endEpoch(losses) {
      if (args.kind !== 'dwa') return;
      history.push(losses);
      if (history.length < 2) return;
      const [before, last] = history.slice(-2) as [number[], number[]];
      const rates = last.map((l, h) => (before[h]! > 0 ? l / before[h]! : 1));
      const exps = rates.map((r) => Math.exp(r / temperature));
      const sum = exps.reduce((a, b) => a + b, 0);
      exps.forEach((e, h) => (multipliers[h] = (base.length * e) / sum));
    },
    effectiveWeights: () => base.map((w, h) => w * multipliers[h]!),
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

  dispose(): void {
    this.optimizer.dispose();
    tf.dispose(this.variables);
  }
}
