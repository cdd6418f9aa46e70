// The reference two-head network of ../shared/bench/README.md, trained by
// polyhead's own `train()` (masked loss, our Adam) on one random batch, and
// timed in inference the way `Predictor` runs it.
import { batchNormalization, tf, train, wrapNetwork } from '../../packages/model/dist/index.js';

const HEADS = [
  { name: 'type', classes: 10 },
  { name: 'color', classes: 8 },
];

/**
 * Builds the network with tf.layers (the small-CNN spec puts BatchNorm in
 * every block, the reference only after the first convolution) and wraps it
 * as a polyhead `Network`, whose heads end in `<name>_logits` layers. Its
 * BatchNorm is polyhead's `batchNormalization`, as in the small CNN: the
 * stock layer, saved as such, with a fused training pass on wasm.
 */
export function referenceNetwork(size) {
  const input = tf.input({ shape: [size, size, 3], name: 'input' });
  const conv = (filters, name) =>
    tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', activation: 'relu', name });
  let h = conv(32, 'conv1').apply(input);
  h = batchNormalization({ name: 'bn1' }).apply(h);
  h = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }).apply(h);
  h = conv(64, 'conv2').apply(h);
  h = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }).apply(h);
  h = conv(128, 'conv3').apply(h);
  h = tf.layers.globalAveragePooling2d({ name: 'features' }).apply(h);
  const probs = HEADS.map(({ name, classes }) => {
    const logits = tf.layers.dense({ units: classes, name: `${name}_logits` }).apply(h);
    return tf.layers.softmax({ name }).apply(logits);
  });
  const model = tf.model({ inputs: input, outputs: probs, name: 'reference' });
  const spec = {
    inputSize: size,
    backbone: { kind: 'small-cnn', width: 32, depth: 3, dropout: 0 },
    heads: HEADS.map(({ name, classes }) => ({
      name,
      kind: 'softmax',
      labels: Array.from({ length: classes }, (_, c) => `c${c}`),
      weight: 1,
      output: name,
    })),
  };
  return wrapNetwork(spec, model);
}

/** A reproducible batch of uniform pixels and random labels, as `batches()` yields. */
export function randomBatch(size, batch, seed = 1) {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const x = new Float32Array(batch * size * size * 3);
  for (let i = 0; i < x.length; i++) x[i] = next();
  const labels = HEADS.map(({ classes }) =>
    Int32Array.from({ length: batch }, () => Math.floor(next() * classes)),
  );
  return { x, shape: [batch, size, size, 3], labels, indices: [...Array(batch).keys()] };
}

/**
 * Training images per second of `train()` over `steps` batches after
 * `warmup` ones, timed between the trainer's batch-end callbacks.
 */
export async function trainRate(net, batch, { steps, warmup }) {
  const n = batch.shape[0];
  const stamps = [];
  const feed = {
    trainSize: (steps + warmup) * n,
    async *train() {
      for (let i = 0; i < steps + warmup; i++) yield batch;
    },
  };
  await train(net, feed, {
    epochs: 1,
    batchSize: n,
    learningRate: 1e-3,
    schedule: 'constant',
    callbacks: { onBatchEnd: () => void stamps.push(performance.now()) },
  });
  const ms = stamps[stamps.length - 1] - stamps[warmup - 1];
  return (steps * n * 1000) / ms;
}

/** Inference images per second: copy in, `model.predict`, read the probabilities back. */
export async function inferRate(net, batch, { steps, warmup }) {
  const n = batch.shape[0];
  const once = async () => {
    const outs = tf.tidy(() => net.model.predict(tf.tensor4d(batch.x, batch.shape), { batchSize: n }));
    await Promise.all(outs.map((t) => t.data()));
    tf.dispose(outs);
  };
  for (let i = 0; i < warmup; i++) await once();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await once();
  return (steps * n * 1000) / (performance.now() - t0);
}
