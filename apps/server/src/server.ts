import type { AddressInfo } from 'node:net';

import { serve } from '@hono/node-server';
import { PolyheadError } from '@polyhead/data';
import { initBackend, Predictor, type BackendName } from '@polyhead/model';

import { createApp } from './app.js';
import { stderrPrinter, type PrintFn } from './request-logger.js';

/** Options of {@link startServer}. */
export interface StartServerOptions {
  /** Model directory written by `polyhead train` (or `saveModelDir`). */
  modelDir: string;
  /** Port to listen on; 0 picks a free one. Default 8080. */
  port?: number;
  /** Address to listen on. Default `127.0.0.1`, reachable from this machine only. */
  host?: string;
  /** Compute backend: `auto`, `tensorflow-gpu`, `tensorflow`, `wasm` or `cpu`. Default `auto`. */
  backend?: string;
  /** Largest image accepted, in bytes, as in `createApp`. Default 10 MiB. */
  maxBodyBytes?: number;
  /** Receives request lines, start-up lines and error stacks. Default: stderr. */
  log?: PrintFn;
}

/** A listening server. */
export interface RunningServer {
  /** The port in use, the chosen one when 0 was asked for. */
  port: number;
  /** Base URL, as `http://127.0.0.1:8080`. */
  url: string;
  /** Stops accepting connections, lets requests in flight finish, then frees the model. */
  close(): Promise<void>;
}

const BACKENDS: readonly BackendName[] = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/**
 * Loads a model directory and serves it over HTTP: picks the backend, loads the
 * model, runs one dummy prediction so the first request is not slow, and listens.
 *
 * @throws PolyheadError `SERVER_UNKNOWN_BACKEND`, `BACKEND_UNAVAILABLE`, or whatever
 *   loading the model throws; and the listen error (`EADDRINUSE`, say).
 * @example
 * const server = await startServer({ modelDir: 'runs/model', port: 0 });
 * const res = await fetch(`${server.url}/v1/predict`, {
 *   method: 'POST',
 *   headers: { 'content-type': 'image/png' },
 *   body: await readFile('shirt.png'),
 * });
 * console.log(await res.json()); // { heads: { color: { label: 'red', score: 0.97 }, … } }
 * await server.close();
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const backend = options.backend ?? 'auto';
  if (!BACKENDS.includes(backend as BackendName)) {
    throw new PolyheadError(
      'SERVER_UNKNOWN_BACKEND',
      `Unknown backend "${backend}"; expected one of ${BACKENDS.join(', ')}`,
      {
        kind: 'usage',
        details: { backend },
      },
    );
  }
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? stderrPrinter().print;
  await initBackend(backend as BackendName, { log });

  const predictor = await Predictor.load(options.modelDir);
  let server: ReturnType<typeof serve>;
  try {
    const { inputSize, heads } = predictor.meta.network;
    await predictor.predictPixels(new Float32Array(inputSize * inputSize * 3), 1);
    log(
      `model: ${options.modelDir} (heads ${heads.map((h) => h.name).join(', ')}; input ${inputSize}×${inputSize})`,
    );

    const app = createApp({ predictor, maxBodyBytes: options.maxBodyBytes, log: options.log });
    server = serve({ fetch: app.fetch, port: options.port ?? 8080, hostname: host });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } catch (error) {
    predictor.dispose();
    throw error;
  }

  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
      }).finally(() => predictor.dispose());
      return closing;
    },
  };
}
