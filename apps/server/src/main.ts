#!/usr/bin/env node
/**
 * `polyhead-server`: serves the model named by `POLYHEAD_MODEL`, configured
 * entirely from environment variables (see `ENV_SETTINGS`), as a container runs
 * it. Exits 0 after a graceful SIGTERM, 2 on bad settings, 1 when it cannot start.
 */
import { isPolyheadError } from '@polyhead/data';

import { serverOptionsFromEnv } from './config.js';
import { startServer } from './server.js';

try {
  const { modelDir, ...options } = serverOptionsFromEnv(process.env);
  if (modelDir === undefined) {
    process.stderr.write('POLYHEAD_MODEL is not set; set it to a model directory\n');
    process.exit(2);
  }
  const server = await startServer({ ...options, modelDir, handleSignals: true });
  await server.closed;
  // The wasm backend may keep helper threads alive; serving is over.
  process.exit(0);
} catch (error) {
  const usage = isPolyheadError(error) && error.kind === 'usage';
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(usage ? 2 : 1);
}
