import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { serveStatic } from '@hono/node-server/serve-static';
import { MODEL_FILES } from '@polyhead/model';
import { Hono } from 'hono';

import type { AppEnv } from './env.js';
import { ApiError } from './errors.js';
import type { ModelHolder } from './model-holder.js';

/** The web page's files, shipped beside `dist`. */
export const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url));

/** The browser build of TensorFlow.js that the page's in-browser mode loads. */
const TFJS_BUNDLE = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs/package.json')),
  'dist/tf.es2017.min.js',
);

const MODEL_FILE_TYPES: Record<string, string> = {
  [MODEL_FILES.topology]: 'application/json',
  [MODEL_FILES.meta]: 'application/json',
  [MODEL_FILES.weights]: 'application/octet-stream',
};

/**
 * The web page: `GET /` and its files under `/static/`, the TensorFlow.js
 * browser bundle at `/static/tf.min.js`, and the served model's files under
 * `GET /v1/model/files/<name>` for the page's "run in the browser" mode.
 */
export function webRoutes(holder: ModelHolder): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const cache =
    (seconds: number) =>
    async (c: { header: (name: string, value: string) => void }, next: () => Promise<void>) => {
      await next();
      c.header('Cache-Control', `public, max-age=${seconds}`);
    };

  app.get('/', serveStatic({ path: path.join(PUBLIC_DIR, 'index.html') }));
  app.get('/static/tf.min.js', cache(86_400), serveStatic({ path: TFJS_BUNDLE }));
  app.get(
    '/static/*',
    cache(60),
    serveStatic({ root: PUBLIC_DIR, rewriteRequestPath: (p) => p.replace(/^\/static/, '') }),
  );

  app.get('/v1/model/files/:name', async (c) => {
    const name = c.req.param('name');
    const type = MODEL_FILE_TYPES[name];
    const dir = holder.dir;
    if (type === undefined || dir === undefined) {
      throw new ApiError(
        404,
        'not_found',
        `No model file "${name}"; the files are ${Object.keys(MODEL_FILE_TYPES).join(', ')}`,
      );
    }
    // Read per request, so a reload is picked up; the names above are the only ones served.
    const bytes = await readFile(path.join(dir, name));
    c.header('Content-Type', type);
    c.header('Cache-Control', 'no-cache');
    return c.body(new Uint8Array(bytes));
  });
  return app;
}
