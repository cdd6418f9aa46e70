/**
 * Picks the TensorFlow.js backend polyhead trains and predicts on. The native
 * bindings are optional peer dependencies, so they are loaded on demand and a
 * missing one is either skipped (`auto`) or reported with an install hint.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { PolyheadError } from '@polyhead/data';

import { registerWasmKernels } from './wasm-kernels.js';

/** Backends polyhead can run on; `auto` takes the fastest one that loads. */
export type BackendName = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** Options of {@link initBackend}. */
export interface InitBackendOptions {
  /** Receives one line naming the backend in use (and why, for `auto`); default: silent. */
  log?: (msg: string) => void;
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
  const pkg = backend === 'tensorflow' || backend === 'tensorflow-gpu' ? NATIVE_PACKAGES[backend] : undefined;
  const hint =
    pkg === undefined
      ? ''
      : ` Install it with \`pnpm add ${pkg}@${tf.version.tfjs}\`, or use \`--backend wasm\`, which works without it.`;
  return new PolyheadError('BACKEND_UNAVAILABLE', `The ${backend} backend is unavailable: ${detail}.${hint}`, {
    kind: 'usage',
    cause,
    details: { backend, ...(pkg === undefined ? {} : { package: pkg }) },
  });
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
    throw unavailable(backend, missing ? `${pkg} is not installed` : `${pkg} failed to load`, error);
  }
}

async function activate(backend: Concrete): Promise<void> {
  if (backend === 'tensorflow' || backend === 'tensorflow-gpu') await loadNative(backend);
  if (backend === 'wasm') registerWasmKernels();
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
export async function initBackend(name: BackendName, opts: InitBackendOptions = {}): Promise<BackendInfo> {
  const log = opts.log ?? (() => undefined);
  if (name !== 'auto') {
    await activate(name);
    log(`backend: ${tf.getBackend()}`);
    return { name: tf.getBackend(), requested: name };
  }
  const skipped: string[] = [];
  for (const candidate of AUTO_ORDER) {
    try {
      await activate(candidate);
    } catch (error) {
      if (!(error instanceof PolyheadError) || candidate === 'cpu') throw error;
      skipped.push(`${candidate}: ${error.message.split(': ')[1]?.split('.')[0] ?? 'unavailable'}`);
      continue;
    }
    const why = skipped.length > 0 ? ` (auto; skipped ${skipped.join('; ')})` : ' (auto)';
    log(`backend: ${tf.getBackend()}${why}`);
    return { name: tf.getBackend(), requested: name };
  }
  throw unavailable('cpu', 'no backend could be initialised');
}
