import { isPolyheadError } from '@polyhead/data';
import { describe, expect, it } from 'vitest';

import { ENV_SETTINGS, serverOptionsFromEnv } from './config.js';

describe('serverOptionsFromEnv', () => {
  it('should read every POLYHEAD_* setting into its option when all are set', () => {
    const options = serverOptionsFromEnv({
      POLYHEAD_MODEL: 'runs/model',
      POLYHEAD_PORT: '0',
      POLYHEAD_HOST: '0.0.0.0',
      POLYHEAD_BACKEND: 'wasm',
      POLYHEAD_MAX_BODY_MB: '0.5',
      POLYHEAD_MAX_PIXELS: '1000000',
      POLYHEAD_MAX_IMAGES: '8',
      POLYHEAD_MAX_BATCH: '16',
      POLYHEAD_BATCH_WINDOW_MS: '2',
      POLYHEAD_MAX_QUEUE: '100',
      POLYHEAD_REQUEST_TIMEOUT_MS: '5000',
      POLYHEAD_SHUTDOWN_TIMEOUT_MS: '3000',
      POLYHEAD_KEEP_ALIVE_TIMEOUT_MS: '70000',
      POLYHEAD_API_KEY: 'secret',
      POLYHEAD_ADMIN_KEY: 'admin',
      POLYHEAD_CORS_ORIGINS: 'https://a.example, https://b.example,',
      POLYHEAD_LOG_FORMAT: 'text',
    });
    expect(options).toEqual({
      modelDir: 'runs/model',
      port: 0,
      host: '0.0.0.0',
      backend: 'wasm',
      maxBodyBytes: 524_288,
      maxPixels: 1_000_000,
      maxImagesPerRequest: 8,
      maxBatch: 16,
      batchWindowMs: 2,
      maxQueue: 100,
      requestTimeoutMs: 5000,
      shutdownTimeoutMs: 3000,
      keepAliveTimeoutMs: 70_000,
      apiKey: 'secret',
      adminKey: 'admin',
      corsOrigins: ['https://a.example', 'https://b.example'],
      logFormat: 'text',
    });
    expect(Object.keys(options)).toHaveLength(ENV_SETTINGS.length);
  });

  it('should leave unset and empty variables out so defaults apply', () => {
    expect(serverOptionsFromEnv({ POLYHEAD_MAX_BATCH: '  ', HOME: '/root' })).toEqual({});
  });

  it('should throw SERVER_BAD_CONFIG naming the variable and what it expects when a value is bad', () => {
    const cases: [string, string, string][] = [
      ['POLYHEAD_MAX_BATCH', '-3', 'an integer ≥ 0'],
      ['POLYHEAD_PORT', '80.5', 'an integer ≥ 0'],
      ['POLYHEAD_MAX_BODY_MB', 'ten', 'a positive number of MiB'],
      ['POLYHEAD_LOG_FORMAT', 'yaml', 'json or text'],
    ];
    for (const [name, value, expected] of cases) {
      let thrown: unknown;
      try {
        serverOptionsFromEnv({ [name]: value });
      } catch (error) {
        thrown = error;
      }
      expect(isPolyheadError(thrown), name).toBe(true);
      expect(thrown).toMatchObject({
        code: 'SERVER_BAD_CONFIG',
        kind: 'usage',
        message: `${name} is "${value}"; expected ${expected}`,
        details: { setting: name, value },
      });
    }
  });
});
