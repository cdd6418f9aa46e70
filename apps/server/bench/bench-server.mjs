// @ts-check
/**
 * Load test of `polyhead-server`: starts the built server on loopback with a
 * model (trained here in a few seconds, or `--model <dir>`), drives
 * `POST /v1/predict` with autocannon at several concurrencies, and prints
 * requests/s, p50/p99 latency, errors and the server's peak RSS beside the raw
 * in-process forward-pass throughput of the same model at the same batch sizes.
 *
 *   pnpm bench:server [--model <dir>] [--json] [--requests 2000] [--seconds 20]
 *                     [--rounds 2] [--concurrency 1,8,32] [--backend wasm]
 *                     [--max-batch 32] [--batch-window-ms 2]
 *
 * With `--json` the last line on stdout is one JSON object:
 * `{"runs": [{"concurrency", "rps", "p50ms", "p99ms", "errors", "peakRssMb", …}],
 *   "inProcessImgPerSec", …}`.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { loadDataset } from '@polyhead/data';
import { initBackend, Predictor, saveModelDir, trainOnDataset } from '@polyhead/model';
import autocannon from 'autocannon';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SERVER_MAIN = path.join(HERE, '../dist/main.js');
const FIXTURES = path.join(HERE, '../test-fixtures');

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    json: { type: 'boolean', default: false },
    requests: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '1,8,32' },
    backend: { type: 'string', default: 'wasm' },
    'max-batch': { type: 'string', default: '32' },
    'batch-window-ms': { type: 'string', default: '2' },
  },
});
const concurrencies = args.concurrency.split(',').map(Number);
const requests = Number(args.requests);
const seconds = Number(args.seconds);
const rounds = Number(args.rounds);
/** Progress goes to stderr, so `--json` leaves stdout to the results. */
const info = (/** @type {string} */ line) => process.stderr.write(`${line}\n`);

if (!existsSync(SERVER_MAIN)) {
  info(`${SERVER_MAIN} is missing; build the server first (pnpm --filter @polyhead/server build)`);
  process.exit(2);
}

await initBackend(/** @type {any} */ (args.backend));
const scratch = await mkdtemp(path.join(tmpdir(), 'polyhead-bench-'));
const modelDir = args.model ?? (await trainSmallModel(path.join(scratch, 'model')));
const images = await benchImages();

const inProcess = await measureInProcess(modelDir, images, concurrencies);
info(`in-process forward passes: ${inProcess.map((r) => `batch ${r.batch} ${r.imgPerSec} img/s`).join(', ')}`);

const server = await startServer(modelDir);
const runs = [];
try {
  // One unmeasured run so the first measured one does not pay for warm-up.
  await load(server.url, images, 8, Math.min(200, requests), seconds);
  for (let round = 1; round <= rounds; round++) {
    for (const concurrency of concurrencies) {
      resetPeakRss(server.pid);
      const result = await load(server.url, images, concurrency, requests, seconds);
      const peakRssMb = peakRssMbOf(server.pid);
      const batch = inProcess.find((r) => r.batch === concurrency);
      runs.push({
        round,
        concurrency,
        requests: result.requests.total,
        seconds: round2(result.duration),
        // autocannon's per-second average rounds short runs to whole buckets; count instead.
        rps: round2(result.requests.total / result.duration),
        p50ms: result.latency.p50,
        p99ms: result.latency.p99,
        errors: result.errors + result.timeouts + result.non2xx,
        peakRssMb,
        inProcessImgPerSec: batch?.imgPerSec ?? null,
      });
      info(formatRun(runs.at(-1)));
    }
  }
} finally {
  server.child.kill('SIGTERM');
  const [code] = await once(server.child, 'exit');
  info(`server stopped on SIGTERM with exit code ${code}`);
  await rm(scratch, { recursive: true, force: true });
}

const firstRound = runs.filter((r) => r.round === 1);
const lastRound = runs.filter((r) => r.round === rounds);
const rssGrowthMb = round2(
  Math.max(...lastRound.map((r) => r.peakRssMb)) - Math.max(...firstRound.map((r) => r.peakRssMb)),
);
const summary = {
  runs,
  inProcessImgPerSec: Math.max(...inProcess.map((r) => r.imgPerSec)),
  inProcess,
  rssGrowthMb,
  errors: runs.reduce((n, r) => n + r.errors, 0),
  model: { dir: args.model ?? '(trained for this run)', images: images.length },
  server: { backend: args.backend, maxBatch: Number(args['max-batch']), batchWindowMs: Number(args['batch-window-ms']) },
  node: process.version,
};

printTable(runs, inProcess);
info(`peak RSS change from round 1 to round ${rounds}: ${rssGrowthMb} MB; errors: ${summary.errors}`);
if (args.json) process.stdout.write(`${JSON.stringify(summary)}\n`);

/** Trains the tiny colour/shape model of the tests: a few seconds on wasm. */
async function trainSmallModel(dir) {
  info('training a small model on the test images…');
  const dataset = await loadDataset(path.join(FIXTURES, 'f04/train.csv'));
  const { net, meta } = await trainOnDataset({
    dataset,
    inputSize: 32,
    backbone: { width: 8, depth: 2 },
    epochs: 2,
    seed: 7,
  });
  await saveModelDir(dir, net, meta);
  net.model.dispose();
  return dir;
}

/** Every PNG and JPEG under the fixtures that is a plain small image: different bodies per request. */
async function benchImages() {
  const names = [
    ...(await readdir(path.join(FIXTURES, 'f04/train'))).map((n) => `f04/train/${n}`),
    'f15/a_red_square.png',
    'f15/b_blue_circle.png',
    'f15/c_green_triangle.png',
    'limits/normal_64x64.png',
    'jpeg/clean.jpg',
  ];
  return Promise.all(names.map(async (name) => ({ name, bytes: await readFile(path.join(FIXTURES, name)) })));
}

/** Images per second of `predictPixels` at each batch size, on images decoded beforehand. */
async function measureInProcess(dir, images, batches) {
  const predictor = await Predictor.load(dir);
  const decoded = await Promise.all(images.map((image) => predictor.decode(image.bytes)));
  const per = decoded[0].length;
  const results = [];
  for (const batch of batches) {
    const pixels = new Float32Array(per * batch);
    for (let i = 0; i < batch; i++) pixels.set(decoded[i % decoded.length], i * per);
    await predictor.predictPixels(pixels, batch);
    let passes = 0;
    const started = performance.now();
    while (performance.now() - started < 1500 || passes < 3) {
      await predictor.predictPixels(pixels, batch);
      passes++;
    }
    const imgPerSec = Math.round((passes * batch * 1000) / (performance.now() - started));
    results.push({ batch, imgPerSec });
  }
  predictor.dispose();
  return results;
}

/** Starts the built `polyhead-server` on a free loopback port and waits for it to be ready. */
async function startServer(dir) {
  const child = spawn(process.execPath, [SERVER_MAIN], {
    env: {
      ...process.env,
      POLYHEAD_MODEL: dir,
      POLYHEAD_HOST: '127.0.0.1',
      POLYHEAD_PORT: '0',
      POLYHEAD_BACKEND: args.backend,
      POLYHEAD_MAX_BATCH: args['max-batch'],
      POLYHEAD_BATCH_WINDOW_MS: args['batch-window-ms'],
      POLYHEAD_MAX_QUEUE: '4096',
      POLYHEAD_LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let buffered = '';
  const ready = new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the server exited with code ${code} before it was ready`)));
    child.stderr.setEncoding('utf8').on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        // Request lines are many and dull here; only start-up and errors are shown.
        if (line.includes('"msg":"request"') && !line.includes('"level":"error"')) continue;
        info(`  server: ${line}`);
        if (line.includes('"msg":"ready"')) resolve(JSON.parse(line).url);
      }
    });
  });
  return { child, pid: /** @type {number} */ (child.pid), url: /** @type {string} */ (await ready) };
}

/** One autocannon run, bounded in requests and in time; the bodies cycle through the images. */
async function load(url, images, connections, amount, maxSeconds) {
  const instance = autocannon({
    url: `${url}/v1/predict`,
    connections,
    amount,
    timeout: 30,
    requests: images.map((image) => ({
      method: 'POST',
      headers: { 'content-type': image.name.endsWith('.jpg') ? 'image/jpeg' : 'image/png' },
      body: image.bytes,
    })),
  });
  const cap = setTimeout(() => instance.stop(), maxSeconds * 1000);
  const result = await instance;
  clearTimeout(cap);
  return result;
}

/** Resets the kernel's peak-RSS mark of `pid` (Linux); elsewhere the peak is since start. */
function resetPeakRss(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // Not Linux, or not allowed: VmHWM then covers the whole life of the process.
  }
}

function peakRssMbOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]);
    return round2(kb / 1024);
  } catch {
    return null;
  }
}

function formatRun(r) {
  return (
    `round ${r.round} c=${String(r.concurrency).padStart(2)}: ${String(r.rps).padStart(8)} req/s ` +
    `p50 ${r.p50ms} ms p99 ${r.p99ms} ms errors ${r.errors} peak RSS ${r.peakRssMb} MB`
  );
}

function printTable(runs, inProcess) {
  const header = ['round', 'conc.', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'peak RSS MB', 'in-process img/s (batch = conc.)'];
  const rows = runs.map((r) => [
    r.round,
    r.concurrency,
    r.rps,
    r.p50ms,
    r.p99ms,
    r.errors,
    r.peakRssMb,
    inProcess.find((p) => p.batch === r.concurrency)?.imgPerSec ?? '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padStart(widths[i])).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

function round2(x) {
  return Math.round(x * 100) / 100;
}
