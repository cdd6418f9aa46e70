import { Predictor } from '@polyhead/model';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { createApp } from './app.js';
import { useTestBackend } from './test-utils/fixtures.js';

let predictor: Predictor;

beforeAll(async () => {
  await useTestBackend();
  predictor = await Predictor.load(inject('modelDir'));
});

afterAll(() => predictor.dispose());

describe('GET /openapi.json', () => {
  it('should document every API route the app answers, with its method', async () => {
    const app = createApp({ model: predictor, log: () => undefined });
    const doc = (await (await app.request('/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    const served = app.routes
      .filter((r) => r.method !== 'ALL' && r.path !== '/' && !r.path.startsWith('/static'))
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(new Set(documented)).toEqual(new Set(served));
  });

  it('should resolve every $ref to a schema in the document', async () => {
    const app = createApp({ model: predictor, log: () => undefined });
    const doc = (await (await app.request('/openapi.json')).json()) as Record<string, unknown>;
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      const target = ref
        .split('/')
        .reduce<unknown>((node, key) => (node as Record<string, unknown>)?.[key], doc);
      expect(target, ref).toBeTypeOf('object');
    }
  });
});
