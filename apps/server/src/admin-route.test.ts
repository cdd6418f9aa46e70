import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { ModelMeta, Prediction } from '@polyhead/model';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { createApp, type ServerOptions } from './app.js';
import type { ErrorBody } from './errors.js';
import type { ModelInfo } from './model-info.js';
import { ModelHolder } from './model-holder.js';
import { fixtureBytes, useTestBackend } from './test-utils/fixtures.js';

let root: string;
let relabelled: string;

beforeAll(async () => {
  await useTestBackend();
  // A second model directory: the same weights with one head's labels renamed.
  root = await mkdtemp(path.join(tmpdir(), 'polyhead-reload-'));
  relabelled = path.join(root, 'relabelled');
  await cp(inject('modelDir'), relabelled, { recursive: true });
  const metaFile = path.join(relabelled, 'polyhead.json');
  const meta = JSON.parse(await readFile(metaFile, 'utf8')) as ModelMeta;
  meta.network.heads[0]!.labels = meta.network.heads[0]!.labels.map((l) => `new-${l}`);
  meta.createdAt = '2030-01-01T00:00:00.000Z';
  await writeFile(metaFile, JSON.stringify(meta));
});

afterAll(() => rm(root, { recursive: true, force: true }));

async function served(options: Partial<ServerOptions> = {}) {
  const holder = new ModelHolder();
  await holder.reload(inject('modelDir'));
  return { holder, app: createApp({ model: holder, log: () => undefined, ...options }) };
}

function reload(app: ReturnType<typeof createApp>, key?: string, body?: unknown) {
  return app.request('/v1/admin/reload', {
    method: 'POST',
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe('POST /v1/admin/reload', () => {
  it('should answer 403 when no admin or API key is configured', async () => {
    const { app, holder } = await served();
    const res = await reload(app);
    expect(res.status).toBe(403);
    expect(((await res.json()) as ErrorBody).error.code).toBe('forbidden');
    await holder.close();
  });

  it('should answer 401 without the admin key and 401 with a wrong one', async () => {
    const { app, holder } = await served({ apiKey: 'client-key', adminKey: 'admin-key' });
    for (const key of [undefined, 'client-key']) {
      const res = await reload(app, key);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(((await res.json()) as ErrorBody).error.code).toBe('unauthorized');
    }
    await holder.close();
  });

  it('should swap in another model directory and answer with it from then on', async () => {
    const { app, holder } = await served({ apiKey: 'k' });
    const before = holder.peek();
    const res = await reload(app, 'k', { modelDir: relabelled });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: 'reloaded',
      model: { dir: relabelled, createdAt: '2030-01-01T00:00:00.000Z' },
    });
    const info = (await (
      await app.request('/v1/model', { headers: { authorization: 'Bearer k' } })
    ).json()) as ModelInfo;
    expect(info.heads[0]!.labels.every((l) => l.startsWith('new-'))).toBe(true);
    const predicted = await app.request('/v1/predict', {
      method: 'POST',
      headers: { authorization: 'Bearer k', 'content-type': 'image/png' },
      body: await fixtureBytes('f15/a_red_square.png'),
    });
    const { heads } = (await predicted.json()) as Prediction;
    expect(heads[info.heads[0]!.name]!.label).toMatch(/^new-/);
    expect(holder.peek()).not.toBe(before);
    await holder.close();
  });

  it('should keep the old model serving and answer 422 when the new one fails to load', async () => {
    const { app, holder } = await served({ adminKey: 'admin' });
    const before = holder.peek();
    const res = await reload(app, 'admin', { modelDir: path.join(root, 'missing') });
    expect(res.status).toBe(422);
    const { error } = (await res.json()) as ErrorBody;
    expect(error.code).toBe('reload_failed');
    expect(error.message).toContain('polyhead.json');
    expect(holder.peek()).toBe(before);
    const still = await app.request('/v1/predict', {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: await fixtureBytes('f15/a_red_square.png'),
    });
    expect(still.status).toBe(200);
    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toMatch(/^polyhead_model_loads_total\{result="failed"\} 1$/m);
    await holder.close();
  });

  it('should finish a request in flight on the old model when a reload lands mid-request', async () => {
    const { app, holder } = await served({ adminKey: 'admin', batchWindowMs: 300 });
    const inFlight = app.request('/v1/predict', {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: await fixtureBytes('f15/a_red_square.png'),
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await reload(app, 'admin', { modelDir: relabelled })).status).toBe(200);
    const res = await inFlight;
    expect(res.status).toBe(200);
    const { heads } = (await res.json()) as Prediction;
    expect(Object.values(heads).every((h) => !h.label.startsWith('new-'))).toBe(true);
    await holder.close();
  });

  it('should answer 400 when the body is not the expected JSON', async () => {
    const { app, holder } = await served({ adminKey: 'admin' });
    expect((await reload(app, 'admin', { modelDir: 7 })).status).toBe(400);
    const res = await app.request('/v1/admin/reload', {
      method: 'POST',
      headers: { authorization: 'Bearer admin' },
      body: 'modelDir=x',
    });
    expect(res.status).toBe(400);
    await holder.close();
  });
});
