import { ADAM_UPDATE } from '../backend/adam-update.js';
import { tf } from '../tf.js';

/** Arguments of {@link Adam}. */
export interface AdamArgs {
  /** Step size. Default 1e-3. */
  learningRate?: number;
  /** Decay of the first-moment average. Default 0.9. */
  beta1?: number;
  /** Decay of the second-moment average. Default 0.999. */
  beta2?: number;
  /** Added to the denominator for stability. Default 1e-7. */
  epsilon?: number;
  /** Decoupled weight decay (AdamW). Default 0. */
  weightDecay?: number;
}

interface Slot {
  m: tf.Variable;
  v: tf.Variable;
  /** Steps taken by this variable; a variable skipped in a step does not age. */
  t: number;
}

/** Serialisable optimizer state, for checkpoints. */
export interface AdamState {
  learningRate: number;
  slots: { name: string; t: number; m: Float32Array; v: Float32Array; shape: number[] }[];
}

/**
 * Adam keyed by variable, with a step count per variable.
 *
 * tfjs' own Adam indexes its moments by position in each call's gradient list,
 * so updating a subset of the variables (a head with no labels in the batch)
 * would mix up moments. Here a variable that receives no gradient in a step
 * keeps its value, its moments and its bias-correction clock untouched.
 */
export class Adam {
  learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  private readonly slots = new Map<tf.Variable, Slot>();

  constructor(args: AdamArgs = {}) {
    this.learningRate = args.learningRate ?? 1e-3;
    this.beta1 = args.beta1 ?? 0.9;
    this.beta2 = args.beta2 ?? 0.999;
    this.epsilon = args.epsilon ?? 1e-7;
    this.weightDecay = args.weightDecay ?? 0;
  }

  /** Applies one update to each variable that has a gradient in `grads`. */
  apply(grads: ReadonlyMap<tf.Variable, tf.Tensor>): void {
    // One fused kernel per variable where the backend has it (wasm), else eight ops.
    const fused = tf.getKernel(ADAM_UPDATE, tf.getBackend()) !== undefined;
    for (const [variable, grad] of grads) {
      const slot = this.slot(variable);
      slot.t += 1;
      const { beta1: b1, beta2: b2 } = this;
      const stepSize = (this.learningRate * Math.sqrt(1 - b2 ** slot.t)) / (1 - b1 ** slot.t);
      const eps = this.epsilon * Math.sqrt(1 - b2 ** slot.t);
      const decay = this.learningRate * this.weightDecay;
      tf.tidy(() => {
        if (fused && variable.dtype === 'float32' && grad.dtype === 'float32') {
          const attrs = { beta1: b1, beta2: b2, stepSize, epsilon: eps, decay };
          const inputs = { x: variable, m: slot.m, v: slot.v, grad };
          const [x, m, v] = tf.engine().runKernel(ADAM_UPDATE, inputs, attrs) as tf.Tensor[];
          slot.m.assign(m!);
          slot.v.assign(v!);
          variable.assign(x!);
          return;
        }
        const m = tf.add(tf.mul(slot.m, b1), tf.mul(grad, 1 - b1));
        const v = tf.add(tf.mul(slot.v, b2), tf.mul(tf.square(grad), 1 - b2));
        slot.m.assign(m);
        slot.v.assign(v);
        let next = tf.sub(variable, tf.mul(tf.div(m, tf.add(tf.sqrt(v), eps)), stepSize));
        if (this.weightDecay > 0) next = tf.sub(next, tf.mul(variable, decay));
        variable.assign(next);
      });
    }
  }

  /** Copies the state out, for a checkpoint. */
  async getState(): Promise<AdamState> {
    const slots = [];
    for (const [variable, slot] of this.slots) {
      slots.push({
        name: variable.name,
        t: slot.t,
        shape: variable.shape.slice(),
        m: (await slot.m.data()) as Float32Array,
        v: (await slot.v.data()) as Float32Array,
      });
    }
    return { learningRate: this.learningRate, slots };
  }

  /** Restores a state taken with {@link getState}, matching variables by name. */
  setState(state: AdamState, variables: readonly tf.Variable[]): void {
    const byName = new Map(variables.map((v) => [v.name, v]));
    this.learningRate = state.learningRate;
    for (const saved of state.slots) {
      const variable = byName.get(saved.name);
      if (!variable) throw new Error(`optimizer state names variable ${saved.name}, which the model does not have`);
      const slot = this.slot(variable);
      slot.t = saved.t;
      tf.tidy(() => {
        slot.m.assign(tf.tensor(saved.m, saved.shape));
        slot.v.assign(tf.tensor(saved.v, saved.shape));
      });
    }
  }

  /** Frees the moment variables. */
  dispose(): void {
    for (const slot of this.slots.values()) {
      slot.m.dispose();
      slot.v.dispose();
    }
    this.slots.clear();
  }

  private slot(variable: tf.Variable): Slot {
    let slot = this.slots.get(variable);
    if (!slot) {
      slot = {
        m: tf.tidy(() => tf.variable(tf.zerosLike(variable), false)),
        v: tf.tidy(() => tf.variable(tf.zerosLike(variable), false)),
        t: 0,
      };
      this.slots.set(variable, slot);
    }
    return slot;
  }
}
