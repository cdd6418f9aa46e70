/**
 * The wasm backend on TensorFlow.js' threaded SIMD binary, whose XNNPACK
 * kernels (convolutions, matrix products, pooling) split their work over a
 * thread pool. The package ships that binary but never loads it under Node:
 * its loader takes the worker script from a browser Blob URL, and its pool
 * size follows `os.cpus().length / 2`, one thread on a 2-core machine. Here
 * the emscripten module is built directly, with the worker script written to
 * a file and the pool sized as asked.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

import * as tf from '@tensorflow/tfjs';
import * as wasmBackend from '@tensorflow/tfjs-backend-wasm';

const require = createRequire(import.meta.url);

const BINARY = 'tfjs-backend-wasm-threaded-simd';

type Factory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

interface EmscriptenModule {
  cwrap(name: string, returns: string | null, args: string[]): (...args: number[]) => number;
  tfjs?: Record<string, (...args: number[]) => number>;
  PThread?: {
    runningWorkers: { unref(): void }[];
    unusedWorkers: { terminate(): unknown }[];
  };
}

/** Writes `text` to `file` unless it is already there, atomically for concurrent processes. */
function ensureFile(file: string, text: string): void {
  try {
    if (readFileSync(file, 'utf8') === text) return;
  } catch {
    // Not written yet.
  }
  const partial = `${file}.${randomBytes(6).toString('hex')}`;
  writeFileSync(partial, text);
  renameSync(partial, file);
}

/** The pthread worker script as a file Node's `Worker` can start. */
function workerScript(outDir: string): string {
  const { wasmWorkerContents } = require(path.join(outDir, `${BINARY}.worker.js`)) as {
    wasmWorkerContents: string;
  };
  // The script arrives as a template literal; string escapes must stay escapes.
  const text = wasmWorkerContents.replace(/\n/g, '\\n');
  const file = path.join(os.tmpdir(), `polyhead-${BINARY}-${tf.version.tfjs}.worker.js`);
  ensureFile(file, text);
  return file;
}

/**
 * Instantiates the threaded binary with a pool of `threads` threads and wraps
 * it in the package's `BackendWasm`. Rejects where the binary or workers
 * cannot start (no SharedArrayBuffer, missing files).
 */
export async function createThreadedWasmBackend(threads: number): Promise<tf.KernelBackend> {
  const outDir = path.join(
    path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')),
    'wasm-out',
  );
  const factory = require(path.join(outDir, `${BINARY}.js`)) as Factory;
  const worker = workerScript(outDir);
  // The module caps its pool at half the logical cores it sees while it starts.
  const cpus = os.cpus;
  const first = cpus()[0];
  os.cpus = () => Array.from({ length: 2 * threads }, () => first!);
  let module: EmscriptenModule;
  try {
    module = await factory({
      locateFile: (file: string) => (file.endsWith('.worker.js') ? worker : path.join(outDir, file)),
    });
  } finally {
    os.cpus = cpus;
  }
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  wasmBackend.setThreadsCount(threads);
  const Backend = wasmBackend.BackendWasm as unknown as new (m: EmscriptenModule) => tf.KernelBackend;
  const backend = new Backend(module);
  // The pool's threads run for the life of the process; they must not keep it alive.
  for (const w of module.PThread?.runningWorkers ?? []) w.unref();
  // The module starts eight workers up front; those the pool did not take only hold memory.
  for (const w of module.PThread?.unusedWorkers.splice(0) ?? []) void w.terminate();
  return backend;
}

/** Priority the wasm package registers its backend with. */
const WASM_PRIORITY = 2;

type BackendFactory = () => tf.KernelBackend | Promise<tf.KernelBackend>;

let stockFactory: BackendFactory | undefined;
let poolThreads = 1;

/**
 * Registers a `wasm` backend computing with `threads` threads in place of
 * the current one: the threaded binary for 2 or more, the package's own for
 * 1. A backend already initialised is disposed, with its tensors. Resolves to
 * false, leaving the registration alone, where the threaded binary cannot
 * start.
 */
export async function useThreadPool(threads: number): Promise<boolean> {
  if (threads === poolThreads) return true;
  stockFactory ??= tf.findBackendFactory('wasm') ?? undefined;
  let factory: BackendFactory | undefined = stockFactory;
  if (threads > 1) {
    try {
      const backend = await createThreadedWasmBackend(threads);
      factory = () => backend;
    } catch {
      return false;
    }
  } else {
    wasmBackend.setThreadsCount(-1);
  }
  if (factory === undefined) return false;
  if (tf.findBackendFactory('wasm') !== null) tf.removeBackend('wasm');
  tf.registerBackend('wasm', factory, WASM_PRIORITY);
  poolThreads = threads;
  return true;
}

/** Threads the registered wasm backend computes with (1 on the package's own binary). */
export function wasmThreadCount(): number {
  return poolThreads;
}
