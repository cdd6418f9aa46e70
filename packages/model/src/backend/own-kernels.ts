/**
 * polyhead's own WebAssembly kernels (`assembly/kernels.ts`, built into
 * `wasm/`), instantiated over the wasm backend's heap so that they read and
 * write its tensors in place. Where that heap is shared memory (the threaded
 * binary of `wasm-threads.ts`), a worker thread instantiates the same module
 * over the same memory and takes a share of each large call, so the kernels
 * use both cores without copying anything.
 */
import { readFileSync } from 'node:fs';
import {
  MessageChannel,
  type MessagePort,
  Worker,
  receiveMessageOnPort,
} from 'node:worker_threads';

import type { WasmBackend } from './wasm-heap.js';

/** The parts of the WebAssembly JS API used here (the DOM library that types it is not loaded). */
interface Memory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}
type CompiledModule = object;
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => CompiledModule;
  Instance: new (module: CompiledModule, imports: object) => { exports: object };
  Memory: abstract new (...args: never[]) => Memory;
}

const WebAssemblyJs = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

/** The kernels' exports; every pointer is a byte offset into the backend's heap. */
export interface OwnKernelExports {
  convFilterGrad(
    x: number,
    dy: number,
    dw: number,
    deltas: number,
    rowFirst: number,
    rowEnd: number,
    outC: number,
    segs: number,
    segCount: number,
    segLen: number,
    xStep: number,
    blockSegs: number,
  ): void;
  maxPoolGrad(
    x: number,
    dy: number,
    dx: number,
    first: number,
    end: number,
    inH: number,
    inW: number,
    c: number,
    outH: number,
    outW: number,
    kh: number,
    kw: number,
    strideH: number,
    strideW: number,
    dilationH: number,
    dilationW: number,
    padTop: number,
    padLeft: number,
  ): void;
  bnMoments(x: number, shift: number, c: number, first: number, end: number, out: number): void;
  bnGradSums(
    dy: number,
    x: number,
    mean: number,
    c: number,
    first: number,
    end: number,
    out: number,
  ): void;
  channelAffine(
    p: number,
    q: number,
    a: number,
    b: number,
    e: number,
    y: number,
    c: number,
    first: number,
    end: number,
  ): void;
}

/** Names of the exports a worker can run. */
export type OwnKernelName = keyof OwnKernelExports;

const KERNEL_NAMES: OwnKernelName[] = [
  'convFilterGrad',
  'maxPoolGrad',
  'bnMoments',
  'bnGradSums',
  'channelAffine',
];

// Control block shared with the worker: [state, kernel index, argument count, arguments...].
const IDLE = 0;
const POSTED = 1;
const DONE = 2;
const FAILED = 3;
const READY = 4;
const MAX_ARGS = 32;
/** How long a worker may take to start before the kernels run on one thread instead. */
const START_TIMEOUT_MS = 10_000;

// Runs in the worker (CommonJS from a string, so it works from the sources and the build).
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, names, port } = workerData;
const state = new Int32Array(control, 0, 3);
const args = new Uint32Array(control, 12);
function fail(error) {
  port.postMessage({ error: String((error && error.stack) || error) });
  Atomics.store(state, 0, ${FAILED});
  Atomics.notify(state, 0);
}
function serve(kernels) {
  for (;;) {
    let s = Atomics.load(state, 0);
    while (s !== ${POSTED}) {
      Atomics.wait(state, 0, s);
      s = Atomics.load(state, 0);
    }
    try {
      // Reading the buffer brings this thread's view of the shared memory up to date
      // after another thread grew it.
      void memory.buffer.byteLength;
      kernels[names[state[1]]](...args.subarray(0, state[2]));
      Atomics.store(state, 0, ${DONE});
      Atomics.notify(state, 0);
    } catch (error) {
      fail(error);
    }
  }
}
let kernels;
try {
  kernels = new WebAssembly.Instance(module, { env: { memory } }).exports;
} catch (error) {
  fail(error);
}
if (kernels !== undefined) {
  Atomics.store(state, 0, ${READY});
  Atomics.notify(state, 0);
  serve(kernels);
}
`;

/**
 * A worker thread running the kernels over shared memory. One call at a
 * time: `start` it, run the caller's share, then `finish`.
 */
class KernelWorker {
  private running: OwnKernelName | undefined;
  private runningArgs: number[] = [];
  private warned = false;

  private constructor(
    private readonly worker: Worker,
    private readonly port: MessagePort,
    private readonly state: Int32Array,
    private readonly args: Uint32Array,
  ) {}

  /** Starts a worker and waits until it is ready; undefined where it cannot start. */
  static create(module: CompiledModule, memory: Memory): KernelWorker | undefined {
    const control = new SharedArrayBuffer(12 + 4 * MAX_ARGS);
    const state = new Int32Array(control, 0, 3);
    const { port1, port2 } = new MessageChannel();
    let worker: Worker;
    try {
      worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { module, memory, control, names: KERNEL_NAMES, port: port2 },
        transferList: [port2],
      });
    } catch {
      return undefined;
    }
    worker.unref();
    port1.unref();
    // Kernels are synchronous, so is the start: the worker boots while this thread waits.
    const deadline = performance.now() + START_TIMEOUT_MS;
    let left = START_TIMEOUT_MS;
    while (Atomics.load(state, 0) === IDLE && left > 0) {
      Atomics.wait(state, 0, IDLE, left);
      left = deadline - performance.now();
    }
    if (Atomics.load(state, 0) !== READY) {
      void worker.terminate();
      return undefined;
    }
    return new KernelWorker(worker, port1, state, new Uint32Array(control, 12));
  }

  /** Wakes the worker on `kernel` with integer arguments `args`. */
  start(kernel: OwnKernelName, args: number[]): void {
    if (this.running !== undefined) throw new Error('own kernels: the worker is already running');
    if (args.length > MAX_ARGS) throw new Error(`own kernels: ${kernel} takes too many arguments`);
    this.args.set(args);
    this.state[1] = KERNEL_NAMES.indexOf(kernel);
    this.state[2] = args.length;
    this.running = kernel;
    this.runningArgs = args;
    Atomics.store(this.state, 0, POSTED);
    Atomics.notify(this.state, 0);
  }

  /**
   * Blocks until the worker's share is done. Every kernel writes (never
   * accumulates into) its share, so a share that failed in the worker is run
   * again on this thread, with one warning naming the worker's error.
   */
  finish(own: OwnKernelExports): void {
    const kernel = this.running;
    if (kernel === undefined) throw new Error('own kernels: the worker is not running');
    this.running = undefined;
    // A wait can return "ok" with the job still posted (seen once in 57,000 calls over five
    // demo runs), so only the worker's own flag ends it: taking over a share the worker still
    // writes would let its late DONE overwrite the next job's POSTED.
    let outcome = Atomics.load(this.state, 0);
    while (outcome === POSTED) {
      Atomics.wait(this.state, 0, POSTED);
      outcome = Atomics.load(this.state, 0);
    }
    Atomics.store(this.state, 0, READY);
    if (outcome === DONE) return;
    // The worker posts its error just before flagging; give the message a moment to arrive.
    let message = receiveMessageOnPort(this.port)?.message as { error?: string } | undefined;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 100 && message === undefined; i++) {
      Atomics.wait(pause, 0, 0, 10);
      message = receiveMessageOnPort(this.port)?.message as { error?: string } | undefined;
    }
    if (!this.warned) {
      this.warned = true;
      const why = message?.error ?? `no error reported, state ${outcome}`;
      process.emitWarning(
        `own kernels: ${kernel} failed in the worker (${why}); its share ran on the main thread`,
      );
    }
    (own[kernel] as (...a: number[]) => void)(...this.runningArgs);
  }

  close(): void {
    void this.worker.terminate();
  }
}

/** The kernels over one backend's heap, and the worker sharing it if any. */
export interface OwnKernels {
  exports: OwnKernelExports;
  worker: KernelWorker | undefined;
}

/** Module file next to the package's `src/` and `dist/`. */
function moduleFile(shared: boolean): URL {
  return new URL(`../../wasm/kernels${shared ? '-shared' : ''}.wasm`, import.meta.url);
}

const modules = new Map<boolean, CompiledModule>();

function compiled(shared: boolean): CompiledModule {
  let module = modules.get(shared);
  if (module === undefined) {
    const file = moduleFile(shared);
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (error) {
      throw new Error(
        `own kernels: ${file.pathname} is missing; build @polyhead/model (\`pnpm build\`) to create it`,
        { cause: error },
      );
    }
    module = new WebAssemblyJs.Module(bytes);
    modules.set(shared, module);
  }
  return module;
}

/** The backend module's memory: exported by the plain binary, handed in for the threaded one. */
function backendMemory(backend: WasmBackend): Memory {
  const wasm = backend.wasm as unknown as {
    wasmMemory?: Memory;
    asm?: { memory?: Memory };
  };
  const memory = wasm.wasmMemory ?? wasm.asm?.memory;
  if (!(memory instanceof WebAssemblyJs.Memory))
    throw new Error('own kernels: the wasm backend exposes no Memory');
  return memory;
}

let current: (OwnKernels & { memory: Memory }) | undefined;

/**
 * The kernels over `backend`'s heap, instantiated on first use (and again
 * when the backend, and so its memory, changes).
 */
export function ownKernels(backend: WasmBackend): OwnKernels {
  const memory = backendMemory(backend);
  if (current?.memory === memory) return current;
  current?.worker?.close();
  const shared = memory.buffer instanceof SharedArrayBuffer;
  const module = compiled(shared);
  const exports = new WebAssemblyJs.Instance(module, { env: { memory } })
    .exports as unknown as OwnKernelExports;
  const worker = shared ? KernelWorker.create(module, memory) : undefined;
  const made = { memory, exports, worker };
  current = made;
  return made;
}

/**
 * Runs `kernel` with `own` arguments on this thread and, where `theirs` is
 * given (only when `kernels.worker` runs), with `theirs` on the worker at the
 * same time; returns when both are done.
 */
export function runShared(
  kernels: OwnKernels,
  kernel: OwnKernelName,
  own: readonly number[],
  theirs?: readonly number[],
): void {
  const worker = theirs === undefined ? undefined : kernels.worker;
  if (theirs !== undefined && worker === undefined)
    throw new Error(`own kernels: ${kernel} was split, but no worker runs`);
  worker?.start(kernel, [...theirs!]);
  try {
    (kernels.exports[kernel] as (...a: readonly number[]) => void)(...own);
  } finally {
    worker?.finish(kernels.exports);
  }
}
