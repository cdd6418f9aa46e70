// Kernel profile of one polyhead training step (train() on the reference
// network) and one inference batch, via tf.profile.
//
//   node scripts/bench/profile.mjs [--size 32] [--batch 64] [--threads 1|2] [--top 20]
import { initBackend, tf } from '../../packages/model/dist/index.js';
import { inferRate, randomBatch, referenceNetwork, trainRate } from './reference.mjs';

const o = { size: 32, batch: 64, threads: 2, top: 20 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) o[argv[i].replace(/^--/, '')] = Number(argv[i + 1]);

function report(what, info, wallMs) {
  const byName = new Map();
  for (const k of info.kernels) {
    const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += k.kernelTimeMs;
    e.calls += 1;
    byName.set(k.name, e);
  }
  const total = [...byName.values()].reduce((p, e) => p + e.ms, 0);
  console.log(`${what}: wall ${wallMs.toFixed(1)} ms, kernels ${total.toFixed(1)} ms in ${info.kernels.length} calls`);
  for (const [name, e] of [...byName].sort((p, q) => q[1].ms - p[1].ms).slice(0, o.top)) {
    console.log(`  ${name.padEnd(32)} ${e.ms.toFixed(1).padStart(8)} ms ${String(e.calls).padStart(5)} calls ${((100 * e.ms) / total).toFixed(1).padStart(5)}%`);
  }
}

await initBackend('wasm', { wasmThreads: o.threads === 1 ? 1 : 2 });
const net = referenceNetwork(o.size);
const batch = randomBatch(o.size, o.batch);
await trainRate(net, batch, { steps: 1, warmup: 2 });
let t0 = performance.now();
const trainInfo = await tf.profile(() => trainRate(net, batch, { steps: 1, warmup: 1 }).then(() => tf.scalar(0)));
report(`train (2 steps, ${o.size} px, batch ${o.batch})`, trainInfo, performance.now() - t0);
t0 = performance.now();
const inferInfo = await tf.profile(() => inferRate(net, batch, { steps: 1, warmup: 0 }).then(() => tf.scalar(0)));
report('infer (1 batch)', inferInfo, performance.now() - t0);
