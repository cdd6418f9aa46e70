import type { Predictor } from '@polyhead/model';
import { Hono, type Context, type MiddlewareHandler, type Next } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { bodyLimit } from 'hono/body-limit';
import { every } from 'hono/combine';
import { cors } from 'hono/cors';
import { requestId } from 'hono/request-id';
import { timeout } from 'hono/timeout';

import { adminRoutes, reloadModel, type ReloadResult } from './admin-route.js';
import { MicroBatcher } from './batcher.js';
import type { AppEnv } from './env.js';
import { ApiError, toApiError } from './errors.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import { describeModel } from './model-info.js';
import { ModelHolder } from './model-holder.js';
import { openApiDocument } from './openapi.js';
import { predictRoute, type PredictDeps } from './predict-route.js';
import {
  createLogger,
  requestLogger,
  type LogFormat,
  type Logger,
  type PrintFn,
} from './request-logger.js';
import { webRoutes } from './web-route.js';

/** Default largest image, in bytes: 10 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 10 * 2 ** 20;

/** Defaults of the limits in {@link ServerOptions}. */
export const SERVER_DEFAULTS = {
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  maxImagesPerRequest: 64,
  maxBatch: 32,
  batchWindowMs: 5,
  maxQueue: 256,
  requestTimeoutMs: 30_000,
} as const;

/** Options of {@link createApp}. */
export interface ServerOptions {
  /** The model to answer with, or a holder that swaps models on reload. */
  model: Predictor | ModelHolder;
  /**
   * Largest image accepted, in bytes. A request body may exceed it by a tenth
   * (at least 1 KiB) for multipart framing, and base64 JSON by a third more;
   * larger bodies are cut off while they stream in. Default 10 MiB.
   */
  maxBodyBytes?: number;
  /** Pixel limit; the lower of it and the model's `preprocessing.maxPixels` applies. */
  maxPixels?: number;
  /** Most images in one request. Default 64. */
  maxImagesPerRequest?: number;
  /** Most images in one forward pass. Default 32. */
  maxBatch?: number;
  /** Longest wait, in ms, for more images to share a forward pass. Default 5. */
  batchWindowMs?: number;
  /** Most images waiting for a forward pass; beyond it requests get 503. Default 256. */
  maxQueue?: number;
  /** Time a prediction request may take, in ms, before it answers 504. Default 30 s. */
  requestTimeoutMs?: number;
  /** When set, every `/v1` route needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Key of `POST /v1/admin/reload`; default `apiKey`. Without either, reloading over HTTP is off. */
  adminKey?: string;
  /** Origins allowed to call the API from a browser (`*` for any). Default: none. */
  corsOrigins?: string[];
  /** The logger; default one built from `log` and `logFormat`. */
  logger?: Logger;
  /** Receives each log line. Default: stderr. */
  log?: PrintFn;
  /** Default `json`. */
  logFormat?: LogFormat;
  /** True while the server shuts down: `/readyz` answers 503 so balancers stop sending. */
  isDraining?: () => boolean;
}

/** Routes and the methods they answer, for 405 answers. */
const ROUTES: Record<string, string> = {
  '/v1/predict': 'POST',
  '/v1/predict/batch': 'POST',
  '/v1/model': 'GET',
  '/v1/admin/reload': 'POST',
  '/healthz': 'GET',
  '/readyz': 'GET',
  '/metrics': 'GET',
  '/openapi.json': 'GET',
};

/** The app and the parts of it a running server drives (reload, shutdown). */
export interface Serving {
  app: Hono<AppEnv>;
  holder: ModelHolder;
  batcher: MicroBatcher;
  metrics: ServerMetrics;
  logger: Logger;
  /** Reloads the model as `POST /v1/admin/reload` does. */
  reload(dir?: string): Promise<ReloadResult>;
}

/**
 * The HTTP API over a polyhead model: predictions (single, multi-image, batch),
 * model description, health, readiness, Prometheus metrics, the OpenAPI
 * document, hot reload and the web page. Every error answers
 * `{"error": {"code", "message"}}`.
 *
 * @example
 * const predictor = await Predictor.load('runs/model');
 * const app = createApp({ model: predictor, maxBatch: 16, log: (line) => console.error(line) });
 * const res = await app.request('/healthz'); // {"status":"ok"}
 */
export function createApp(options: ServerOptions): Hono<AppEnv> {
  return createServing(options).app;
}

/** {@link createApp}, returning the parts as well. */
export function createServing(options: ServerOptions): Serving {
  const o = { ...SERVER_DEFAULTS, ...withoutUndefined(options) };
  for (const key of ['maxBodyBytes', 'maxImagesPerRequest', 'requestTimeoutMs'] as const) {
    if (!Number.isSafeInteger(o[key]) || o[key] < 1) {
      throw new RangeError(`${key} must be a positive integer, got ${o[key]}`);
    }
  }
  const holder =
    options.model instanceof ModelHolder ? options.model : ModelHolder.of(options.model);
  const logger = options.logger ?? createLogger({ print: options.log, format: options.logFormat });
  const batcher = new MicroBatcher({
    maxBatch: o.maxBatch,
    windowMs: o.batchWindowMs,
    maxQueue: o.maxQueue,
    onBatch: (size, ms) => metrics.observeBatch(size, ms / 1000),
  });
  const metrics = createMetrics({ queueDepth: () => batcher.depth });
  const deps: PredictDeps = {
    holder,
    batcher,
    metrics,
    limits: { maxImageBytes: o.maxBodyBytes, maxImages: o.maxImagesPerRequest },
    maxPixels: options.maxPixels,
    timeoutMs: o.requestTimeoutMs,
  };
  const app = new Hono<AppEnv>();

  app.use(requestId(), requestLogger(logger), metrics.middleware);
  if (options.corsOrigins?.length) {
    const origins = options.corsOrigins;
    app.use(
      cors({
        origin: origins.includes('*') ? '*' : origins,
        allowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
        exposeHeaders: ['X-Request-Id', 'Retry-After'],
        maxAge: 600,
      }),
    );
  }
  if (options.apiKey !== undefined) {
    const auth = bearerAuth<AppEnv>({ token: options.apiKey });
    // Admin routes check their own key, which may differ.
    app.use('/v1/*', (c, next) => (c.req.path.startsWith('/v1/admin/') ? next() : auth(c, next)));
  }

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    if (options.isDraining?.()) {
      throw new ApiError(503, 'not_ready', 'The server is shutting down');
    }
    const model = holder.peek();
    return c.json({
      status: 'ready',
      model: { dir: holder.dir ?? null, createdAt: model.meta.createdAt },
    });
  });
  app.get('/metrics', async (c) => {
    c.header('Content-Type', metrics.registry.contentType);
    return c.body(await metrics.registry.metrics());
  });
  app.get('/openapi.json', (c) => c.json(openApiDocument()));
  app.get('/v1/model', (c) => c.json(describeModel(holder.peek().meta)));

  const guard = predictGuard(o.maxBodyBytes, o.requestTimeoutMs, holder);
  app.post('/v1/predict', guard, (c) => predictRoute(c, deps, 'single'));
  app.post('/v1/predict/batch', guard, (c) => predictRoute(c, deps, 'batch'));
  const reloadDeps = { holder, logger, metrics };
  app.route('/', adminRoutes({ ...reloadDeps, adminKey: options.adminKey ?? options.apiKey }));
  app.route('/', webRoutes(holder));

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
    c.set('errorCode', error.code);
    return c.json(error.toBody(), 404);
  });

  app.onError((err, c) => {
    const error = toApiError(err);
    c.set('errorCode', error.code);
    if (error.status >= 500 && error.code === 'internal_error') {
      logger.error(
        { err, reqId: c.get('requestId') },
        `unexpected error on ${c.req.method} ${c.req.path}`,
      );
    }
    return c.json(error.toBody(), error.status, error.headers);
  });

  return { app, holder, batcher, metrics, logger, reload: (dir) => reloadModel(reloadDeps, dir) };
}

/**
 * The checks before a prediction reads its body: a model is loaded, the answer
 * comes within the timeout, and the body streams in under the limit (base64
 * JSON gets a third more room than raw bytes).
 */
function predictGuard(
  maxBodyBytes: number,
  timeoutMs: number,
  holder: ModelHolder,
): MiddlewareHandler<AppEnv> {
  const tooLarge = () =>
    new ApiError(
      413,
      'payload_too_large',
      `The request body is over the limit of ${maxBodyBytes} bytes per image`,
      { details: { limit: maxBodyBytes } },
    );
  const framed = (bytes: number) => bytes + Math.max(1024, Math.ceil(bytes / 10));
  const sizes = { binary: framed(maxBodyBytes), json: framed(Math.ceil(maxBodyBytes / 3) * 4) };
  const limits = {
    binary: bodyLimit({ maxSize: sizes.binary, onError: () => Promise.reject(tooLarge()) }),
    json: bodyLimit({ maxSize: sizes.json, onError: () => Promise.reject(tooLarge()) }),
  };
  return every(
    async (_c: Context<AppEnv>, next: Next) => {
      // Refuse before reading anything when no model can answer.
      holder.peek();
      await next();
    },
    timeout(
      timeoutMs,
      () =>
        new ApiError(504, 'timeout', `The prediction took longer than ${timeoutMs} ms`, {
          details: { limit: timeoutMs },
        }),
    ),
    (c: Context<AppEnv>, next: Next) => {
      const kind = c.req.header('content-type')?.includes('json') ? 'json' : 'binary';
      // NOTE: a declared length is checked here, from the headers alone: bodyLimit would first
      // open the body stream, which then holds the connection paused, so the server could not
      // drain the unread body and keep the connection for the client's next request.
      const declared = c.req.header('transfer-encoding')
        ? undefined
        : c.req.header('content-length');
      if (declared !== undefined && Number(declared) > sizes[kind]) throw tooLarge();
      return limits[kind](c, next);
    },
  );
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
