import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { serve } from '@hono/node-server';
import { PolyheadError } from '@polyhead/data';
import { initBackend, type BackendName } from '@polyhead/model';

import { createServing, type ServerOptions } from './app.js';
import { ModelHolder } from './model-holder.js';
import { createLogger } from './request-logger.js';

/** Options of {@link startServer}: those of `createApp` but the model, plus where and how to listen. */
export interface StartServerOptions extends Omit<ServerOptions, 'model' | 'isDraining'> {
  /** Model directory written by `polyhead train` (or `saveModelDir`). */
  modelDir: string;
  /** Port to listen on; 0 picks a free one. Default 8080. */
  port?: number;
  /** Address to listen on. Default `127.0.0.1`, reachable from this machine only. */
  host?: string;
  /** Compute backend: `auto`, `tensorflow-gpu`, `tensorflow`, `wasm` or `cpu`. Default `auto`. */
  backend?: string;
  /**
   * How long an idle keep-alive connection stays open, in ms. Keep it above the
   * idle timeout of the load balancer in front (60 s for many). Default 65 s.
   */
  keepAliveTimeoutMs?: number;
  /** Longest wait, in ms, for requests in flight when closing; then connections are cut. Default 10 s. */
  shutdownTimeoutMs?: number;
  /**
   * Close gracefully on SIGTERM and SIGINT and reload the model on SIGHUP.
   * For a process that only serves; default false.
   */
  handleSignals?: boolean;
}

/** A listening server. */
export interface RunningServer {
  /** The port in use, the chosen one when 0 was asked for. */
  port: number;
  /** Base URL, as `http://127.0.0.1:8080`. */
  url: string;
  /**
   * Stops accepting connections, answers `/readyz` with 503, lets requests in
   * flight finish (up to `shutdownTimeoutMs`), then frees the model.
   */
  close(): Promise<void>;
  /** Resolves once the server has closed, by {@link close} or a signal. */
  closed: Promise<void>;
  /** Swaps in a model directory (default: the served one, read again); the old one serves if it fails. */
  reload(dir?: string): Promise<void>;
}

const BACKENDS: readonly BackendName[] = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/**
 * Serves a model directory over HTTP. Listens first, so `/healthz` answers while
 * the model loads; then picks the backend, loads the model, runs one warm-up
 * prediction and turns `/readyz` to 200. Resolves once ready.
 *
 * @throws PolyheadError `SERVER_UNKNOWN_BACKEND`, `BACKEND_UNAVAILABLE`, or whatever
 *   loading the model throws; and the listen error (`EADDRINUSE`, say).
 * @example
 * const server = await startServer({ modelDir: 'runs/model', port: 0, maxBatch: 16 });
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
      { kind: 'usage', details: { backend } },
    );
  }
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? createLogger({ print: options.log, format: options.logFormat });
  let draining = false;
  const holder = new ModelHolder();
  const serving = createServing({ ...options, model: holder, logger, isDraining: () => draining });

  // Plain HTTP/1.1: @hono/node-server makes an http.Server unless told otherwise.
  const server = serve({
    fetch: serving.app.fetch,
    port: options.port ?? 8080,
    hostname: host,
  }) as Server;
  // Node's own backstops behind the JSON timeout: slow headers and bodies are cut.
  server.headersTimeout = 30_000;
  server.requestTimeout = (options.requestTimeoutMs ?? 30_000) + 5_000;
  // Longer than the client's idle timeout, so the client never reuses a connection as it closes.
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | undefined;
  let markClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  const signals: [NodeJS.Signals, () => void][] = [];

  const close = (): Promise<void> => {
    closing ??= (async () => {
      draining = true;
      for (const [signal, handler] of signals) process.off(signal, handler);
      logger.info({ queued: serving.batcher.depth }, 'shutting down: finishing requests in flight');
      const force = setTimeout(
        () => server.closeAllConnections(),
        options.shutdownTimeoutMs ?? 10_000,
      );
      // Keep-alive connections go idle as their last answers finish; close them as they do.
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      clearTimeout(force);
      clearInterval(sweep);
      await holder.close();
      logger.info('server closed');
      markClosed();
    })();
    return closing;
  };

  try {
    await initBackend(backend as BackendName, { log: (line) => logger.info(line) });
    await holder.reload(options.modelDir);
    serving.metrics.countReload(true);
  } catch (error) {
    serving.metrics.countReload(false);
    await close();
    throw error;
  }
  const { heads, inputSize } = holder.peek().meta.network;
  logger.info(
    { url, model: options.modelDir, heads: heads.map((h) => h.name), inputSize },
    'ready',
  );

  if (options.handleSignals) {
    const stop = () => void close();
    const reload = () => void serving.reload().catch(() => undefined);
    signals.push(['SIGTERM', stop], ['SIGINT', stop], ['SIGHUP', reload]);
    for (const [signal, handler] of signals) process.on(signal, handler);
  }

  return {
    port,
    url,
    close,
    closed,
    reload: async (dir) => void (await serving.reload(dir)),
  };
}
