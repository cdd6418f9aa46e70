import { Command, Option } from 'commander';
import { PolyheadError } from '@polyhead/data';

import type { Output } from '../output.js';
import { nonNegativeInt, positiveInt, positiveNumber } from '../options.js';

interface ServeFlags {
  model?: string;
  port?: number;
  host?: string;
  backend?: string;
  maxBodyMb?: number;
  maxPixels?: number;
  maxImages?: number;
  maxBatch?: number;
  batchWindowMs?: number;
  maxQueue?: number;
  requestTimeoutMs?: number;
  shutdownTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  apiKey?: string;
  adminKey?: string;
  corsOrigin?: string[];
  logFormat?: 'json' | 'text';
}

/** `--cors-origin a,b --cors-origin c` → `[a, b, c]`. */
function originList(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((v) => v.trim()).filter(Boolean)];
}

/**
 * `polyhead serve`: the HTTP server over a model directory. Every flag falls back
 * to the environment variable named in its help (`--max-batch` to
 * `POLYHEAD_MAX_BATCH`), then to the server's default.
 */
export function serveCommand(out: Output): Command {
  return new Command('serve')
    .description(
      'serve a model over HTTP: POST /v1/predict and /v1/predict/batch, GET /v1/model, /healthz, /readyz, ' +
        '/metrics, /openapi.json and a web page at /; SIGTERM drains and exits, SIGHUP reloads the model',
    )
    .option('--model <dir>', 'model directory (env POLYHEAD_MODEL)')
    .option('--port <n>', 'port, 0 picks a free one (env POLYHEAD_PORT; default 8080)', nonNegativeInt)
    .option('--host <addr>', 'address to listen on (env POLYHEAD_HOST; default 127.0.0.1)')
    .option('--backend <name>', 'auto, tensorflow-gpu, tensorflow, wasm or cpu (env POLYHEAD_BACKEND; default auto)')
    .option('--max-body-mb <n>', 'largest image in MiB; bodies get framing room on top (env POLYHEAD_MAX_BODY_MB; default 10)', positiveNumber)
    .option('--max-pixels <n>', "pixel limit, lowered to the model's own if that is smaller (env POLYHEAD_MAX_PIXELS)", positiveInt)
    .option('--max-images <n>', 'most images in one request (env POLYHEAD_MAX_IMAGES; default 64)', positiveInt)
    .option('--max-batch <n>', 'most images in one forward pass (env POLYHEAD_MAX_BATCH; default 32)', positiveInt)
    .option('--batch-window-ms <n>', 'longest wait for more images to share a pass (env POLYHEAD_BATCH_WINDOW_MS; default 5)', nonNegativeInt)
    .option('--max-queue <n>', 'most images waiting; beyond it 503 + Retry-After (env POLYHEAD_MAX_QUEUE; default 256)', positiveInt)
    .option('--request-timeout-ms <n>', 'time a prediction may take before 504 (env POLYHEAD_REQUEST_TIMEOUT_MS; default 30000)', positiveInt)
    .option('--shutdown-timeout-ms <n>', 'wait for requests in flight on SIGTERM (env POLYHEAD_SHUTDOWN_TIMEOUT_MS; default 10000)', positiveInt)
    .option('--keep-alive-timeout-ms <n>', 'idle keep-alive connections close after this; keep it above your load balancer\'s (env POLYHEAD_KEEP_ALIVE_TIMEOUT_MS; default 65000)', positiveInt)
    .option('--api-key <key>', 'require "Authorization: Bearer <key>" on /v1 routes (env POLYHEAD_API_KEY)')
    .option('--admin-key <key>', 'key of POST /v1/admin/reload; default the API key (env POLYHEAD_ADMIN_KEY)')
    .option('--cors-origin <origins>', 'origins allowed from browsers, comma-separated or repeated, * for any (env POLYHEAD_CORS_ORIGINS)', originList)
    .addOption(
      new Option('--log-format <format>', 'json lines, or short text lines (env POLYHEAD_LOG_FORMAT; default json, text on a terminal)').choices([
        'json',
        'text',
      ]),
    )
    .action(async (flags: ServeFlags) => {
      // Loaded on demand: the other commands need no HTTP stack.
      const { startServer, serverOptionsFromEnv } = await import('@polyhead/server');
      const fromFlags = {
        modelDir: flags.model,
        port: flags.port,
        host: flags.host,
        backend: flags.backend,
        maxBodyBytes: flags.maxBodyMb === undefined ? undefined : Math.round(flags.maxBodyMb * 2 ** 20),
        maxPixels: flags.maxPixels,
        maxImagesPerRequest: flags.maxImages,
        maxBatch: flags.maxBatch,
        batchWindowMs: flags.batchWindowMs,
        maxQueue: flags.maxQueue,
        requestTimeoutMs: flags.requestTimeoutMs,
        shutdownTimeoutMs: flags.shutdownTimeoutMs,
        keepAliveTimeoutMs: flags.keepAliveTimeoutMs,
        apiKey: flags.apiKey,
        adminKey: flags.adminKey,
        corsOrigins: flags.corsOrigin,
        logFormat: flags.logFormat,
      };
      const options = { ...serverOptionsFromEnv(process.env) };
      for (const [key, value] of Object.entries(fromFlags)) {
        if (value !== undefined) Object.assign(options, { [key]: value });
      }
      const { modelDir } = options;
      if (modelDir === undefined) {
        throw new PolyheadError('SERVER_NO_MODEL', 'No model to serve; pass --model <dir> or set POLYHEAD_MODEL', {
          kind: 'usage',
        });
      }
      const server = await startServer({
        ...options,
        modelDir,
        logFormat: options.logFormat ?? (process.stderr.isTTY ? 'text' : 'json'),
        handleSignals: true,
      });
      out.success(`serving ${modelDir} at ${server.url}`);
      await server.closed;
    });
}
