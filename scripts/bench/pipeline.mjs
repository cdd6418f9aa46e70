// The real input pipeline on fashion7 photos: JPEG decode + resize, the copy
// into a tensor, forward, backward and the optimizer step of polyhead's
// default network, each timed on its own, then `train()` fed by `batches()`.
import {
  batches,
  createRng,
  defaultPreprocessing,
  ImageCache,
  LabelEncoder,
  loadDataset,
  shuffleInPlace,
} from '../../packages/data/dist/index.js';
import {
  Adam,
  buildNetwork,
  disposeNetwork,
  maskedCrossEntropy,
  networkSpec,
  tf,
  train,
} from '../../packages/model/dist/index.js';

const median = (xs) => [...xs].sort((p, q) => p - q)[xs.length >> 1];

/** One training step split into phases, in milliseconds (wasm kernels run synchronously). */
function timedStep(net, adam, batch) {
  const vars = net.logitsModel.trainableWeights.map((w) => w.read());
  const t = [performance.now()];
  const out = tf.tidy(() => {
    const x = tf.tensor4d(batch.x, batch.shape);
    const ys = batch.labels.map((l) => tf.tensor1d(l, 'int32'));
    t.push(performance.now());
    const { value, grads } = tf.variableGrads(() => {
      const logits = net.logitsModel.apply(x, { training: true });
      const loss = tf.addN(logits.map((o, h) => maskedCrossEntropy(o, ys[h], batch.shape[0])));
      t.push(performance.now());
      return loss;
    }, vars);
    t.push(performance.now());
    adam.apply(new Map(vars.map((v) => [v, grads[v.name]])));
    t.push(performance.now());
    return value;
  });
  out.dataSync();
  out.dispose();
  t.push(performance.now());
  const d = (i) => t[i + 1] - t[i];
  return { copy: d(0), forward: d(1), backward: d(2), optimizer: d(3), readback: d(4) };
}

/**
 * Runs the pipeline benchmark; `images` photos at `size` px in batches of `batchSize`.
 * Returns the figures, or undefined (with `note`) when the dataset is absent.
 */
export async function pipelineBench(manifest, { images, size, batchSize, log }) {
  const dataset = await loadDataset(manifest);
  const labels = LabelEncoder.fit(dataset).encode(dataset);
  const pre = defaultPreprocessing({ size });
  const order = dataset.samples.map((_, i) => i);
  shuffleInPlace(order, createRng(7));
  const picked = order.slice(0, images);
  const feed = (cache) => () =>
    batches(dataset.samples, labels, picked, { batchSize, shuffle: false, seed: 0, pre, cache });

  // 1. Decode alone (sharp on libuv's threads, 4 images in flight), filling a cache.
  const cache = new ImageCache(2 ** 30);
  let t0 = performance.now();
  const decoded = [];
  for await (const b of feed(cache)()) decoded.push(b);
  const decodeMs = performance.now() - t0;

  // 2. The step, phase by phase, on the decoded batches.
  const encoder = LabelEncoder.fit(dataset);
  const spec = networkSpec({
    inputSize: size,
    heads: encoder.heads.map((h) => ({ name: h.name, labels: h.labels })),
  });
  const net = buildNetwork(spec, { seed: 0 });
  const adam = new Adam({ learningRate: 1e-3 });
  const full = decoded.filter((b) => b.shape[0] === batchSize);
  for (const b of full.slice(0, 2)) timedStep(net, adam, b);
  const phases = full.slice(2).map((b) => timedStep(net, adam, b));
  const step = Object.fromEntries(
    Object.keys(phases[0]).map((k) => [k, median(phases.map((p) => p[k]))]),
  );
  adam.dispose();

  // 3. train() fed by batches(): decoding each epoch afresh (overlapped with
  // the step by the one-batch prefetch), then from the warm cache.
  const epochRate = async (source) => {
    const started = performance.now();
    await train(net, { trainSize: picked.length, train: source }, {
      epochs: 1,
      batchSize,
      schedule: 'constant',
    });
    return (picked.length * 1000) / (performance.now() - started);
  };
  await epochRate(feed(cache));
  const fresh = await epochRate(feed(undefined));
  const cached = await epochRate(feed(cache));
  disposeNetwork(net);
  const stepMs = Object.values(step).reduce((p, q) => p + q, 0);
  const figures = {
    images: picked.length,
    size,
    batch: batchSize,
    decode_img_s: (picked.length * 1000) / decodeMs,
    decode_ms_per_batch: decodeMs / decoded.length,
    step_ms: step,
    step_img_s: (batchSize * 1000) / stepMs,
    train_img_s_decoding: fresh,
    train_img_s_cached: cached,
  };
  log?.(figures);
  return figures;
}
