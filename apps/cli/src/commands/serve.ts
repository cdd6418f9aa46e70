import { Command } from 'commander';

import type { Output } from '../output.js';
import { nonNegativeInt, positiveInt } from '../options.js';

interface ServeOptions {
  model: string;
  port: number;
  host: string;
  backend: string;
  maxBodyMb: number;
}

/** `polyhead serve`: the HTTP server over a model directory. */
export function serveCommand(out: Output): Command {
  return new Command('serve')
    .description('serve a model over HTTP: POST /v1/predict, GET /v1/model, GET /healthz')
    .requiredOption('--model <dir>', 'model directory')
    .option('--port <n>', 'port (0 picks a free one)', nonNegativeInt, 8080)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--backend <name>', 'compute backend (auto, tensorflow-gpu, tensorflow, wasm, cpu)', 'auto')
    .option('--max-body-mb <n>', 'largest accepted request body in MiB', positiveInt, 10)
    .action(async (opts: ServeOptions) => {
      // Loaded on demand: the other commands need no HTTP stack.
      const { startServer } = await import('@polyhead/server');
      const server = await startServer({
        modelDir: opts.model,
        port: opts.port,
        host: opts.host,
        backend: opts.backend,
        maxBodyBytes: opts.maxBodyMb * 2 ** 20,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      out.success(`serving ${opts.model} at ${server.url}`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          out.info('shutting down');
          void server.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
