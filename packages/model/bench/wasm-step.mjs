// Training and inference throughput of the reference two-head network on the
// wasm backend with polyhead's kernels (see /work/shared/bench/README.md for
// the network and the figures of other frameworks).
//
//   pnpm --filter @polyhead/model build
//   node packages/model/bench/wasm-step.mjs [--size 32] [--batch 64] [--steps 10]
//        [--warmup 2] [--profile 0|1] [--threads 1|2]
//
// --threads 2 lets a helper thread take half of each large convolution;
// --profile 1 prints the kernels that take a step's time. Prints JSON lines.
// The stock wasm backend cannot train this network (it has no convolution
// filter gradient); /work/shared/bench/tfjs_baseline.mjs gives the figures
// of a minimal im2col kernel for comparison.
import os from 'node:os';

import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

import { initBackend } from '../dist/backend/index.js';

function options(argv) {
  const o = { size: 32, batch: 64, steps: 10, warmup: 2, profile: 0, threads: 1 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in o)) throw new Error(`unknown option ${argv[i]}`);
    o[key] = Number(argv[i + 1]);
  }
  return o;
}

function referenceModel(size) {
  const input = tf.input({ shape: [size, size, 3] });
  const conv = (filters) =>
    tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', activation: 'relu' });
  let h = conv(32).apply(input);
  h = tf.layers.batchNormalization().apply(h);
  h = tf.layers.maxPooling2d({ poolSize: 2 }).apply(h);
  h = conv(64).apply(h);
  h = tf.layers.maxPooling2d({ poolSize: 2 }).apply(h);
  h = conv(128).apply(h);
  h = tf.layers.globalAveragePooling2d({}).apply(h);
  const type = tf.layers.dense({ units: 10, activation: 'softmax', name: 'type' }).apply(h);
  const color = tf.layers.dense({ units: 8, activation: 'softmax', name: 'color' }).apply(h);
  const model = tf.model({ inputs: input, outputs: [type, color] });
  model.compile({
    optimizer: tf.train.adam(1e-3),
    loss: { type: 'categoricalCrossentropy', color: 'categoricalCrossentropy' },
  });
  return model;
}

async function profile(what, f) {
  const info = await tf.profile(f);
  const byName = new Map();
  for (const k of info.kernels) {
    const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += k.kernelTimeMs;
    e.calls += 1;
    byName.set(k.name, e);
  }
  const top = [...byName].sort((p, q) => q[1].ms - p[1].ms).slice(0, 12);
  console.log(
    JSON.stringify({
      profile: what,
      top: top.map(([n, e]) => `${n} ${e.ms.toFixed(1)}ms/${e.calls}`),
    }),
  );
}

/** Mean and median milliseconds of `steps` awaited calls of `f`. */
async function timed(f, steps) {
  const ms = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await f();
    ms.push(performance.now() - t0);
  }
  const sorted = [...ms].sort((p, q) => p - q);
  return { mean: ms.reduce((p, q) => p + q, 0) / steps, median: sorted[steps >> 1] };
}

function rate(batch, ms) {
  return Number(((batch * 1000) / ms).toFixed(1));
}

async function main() {
  const o = options(process.argv.slice(2));
  await initBackend('wasm', { wasmThreads: o.threads === 2 ? 2 : 1 });
  const model = referenceModel(o.size);
  const x = tf.randomUniform([o.batch, o.size, o.size, 3], 0, 1, 'float32', 1);
  const oneHot = (k, seed) =>
    tf.tidy(() => tf.oneHot(tf.randomUniform([o.batch], 0, k, 'int32', seed), k).toFloat());
  const ys = [oneHot(10, 2), oneHot(8, 3)];
  const step = () => model.trainOnBatch(x, ys);
  const predict = async () => {
    const outs = model.predictOnBatch(x);
    await Promise.all(outs.map((t) => t.data()));
    tf.dispose(outs);
  };

  for (let i = 0; i < o.warmup; i++) await step();
  if (o.profile) {
    await profile('train_step', step);
    await profile('infer_batch', predict);
  }
  const before = { tensors: tf.memory().numTensors, dataIds: tf.backend().numDataIds() };
  const train = await timed(step, o.steps);
  const growth = {
    tensors: tf.memory().numTensors - before.tensors,
    dataIds: tf.backend().numDataIds() - before.dataIds,
  };
  for (let i = 0; i < o.warmup; i++) await predict();
  const infer = await timed(predict, o.steps);

  console.log(
    JSON.stringify({
      backend: tf.getBackend(),
      threads: o.threads === 2 && os.availableParallelism() > 1 ? 2 : 1,
      size: o.size,
      batch: o.batch,
      train_img_s: rate(o.batch, train.mean),
      infer_img_s: rate(o.batch, infer.mean),
      // The median step resists bursts of load from other processes.
      train_img_s_median: rate(o.batch, train.median),
      infer_img_s_median: rate(o.batch, infer.median),
      train_growth: growth,
    }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
