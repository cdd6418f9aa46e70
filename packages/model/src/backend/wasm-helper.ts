/**
 * A second wasm backend in a worker thread, so that the batch-splittable
 * convolution kernels can use a second core. The wasm backend runs one thread
 * under Node, and kernels are synchronous, so the hand-off is synchronous too:
 * the caller writes the worker's inputs into shared memory, wakes it, computes
 * its own share, then blocks on `Atomics.wait` until the worker is done.
 */
import { createRequire } from 'node:module';
import {
  MessageChannel,
  type MessagePort,
  Worker,
  receiveMessageOnPort,
} from 'node:worker_threads';

import type * as tf from '@tensorflow/tfjs';

/** One input of a helper job: its shape and a callback that writes its values. */
export interface HelperInput {
  shape: number[];
  fill: (dst: Float32Array) => void;
}

interface JobMessage {
  kernel: string;
  buffer: SharedArrayBuffer;
  inputs: Record<string, { shape: number[]; offset: number }>;
  attrs: tf.NamedAttrMap;
  outOffset: number;
  outLength: number;
}

// Flag states shared with the worker.
const IDLE = 0;
const POSTED = 1;
const DONE = 2;
const FAILED = 3;

// Runs in the worker (CommonJS, evaluated from this string so that it works
// from both the built package and the TypeScript sources under test).
const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const tf = require(workerData.tfjsPath);
require(workerData.wasmPath);
const flag = new Int32Array(workerData.flag);
const port = workerData.port;
tf.setBackend('wasm').then((ok) => {
  port.postMessage({ ready: ok });
  if (!ok) return;
  for (;;) {
    let state = Atomics.load(flag, 0);
    while (state !== ${POSTED}) {
      Atomics.wait(flag, 0, state);
      state = Atomics.load(flag, 0);
    }
    const job = receiveMessageOnPort(port).message;
    try {
      // The copy happens inside tidy: returning a typed array from it would make
      // tidy walk every element looking for tensors.
      tf.tidy(() => {
        const inputs = {};
        for (const [name, v] of Object.entries(job.inputs)) {
          const size = v.shape.reduce((a, b) => a * b, 1);
          inputs[name] = tf.tensor(new Float32Array(job.buffer, v.offset, size), v.shape, 'float32');
        }
        const result = tf.engine().runKernel(job.kernel, inputs, job.attrs);
        const out = (Array.isArray(result) ? result[0] : result).dataSync();
        new Float32Array(job.buffer, job.outOffset, job.outLength).set(out.subarray(0, job.outLength));
      });
      Atomics.store(flag, 0, ${DONE});
    } catch (error) {
      port.postMessage({ error: String(error && error.stack || error) });
      Atomics.store(flag, 0, ${FAILED});
    }
    Atomics.notify(flag, 0);
  }
});
`;

/**
 * Handle on the helper thread. One job runs at a time: `start` it, do the
 * caller's share, then `finish` to get the worker's output (a view into
 * shared memory, valid until the next `start`).
 */
export class WasmHelper {
  private buffer = new SharedArrayBuffer(1 << 20);
  private pending: JobMessage | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly port: MessagePort,
    private readonly flag: Int32Array,
  ) {}

  /** Starts the worker; resolves once its wasm backend is ready, or to `undefined` if it cannot start. */
  static async create(): Promise<WasmHelper | undefined> {
    const require = createRequire(import.meta.url);
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const { port1, port2 } = new MessageChannel();
    let worker: Worker;
    try {
      worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          tfjsPath: require.resolve('@tensorflow/tfjs'),
          wasmPath: require.resolve('@tensorflow/tfjs-backend-wasm'),
          flag: flag.buffer,
          port: port2,
        },
        transferList: [port2],
        stdout: true,
        stderr: true,
      });
    } catch {
      return undefined;
    }
    const ready = await new Promise<boolean>((resolve) => {
      port1.once('message', (m: { ready?: boolean }) => resolve(m.ready === true));
      worker.once('error', () => resolve(false));
      worker.once('exit', () => resolve(false));
    });
    worker.unref();
    port1.unref();
    if (!ready) {
      await worker.terminate();
      return undefined;
    }
    return new WasmHelper(worker, port1, flag);
  }

  /** Copies the inputs into shared memory and wakes the worker on `kernel`. */
  start(
    kernel: string,
    inputs: Record<string, HelperInput>,
    attrs: tf.NamedAttrMap,
    outLength: number,
  ): void {
    if (this.pending !== undefined) throw new Error('wasm helper: a job is already running');
    const sizes = Object.values(inputs).map((v) => v.shape.reduce((a, b) => a * b, 1));
    const total = (sizes.reduce((a, b) => a + b, 0) + outLength) * 4;
    if (this.buffer.byteLength < total)
      this.buffer = new SharedArrayBuffer(Math.max(total, 2 * this.buffer.byteLength));
    const job: JobMessage = {
      kernel,
      buffer: this.buffer,
      inputs: {},
      attrs,
      outOffset: 0,
      outLength,
    };
    let offset = 0;
    Object.entries(inputs).forEach(([name, v], i) => {
      v.fill(new Float32Array(this.buffer, offset, sizes[i]));
      job.inputs[name] = { shape: v.shape, offset };
      offset += sizes[i] * 4;
    });
    job.outOffset = offset;
    this.port.postMessage(job);
    this.pending = job;
    Atomics.store(this.flag, 0, POSTED);
    Atomics.notify(this.flag, 0);
  }

  /** Blocks until the running job ends and returns its output. */
  finish(): Float32Array {
    const job = this.pending;
    if (job === undefined) throw new Error('wasm helper: no job is running');
    this.pending = undefined;
    Atomics.wait(this.flag, 0, POSTED);
    const state = Atomics.load(this.flag, 0);
    Atomics.store(this.flag, 0, IDLE);
    Atomics.notify(this.flag, 0);
    if (state !== DONE) {
      const message = receiveMessageOnPort(this.port)?.message as { error?: string } | undefined;
      throw new Error(
        `wasm helper: ${job.kernel} failed in the worker: ${message?.error ?? 'unknown error'}`,
      );
    }
    return new Float32Array(job.buffer, job.outOffset, job.outLength);
  }

  /** Stops the worker thread. */
  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
