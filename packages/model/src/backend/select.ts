/**
 * Picks the TensorFlow.js backend polyhead trains and predicts on. The native
 * bindings are optional peer dependencies, so they are loaded on demand and a
 * missing one is either skipped (`auto`) or reported with an install hint.
 */
import { availableParallelism } from 'node:os';

import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { PolyheadError } from '@polyhead/data';

import { setWasmHelper, wasmHelper } from './parallel.js';
import { WasmHelper } from './wasm-helper.js';
import { registerWasmKernels } from './wasm-kernels.js';
import { useThreadPool, wasmThreadCount } from './wasm-threads.js';

/** Backends polyhead can run on; `auto` takes the fastest one that loads. */
export type BackendName = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** Options of {@link initBackend}. */
export interface InitBackendOptions {
  /** Receives one line naming the backend in use (and why, for `auto`); default: silent. */
  log?: (msg: string) => void;
  /**
   * Threads the wasm backend may use (2 is ignored on a single-core machine).
   * On a 2-core machine with a core to spare, 2 threads train about 1.5 and
   * infer about 2 times as fast; where other processes keep every core busy,
   * the second thread mostly waits. Changing it re-creates the wasm backend:
   * tensors made on wasm before are lost. Default: 2 (1 on a single core).
   */
  wasmThreads?: 1 | 2;
  /**
   * How a second wasm thread is used: `pool` loads the package's threaded
   * binary, whose XNNPACK kernels (convolutions, matrix products, pooling)
   * split their work in shared memory; `helper` starts a worker with its own
   * wasm backend that takes half of each large convolution batch, its inputs
   * copied over. `pool` falls back to `helper` where the threaded binary
   * cannot start. Default: `pool`.
   */
  wasmThreadMode?: 'pool' | 'helper';
}

/** What {@link initBackend} settled on. */
export interface BackendInfo {
  /** The active TensorFlow.js backend, as `tf.getBackend()` reports it. */
  name: string;
  /** The backend that was asked for. */
  requested: BackendName;
}

type Concrete = Exclude<BackendName, 'auto'>;

const NATIVE_PACKAGES: Record<'tensorflow-gpu' | 'tensorflow', string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
};

const AUTO_ORDER: Concrete[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

function unavailable(backend: Concrete, detail: string, cause?: unknown): PolyheadError {
  const pkg =
    backend === 'tensorflow' || backend === 'tensorflow-gpu' ? NATIVE_PACKAGES[backend] : undefined;
  const hint =
    pkg === undefined
      ? ''
      : ` Install it with \`pnpm add ${pkg}@${tf.version.tfjs}\`, or use \`--backend wasm\`, which works without it.`;
  return new PolyheadError(
    'BACKEND_UNAVAILABLE',
    `The ${backend} backend is unavailable: ${detail}.${hint}`,
    {
      kind: 'usage',
      cause,
      details: { backend, ...(pkg === undefined ? {} : { package: pkg }) },
    },
  );
}

async function loadNative(backend: 'tensorflow-gpu' | 'tensorflow'): Promise<void> {
  const pkg = NATIVE_PACKAGES[backend];
  try {
    // A variable specifier keeps TypeScript and bundlers from resolving the optional peer.
    const specifier: string = pkg;
    await import(specifier);
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
    throw unavailable(
      backend,
      missing ? `${pkg} is not installed` : `${pkg} failed to load`,
      error,
    );
  }
}

async function configureThreads(threads: 1 | 2, mode: 'pool' | 'helper'): Promise<void> {
  const pool = threads === 2 && mode === 'pool' && (await useThreadPool(2));
  if (!pool) await useThreadPool(1);
  const current = wasmHelper();
  if ((threads === 1 || pool) && current !== undefined) {
    setWasmHelper(undefined);
    await current.close();
  } else if (threads === 2 && !pool && current === undefined) {
    // A helper that cannot start leaves the backend on one thread.
    setWasmHelper(await WasmHelper.create());
  }
}

async function activate(backend: Concrete, opts: InitBackendOptions): Promise<void> {
  if (backend === 'tensorflow' || backend === 'tensorflow-gpu') await loadNative(backend);
  if (backend === 'wasm') {
    registerWasmKernels();
    const threads = (opts.wasmThreads ?? 2) === 2 && availableParallelism() > 1 ? 2 : 1;
    await configureThreads(threads, opts.wasmThreadMode ?? 'pool');
  }
  const tfName = backend === 'tensorflow-gpu' ? 'tensorflow' : backend;
  let ok: boolean;
  try {
    ok = await tf.setBackend(tfName);
  } catch (error) {
    throw unavailable(backend, 'initialisation failed', error);
  }
  if (!ok) throw unavailable(backend, 'initialisation failed');
  await tf.ready();
}

function describeActive(): string {
  const name = tf.getBackend();
  if (name !== 'wasm') return name;
  if (wasmHelper() !== undefined) return 'wasm, 2 threads via a helper';
  const threads = wasmThreadCount();
  return `wasm, ${threads === 1 ? '1 thread' : `${threads} threads`}`;
}

/**
 * Activates a backend and registers polyhead's wasm training kernels. Calling
 * it again is cheap and switches backends if a different one is asked for.
 * Data created on one backend must not be used after switching to another.
 *
 * @throws PolyheadError `BACKEND_UNAVAILABLE` (kind `usage`) when an explicitly
 *   requested backend cannot load, e.g. `tensorflow` without `@tensorflow/tfjs-node`.
 * @example
 * const { name } = await initBackend('auto', { log: console.error });
 * // name === 'wasm' where no native binding is installed
 */
export async function initBackend(
  name: BackendName,
  opts: InitBackendOptions = {},
): Promise<BackendInfo> {
  const log = opts.log ?? (() => undefined);
  if (name !== 'auto') {
    await activate(name, opts);
    log(`backend: ${describeActive()}`);
    return { name: tf.getBackend(), requested: name };
  }
  const skipped: string[] = [];
  for (const candidate of AUTO_ORDER) {
    try {
      await activate(candidate, opts);
    } catch (error) {
      if (!(error instanceof PolyheadError) || candidate === 'cpu') throw error;
      skipped.push(`${candidate}: ${error.message.split(': ')[1]?.split('.')[0] ?? 'unavailable'}`);
      continue;
    }
    const why = skipped.length > 0 ? ` (auto; skipped ${skipped.join('; ')})` : ' (auto)';
    log(`backend: ${describeActive()}${why}`);
    return { name: tf.getBackend(), requested: name };
  }
  throw unavailable('cpu', 'no backend could be initialised');
}
