import { PolyheadError } from '@polyhead/data';

import type { StartServerOptions } from './server.js';

type Parse = 'string' | 'int' | 'mib' | 'list' | 'format';

/** One setting read from the environment. */
export interface EnvSetting {
  /** Variable name, as `POLYHEAD_MAX_BATCH`. */
  env: string;
  /** The option of {@link startServer} it sets. */
  option: keyof StartServerOptions;
  parse: Parse;
}

/**
 * Every environment variable the server reads. The CLI's `polyhead serve` flags
 * of the same names (`--max-batch` for `POLYHEAD_MAX_BATCH`) take precedence.
 */
export const ENV_SETTINGS: readonly EnvSetting[] = [
  { env: 'POLYHEAD_MODEL', option: 'modelDir', parse: 'string' },
  { env: 'POLYHEAD_PORT', option: 'port', parse: 'int' },
  { env: 'POLYHEAD_HOST', option: 'host', parse: 'string' },
  { env: 'POLYHEAD_BACKEND', option: 'backend', parse: 'string' },
  { env: 'POLYHEAD_MAX_BODY_MB', option: 'maxBodyBytes', parse: 'mib' },
  { env: 'POLYHEAD_MAX_PIXELS', option: 'maxPixels', parse: 'int' },
  { env: 'POLYHEAD_MAX_IMAGES', option: 'maxImagesPerRequest', parse: 'int' },
  { env: 'POLYHEAD_MAX_BATCH', option: 'maxBatch', parse: 'int' },
  { env: 'POLYHEAD_BATCH_WINDOW_MS', option: 'batchWindowMs', parse: 'int' },
  { env: 'POLYHEAD_MAX_QUEUE', option: 'maxQueue', parse: 'int' },
  { env: 'POLYHEAD_REQUEST_TIMEOUT_MS', option: 'requestTimeoutMs', parse: 'int' },
  { env: 'POLYHEAD_SHUTDOWN_TIMEOUT_MS', option: 'shutdownTimeoutMs', parse: 'int' },
  { env: 'POLYHEAD_KEEP_ALIVE_TIMEOUT_MS', option: 'keepAliveTimeoutMs', parse: 'int' },
  { env: 'POLYHEAD_API_KEY', option: 'apiKey', parse: 'string' },
  { env: 'POLYHEAD_ADMIN_KEY', option: 'adminKey', parse: 'string' },
  { env: 'POLYHEAD_CORS_ORIGINS', option: 'corsOrigins', parse: 'list' },
  { env: 'POLYHEAD_LOG_FORMAT', option: 'logFormat', parse: 'format' },
];

/**
 * Reads the server's settings from environment variables ({@link ENV_SETTINGS});
 * unset or empty variables are left out, so defaults apply.
 *
 * @throws PolyheadError `SERVER_BAD_CONFIG` naming the variable and what it expects.
 * @example
 * const server = await startServer({ ...serverOptionsFromEnv(process.env), handleSignals: true });
 */
export function serverOptionsFromEnv(env: NodeJS.ProcessEnv): Partial<StartServerOptions> {
  const options: Record<string, unknown> = {};
  for (const { env: name, option, parse } of ENV_SETTINGS) {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') continue;
    options[option] = parseValue(name, raw, parse);
  }
  return options as Partial<StartServerOptions>;
}

/** Parses one setting's text, as a flag or variable named `name` gives it. */
export function parseValue(name: string, raw: string, parse: Parse): unknown {
  switch (parse) {
    case 'string':
      return raw;
    case 'int': {
      const n = Number(raw);
      if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n))
        throw badConfig(name, raw, 'an integer ≥ 0');
      return n;
    }
    case 'mib': {
      const n = Number(raw);
      if (!Number.isFinite(n) || n <= 0) throw badConfig(name, raw, 'a positive number of MiB');
      return Math.round(n * 2 ** 20);
    }
    case 'list':
      return raw
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean);
    case 'format':
      if (raw !== 'json' && raw !== 'text') throw badConfig(name, raw, 'json or text');
      return raw;
  }
}

function badConfig(name: string, raw: string, expected: string): PolyheadError {
  return new PolyheadError('SERVER_BAD_CONFIG', `${name} is "${raw}"; expected ${expected}`, {
    kind: 'usage',
    details: { setting: name, value: raw },
  });
}
