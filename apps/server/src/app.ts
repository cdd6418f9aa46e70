import type { Predictor } from '@polyhead/model';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';

import { ApiError, toApiError } from './errors.js';
import { describeModel } from './model-info.js';
import { predictRoute } from './predict-route.js';
import { requestLogger, stderrPrinter, type PrintFn } from './request-logger.js';

/** Default largest image, in bytes: 10 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 10 * 2 ** 20;

/** Options of {@link createApp}. */
export interface ServerOptions {
  /**
   * The model to answer with, or a function returning the current one, read once
   * per request, so a reload can swap models between requests.
   */
  predictor: Predictor | (() => Predictor);
  /**
   * Largest image accepted, in bytes. A request body may exceed it by a tenth
   * (at least 1 KiB) for multipart framing; larger bodies are cut off while they
   * stream in. Default 10 MiB.
   */
  maxBodyBytes?: number;
  /** Receives one line per request and the stack of every unexpected error. Default: stderr. */
  log?: PrintFn;
}

/** Routes and the methods they answer, for 405 answers. */
const ROUTES: Record<string, string> = {
  '/v1/predict': 'POST',
  '/v1/model': 'GET',
  '/healthz': 'GET',
};

/**
 * The HTTP API over a polyhead model: `POST /v1/predict`, `GET /v1/model` and
 * `GET /healthz`. Every error answers `{"error": {"code", "message"}}`.
 *
 * @example
 * const predictor = await Predictor.load('runs/model');
 * const app = createApp({ predictor, log: (line) => console.error(line) });
 * const res = await app.request('/healthz'); // {"status":"ok"}
 */
export function createApp(options: ServerOptions): Hono {
  const { predictor } = options;
  const current = typeof predictor === 'function' ? predictor : () => predictor;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new RangeError(`maxBodyBytes must be a positive integer, got ${maxBodyBytes}`);
  }
  const fallback = options.log === undefined ? stderrPrinter() : undefined;
  const log = options.log ?? fallback!.print;
  const app = new Hono();

  app.use(requestLogger(log, { color: fallback?.color }));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/v1/model', (c) => c.json(describeModel(current().meta)));

  app.post(
    '/v1/predict',
    bodyLimit({
      maxSize: maxBodyBytes + Math.max(1024, Math.ceil(maxBodyBytes / 10)),
      onError: () => {
        throw new ApiError(
          413,
          'payload_too_large',
          `The request body is over the limit of ${maxBodyBytes} bytes per image`,
          {
            details: { limit: maxBodyBytes },
          },
        );
      },
    }),
    (c) => predictRoute(c, current(), maxBodyBytes),
  );

  for (const [path, method] of Object.entries(ROUTES)) {
    app.all(path, (c) => {
      c.header('Allow', method === 'GET' ? 'GET, HEAD' : method);
      throw new ApiError(
        405,
        'method_not_allowed',
        `${c.req.method} ${path} is not supported; use ${method}`,
      );
    });
  }

  app.notFound((c) => {
    const error = new ApiError(404, 'not_found', `No route for ${c.req.method} ${c.req.path}`);
    return c.json(error.toBody(), 404);
  });

  app.onError((err, c) => {
    const error = toApiError(err);
    if (error.status >= 500) log(`error on ${c.req.method} ${c.req.path}: ${stackOf(err)}`);
    return c.json(error.toBody(), error.status);
  });

  return app;
}

function stackOf(error: unknown): string {
  return error instanceof Error
    ? (error.stack ?? `${error.name}: ${error.message}`)
    : String(error);
}
