import { Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { bodyLimit } from 'hono/body-limit';

import type { AppEnv } from './env.js';
import { ApiError } from './errors.js';
import type { ServerMetrics } from './metrics.js';
import type { ModelHolder } from './model-holder.js';
import type { Logger } from './request-logger.js';

/** What {@link reloadModel} needs. */
export interface ReloadDeps {
  holder: ModelHolder;
  logger: Logger;
  metrics?: ServerMetrics;
}

/** The answer of a successful reload. */
export interface ReloadResult {
  status: 'reloaded';
  model: { dir: string; createdAt: string; heads: string[] };
}

/**
 * Loads `dir` (default: the directory being served, read again) and swaps it in.
 * Requests in flight finish on the old model; a model that fails to load leaves
 * the old one serving.
 *
 * @throws ApiError 422 `reload_failed` with the load error's message.
 */
export async function reloadModel(deps: ReloadDeps, dir?: string): Promise<ReloadResult> {
  const { holder, logger, metrics } = deps;
  const started = performance.now();
  try {
    const loaded = await holder.reload(dir);
    metrics?.countReload(true);
    const { meta } = loaded.predictor;
    const heads = meta.network.heads.map((h) => h.name);
    logger.info(
      { dir: loaded.dir, heads, ms: Math.round(performance.now() - started) },
      'model loaded',
    );
    return { status: 'reloaded', model: { dir: loaded.dir, createdAt: meta.createdAt, heads } };
  } catch (error) {
    if (error instanceof ApiError) throw error;
    metrics?.countReload(false);
    const message = error instanceof Error ? error.message : String(error);
    logger.warn(
      { err: error, dir: dir ?? holder.dir },
      'model reload failed; the old model keeps serving',
    );
    throw new ApiError(
      422,
      'reload_failed',
      `Reload failed, the old model keeps serving: ${message}`,
      {
        cause: error,
        details: { dir: dir ?? holder.dir ?? null },
      },
    );
  }
}

/** Options of {@link adminRoutes}. */
export interface AdminRoutesOptions extends ReloadDeps {
  /** Bearer token the admin routes require; without one they answer 403. */
  adminKey: string | undefined;
}

/**
 * `POST /v1/admin/reload`, optionally with `{"modelDir": "<dir>"}`: swaps in a
 * model directory without dropping requests.
 */
export function adminRoutes(options: AdminRoutesOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { adminKey } = options;
  app.use(
    '/v1/admin/*',
    adminKey === undefined
      ? () => {
          throw new ApiError(
            403,
            'forbidden',
            'Admin routes are off; start the server with an admin or API key to use them',
          );
        }
      : bearerAuth({ token: adminKey }),
  );
  const small = bodyLimit({
    maxSize: 64 * 1024,
    onError: () => {
      throw new ApiError(413, 'payload_too_large', 'The reload body is over 64 KiB', {
        details: { limit: 64 * 1024 },
      });
    },
  });
  app.post('/v1/admin/reload', small, async (c) => {
    const text = await c.req.text();
    let dir: string | undefined;
    if (text.trim() !== '') {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (error) {
        throw new ApiError(400, 'bad_request', 'The body must be JSON: {"modelDir": "<dir>"}', {
          cause: error,
        });
      }
      const value = (body as { modelDir?: unknown } | null)?.modelDir;
      if (value !== undefined && (typeof value !== 'string' || value === '')) {
        throw new ApiError(400, 'bad_request', '"modelDir" must be a non-empty string', {
          details: { parameter: 'modelDir' },
        });
      }
      dir = value;
    }
    return c.json(await reloadModel(options, dir));
  });
  return app;
}
