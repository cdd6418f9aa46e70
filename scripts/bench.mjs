// pnpm bench: training and inference throughput of polyhead on the wasm
// backend beside PyTorch (same network, same settings, alternating runs), and
// where the time of a real training step on fashion7 photos goes.
//
//   pnpm --filter @polyhead/data --filter @polyhead/model build
//   pnpm bench [--quick] [--json] [--reps N] [--threads 1|2] [--skip torch,pipeline]
//
// --threads: wasm threads (default: the library's, 2 on a multi-core machine).
//
// --quick: one repetition, fewer steps (about a minute). --json: the last
// stdout line is one JSON object with the medians and the ratios
// polyhead / PyTorch. Progress goes to stderr.
import os from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { initBackend, tf } from '../packages/model/dist/index.js';
import { pipelineBench } from './bench/pipeline.mjs';
import { inferRate, randomBatch, referenceNetwork, trainRate } from './bench/reference.mjs';
import { runTorch, torchUnavailable } from './bench/torch.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const shared = path.join(root, '..', 'shared');
const TORCH_SCRIPT = path.join(shared, 'bench', 'torch_baseline.py');
const FASHION7 = path.join(shared, 'datasets', 'fashion7', 'labels.csv');

function parseArgs(argv) {
  const o = { quick: false, json: false, reps: undefined, threads: undefined, skip: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') o.quick = true;
    else if (arg === '--json') o.json = true;
    else if (arg === '--reps') o.reps = Number(argv[++i]);
    else if (arg === '--threads') o.threads = Number(argv[++i]) === 2 ? 2 : 1;
    else if (arg === '--skip') o.skip = String(argv[++i]).split(',');
    else throw new Error(`unknown option ${arg}; see the header of scripts/bench.mjs`);
  }
  o.reps ??= o.quick ? 1 : 3;
  return o;
}

const median = (xs) => [...xs].sort((p, q) => p - q)[xs.length >> 1];
const fmt = (x, w = 8) => (x === undefined ? '—' : x >= 100 ? x.toFixed(0) : x.toFixed(1)).padStart(w);
const ratio = (p, q) => (p === undefined || q === undefined ? undefined : p / q);

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const note = (msg) => process.stderr.write(`${msg}\n`);
  let backendLine = '';
  await initBackend('wasm', { wasmThreads: o.threads, log: (line) => (backendLine = line) });
  const backendName = backendLine.replace(/^backend: /, '');
  const settings = [
    { key: '32', size: 32, batch: 64, train: 20, infer: 20 },
    { key: '96', size: 96, batch: 32, train: 8, infer: 10 },
  ].map((s) => (o.quick ? { ...s, train: Math.ceil(s.train / 4), infer: Math.ceil(s.infer / 4) } : s));
  const torchMissing = o.skip.includes('torch') ? 'skipped (--skip torch)' : torchUnavailable(TORCH_SCRIPT);
  if (torchMissing) note(`note: PyTorch baseline not run: ${torchMissing}`);
  const load = [os.loadavg()[0]];

  const runs = Object.fromEntries(settings.map((s) => [s.key, { train: [], infer: [], torchTrain: [], torchInfer: [] }]));
  const nets = Object.fromEntries(settings.map((s) => [s.key, referenceNetwork(s.size)]));
  const data = Object.fromEntries(settings.map((s) => [s.key, randomBatch(s.size, s.batch)]));
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const s of settings) {
      const r = runs[s.key];
      const warmup = rep === 1 ? 2 : 1;
      r.train.push(await trainRate(nets[s.key], data[s.key], { steps: s.train, warmup }));
      r.infer.push(await inferRate(nets[s.key], data[s.key], { steps: s.infer, warmup }));
      let line = `rep ${rep}/${o.reps} ${s.size} px: polyhead ${fmt(r.train.at(-1), 0)} / ${fmt(r.infer.at(-1), 0)} img/s`;
      if (!torchMissing) {
        const t = runTorch(TORCH_SCRIPT, { size: s.size, batch: s.batch, threads: 2, steps: o.quick ? 10 : undefined });
        r.torchTrain.push(t.train_img_s);
        r.torchInfer.push(t.infer_img_s);
        line += `, torch ${t.train_img_s} / ${t.infer_img_s} img/s`;
      }
      note(`${line} (train / infer)`);
      load.push(os.loadavg()[0]);
    }
  }
  const medians = Object.fromEntries(
    settings.map((s) => {
      const r = runs[s.key];
      return [s.key, {
        size: s.size,
        batch: s.batch,
        train: median(r.train),
        infer: median(r.infer),
        torchTrain: r.torchTrain.length ? median(r.torchTrain) : undefined,
        torchInfer: r.torchInfer.length ? median(r.torchInfer) : undefined,
      }];
    }),
  );
  const ratios = {};
  for (const [key, m] of Object.entries(medians)) {
    ratios[`train${key}`] = ratio(m.train, m.torchTrain);
    ratios[`infer${key}`] = ratio(m.infer, m.torchInfer);
  }
  Object.values(nets).forEach((net) => net.model.dispose());

  console.log(`\npolyhead (${backendName}) vs PyTorch ${torchMissing ? '(not run)' : '(2 threads)'}: medians of ${o.reps} run${o.reps > 1 ? 's' : ''}, img/s`);
  console.log('size  batch   train: polyhead  torch  ratio   infer: polyhead  torch  ratio');
  for (const m of Object.values(medians)) {
    const r = (x) => (x === undefined ? '—' : `${x.toFixed(2)}x`).padStart(7);
    console.log(
      `${String(m.size).padStart(4)}  ${String(m.batch).padStart(5)}  ${fmt(m.train, 15)} ${fmt(m.torchTrain, 6)} ${r(ratio(m.train, m.torchTrain))}  ${fmt(m.infer, 15)} ${fmt(m.torchInfer, 6)} ${r(ratio(m.infer, m.torchInfer))}`,
    );
  }

  let pipeline;
  if (o.skip.includes('pipeline')) {
    note('note: pipeline benchmark skipped (--skip pipeline)');
  } else if (!existsSync(FASHION7)) {
    note(`note: pipeline benchmark skipped: ${FASHION7} not found`);
  } else {
    note('pipeline: fashion7 photos, decode + train step …');
    pipeline = await pipelineBench(FASHION7, { images: o.quick ? 192 : 512, size: 64, batchSize: 32 });
    const p = pipeline;
    const ms = Object.entries(p.step_ms).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
    console.log(`\npipeline: ${p.images} fashion7 photos at ${p.size} px, batch ${p.batch}`);
    console.log(`  decode + resize (4 in flight): ${fmt(p.decode_img_s, 0)} img/s, ${p.decode_ms_per_batch.toFixed(1)} ms per batch`);
    console.log(`  train step, ms per batch: ${ms} (${fmt(p.step_img_s, 0)} img/s)`);
    console.log(`  train(): ${fmt(p.train_img_s_decoding, 0)} img/s decoding each batch, ${fmt(p.train_img_s_cached, 0)} img/s from the cache`);
  }
  load.push(os.loadavg()[0]);
  const loadNote = `load average (1 min) during the run: ${Math.min(...load).toFixed(2)}–${Math.max(...load).toFixed(2)} on ${os.availableParallelism()} cores`;
  console.log(`\n${loadNote}`);
  if (Math.max(...load) > 1.5) console.log('note: other processes shared the CPU; figures are lower than on an idle machine');
  if (o.json) {
    console.log(JSON.stringify({
      backend: tf.getBackend(),
      backendLine: backendName,
      reps: o.reps,
      quick: o.quick,
      ratios,
      medians,
      runs,
      pipeline,
      load: { min: Math.min(...load), max: Math.max(...load), cores: os.availableParallelism() },
      torch: torchMissing ? { skipped: torchMissing } : { script: TORCH_SCRIPT, threads: 2 },
    }));
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
