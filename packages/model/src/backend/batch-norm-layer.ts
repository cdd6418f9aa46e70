/**
 * A `BatchNormalization` layer whose training-mode pass runs on the fused
 * kernels of `batch-norm-train.ts` while wasm is the backend; anything else
 * (inference, other backends, other axes) is the stock layer's. It serialises
 * as the stock layer and is registered under the same class name, so saved
 * models load as this class here and as the stock layer elsewhere (the
 * browser included).
 */
import * as tf from '@tensorflow/tfjs';

import { batchNormTraining } from './batch-norm-train.js';

type BatchNormArgs = NonNullable<Parameters<typeof tf.layers.batchNormalization>[0]>;

interface Variable {
  read(): tf.Tensor;
  write(value: tf.Tensor): unknown;
}

/** The fields of tfjs-layers' BatchNormalization that the training pass reads. */
interface StockBatchNorm extends tf.layers.Layer {
  readonly axis: number;
  readonly momentum: number;
  readonly epsilon: number;
  gamma: Variable | null;
  beta: Variable | null;
  movingMean: Variable;
  movingVariance: Variable;
}

// tfjs-layers exports the layer's factory, not its class.
const StockBatchNormalization = tf.layers.batchNormalization({}).constructor as new (
  args?: BatchNormArgs,
) => StockBatchNorm;

/** BatchNormalization with a fused training pass on wasm (see the module comment). */
export class FastBatchNormalization extends StockBatchNormalization {
  static readonly className = 'BatchNormalization';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    const rank = input?.rank ?? 0;
    const axis = this.axis < 0 ? this.axis + rank : this.axis;
    const gamma = this.gamma;
    const beta = this.beta;
    if (
      kwargs['training'] !== true ||
      input === undefined ||
      tf.getBackend() !== 'wasm' ||
      input.dtype !== 'float32' ||
      axis !== rank - 1 ||
      gamma === null ||
      beta === null
    ) {
      return super.call(inputs, kwargs);
    }
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(input, gamma.read(), beta.read(), this.epsilon);
      // The moving averages, as the stock layer updates them.
      for (const [moving, value] of [
        [this.movingMean, mean],
        [this.movingVariance, variance],
      ] as const) {
        tf.tidy(() => {
          const old = moving.read();
          moving.write(tf.sub(old, tf.mul(tf.sub(old, value), 1 - this.momentum)));
        });
      }
      return y;
    });
  }
}

// The constructor type hides the static fromConfig the stock class inherits from Layer.
tf.serialization.registerClass(
  FastBatchNormalization as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>,
);

/** Same arguments as `tf.layers.batchNormalization`; builds a {@link FastBatchNormalization}. */
export function batchNormalization(args: BatchNormArgs = {}): FastBatchNormalization {
  return new FastBatchNormalization(args);
}
