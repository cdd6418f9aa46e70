// CPU time per kernel of polyhead training steps on the reference network.
// Unlike tf.profile's wall-clock times, thread CPU time is little affected by
// other processes on a shared machine, so small changes stay visible.
//
//   node scripts/bench/cpu-profile.mjs [--size 32] [--batch 64] [--steps 3] [--top 25] [--shapes 1] [--threads 1]
//
// One wasm thread by default: with the pool, process CPU time also counts its thread.
import { initBackend, tf } from '../../packages/model/dist/index.js';
import { randomBatch, referenceNetwork, trainRate } from './reference.mjs';

const o = { size: 32, batch: 64, steps: 3, top: 25, shapes: 0, threads: 1 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) o[argv[i].replace(/^--/, '')] = Number(argv[i + 1]);

await initBackend('wasm', { wasmThreads: o.threads === 1 ? 1 : 2 });
const totals = new Map();
let depth = 0;
let on = false;
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
for (const config of tf.getKernelsForBackend('wasm')) {
  const inner = config.kernelFunc;
  config.kernelFunc = (args) => {
    if (!on || depth > 0) return inner(args);
    depth++;
    const t0 = cpu();
    try {
      return inner(args);
    } finally {
      depth--;
      const shapes = o.shapes ? ` ${JSON.stringify(Object.values(args.inputs).map((t) => t?.shape))}` : '';
      const key = config.kernelName + shapes;
      const e = totals.get(key) ?? { ms: 0, calls: 0 };
      e.ms += cpu() - t0;
      e.calls++;
      totals.set(key, e);
    }
  };
}
const net = referenceNetwork(o.size);
const batch = randomBatch(o.size, o.batch);
await trainRate(net, batch, { steps: 1, warmup: 2 });
on = true;
const c0 = cpu();
const t0 = performance.now();
await trainRate(net, batch, { steps: o.steps - 1, warmup: 1 });
const stepCpu = (cpu() - c0) / o.steps;
const stepWall = (performance.now() - t0) / o.steps;
on = false;
const kernels = [...totals.values()].reduce((p, e) => p + e.ms, 0) / o.steps;
console.log(`${o.size} px, batch ${o.batch}: per step cpu ${stepCpu.toFixed(1)} ms (kernels ${kernels.toFixed(1)}, rest ${(stepCpu - kernels).toFixed(1)}), wall ${stepWall.toFixed(1)} ms`);
for (const [name, e] of [...totals].sort((p, q) => q[1].ms - p[1].ms).slice(0, o.top)) {
  console.log(`  ${name.padEnd(o.shapes ? 70 : 28)} ${(e.ms / o.steps).toFixed(1).padStart(7)} ms ${String(e.calls / o.steps).padStart(5)} calls`);
}
