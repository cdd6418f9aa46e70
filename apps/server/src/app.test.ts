import { Predictor, tf, type Prediction } from '@polyhead/model';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { createApp } from './app.js';
import { ModelHolder } from './model-holder.js';
import type { ErrorBody } from './errors.js';
import type { ModelInfo } from './model-info.js';
import type { PredictResult } from './predict-route.js';
import {
  expectSamePrediction,
  fixture,
  fixtureBytes,
  imageForm,
  useTestBackend,
} from './test-utils/fixtures.js';

let predictor: Predictor;

beforeAll(async () => {
  await useTestBackend();
  predictor = await Predictor.load(inject('modelDir'));
});

afterAll(() => predictor.dispose());

function app(maxBodyBytes?: number) {
  return createApp({ model: predictor, maxBodyBytes, log: () => undefined });
}

async function postRaw(body: Uint8Array, query = '', type = 'image/png'): Promise<Response> {
  return postTo(app(), body, query, type);
}

async function postTo(
  target: ReturnType<typeof createApp>,
  body: Uint8Array,
  query = '',
  type = 'image/png',
): Promise<Response> {
  return target.request(`/v1/predict${query}`, {
    method: 'POST',
    headers: { 'content-type': type },
    body,
  });
}

describe('createApp', () => {
  it('should answer like Predictor.predict when one image is the raw body', async () => {
    for (const name of ['f15/a_red_square.png', 'probe4x4.png', 'jpeg/clean.jpg']) {
      const res = await postRaw(
        await fixtureBytes(name),
        '',
        name.endsWith('.jpg') ? 'image/jpeg' : 'image/png',
      );
      expect(res.status).toBe(200);
      const [expected] = await predictor.predict([fixture(name)]);
      expectSamePrediction((await res.json()) as Prediction, expected!);
    }
  });

  it('should list the top k labels of only the chosen heads when top and heads are given', async () => {
    const res = await postRaw(await fixtureBytes('f15/b_blue_circle.png'), '?top=2&heads=color');
    const body = (await res.json()) as Prediction;
    const [expected] = await predictor.predict([fixture('f15/b_blue_circle.png')], {
      top: 2,
      heads: ['color'],
    });
    expect(Object.keys(body.heads)).toEqual(['color']);
    expect(body.heads.color!.top).toHaveLength(2);
    expectSamePrediction(body, expected!);
  });

  it('should answer 400 naming the parameter when top or heads is invalid', async () => {
    const bytes = await fixtureBytes('f15/a_red_square.png');
    for (const query of ['?top=0', '?top=two', '?top=1.5', '?heads=size', '?heads=color,']) {
      const res = await postRaw(bytes, query);
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as ErrorBody).error.code).toBe('bad_request');
    }
  });

  it('should answer one result per image part in request order when a form holds several', async () => {
    const names = ['f15/c_green_triangle.png', 'probe4x4.png', 'f15/a_red_square.png'];
    const res = await app().request('/v1/predict?top=3', {
      method: 'POST',
      body: await imageForm(...names),
    });
    const { results } = (await res.json()) as { results: PredictResult[] };
    expect(results.map((r) => r.filename)).toEqual([
      'c_green_triangle.png',
      'probe4x4.png',
      'a_red_square.png',
    ]);
    const expected = await predictor.predict(names.map(fixture), { top: 3 });
    results.forEach((r, i) => expectSamePrediction(r as Prediction & PredictResult, expected[i]!));
  });

  it('should report a failed part in place and keep the others when one part is bad', async () => {
    const form = await imageForm('f15/a_red_square.png', 'jpeg/truncated_60pct.jpg');
    form.append('image', 'not a file');
    form.append('image', new Blob([]), 'empty.png');
    const res = await app().request('/v1/predict', { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as { results: (PredictResult & Partial<ErrorBody>)[] };
    expect(results.map((r) => r.error?.code ?? 'ok')).toEqual([
      'ok',
      'corrupt_image',
      'bad_request',
      'empty_image',
    ]);
    expect(results.map((r) => r.filename)).toEqual([
      'a_red_square.png',
      'truncated_60pct.jpg',
      null,
      'empty.png',
    ]);
  });

  it('should describe heads, vocabularies, input and metrics when GET /v1/model', async () => {
    const res = await app().request('/v1/model');
    const info = (await res.json()) as ModelInfo;
    expect(info.heads).toEqual(
      predictor.meta.network.heads.map((h) => ({
        name: h.name,
        kind: 'softmax',
        labels: h.labels,
      })),
    );
    expect(info.inputSize).toBe(32);
    expect(info.backbone).toMatchObject({ kind: 'small-cnn', width: 8, depth: 2 });
    expect(info.preprocessing).toEqual(predictor.meta.preprocessing);
    expect(info.metrics).toHaveProperty('val');
  });

  it('should answer JSON 404 and 405 when the route or method is unknown', async () => {
    const missing = await app().request('/v2/predict');
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as ErrorBody).error.code).toBe('not_found');
    const wrong = await app().request('/v1/predict');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect(((await wrong.json()) as ErrorBody).error.code).toBe('method_not_allowed');
  });

  it('should answer a generic 500 and log the stack when something unexpected throws', async () => {
    const logged: string[] = [];
    // A disposed model fails inside TensorFlow.js, which is no fault of the request.
    const disposed = await Predictor.load(inject('modelDir'));
    disposed.dispose();
    const broken = createApp({ model: disposed, log: (line) => logged.push(line) });
    const res = await postTo(broken, await fixtureBytes('f15/a_red_square.png'));
    expect(res.status).toBe(500);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe('internal_error');
    expect(body.error.message).not.toMatch(/dispose/i);
    const records = logged.map((line) => JSON.parse(line) as Record<string, unknown>);
    const failure = records.find((r) => r.level === 'error' && r.err !== undefined);
    expect((failure!.err as { stack: string }).stack).toMatch(/dispose/i);
    expect(records.at(-1)).toMatchObject({ msg: 'request', status: 500, code: 'internal_error' });
  });

  it('should log one JSON line per request with request id, method, path, status, time and batch size', async () => {
    const logged: string[] = [];
    const logging = createApp({ model: predictor, log: (line) => logged.push(line) });
    await logging.request('/healthz', { headers: { 'x-request-id': 'probe-42' } });
    await logging.request('/v1/predict', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hi',
    });
    await postTo(logging, await fixtureBytes('f15/a_red_square.png'));
    expect(logged).toHaveLength(3);
    const [health, refused, ok] = logged.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(health).toMatchObject({
      level: 'info',
      msg: 'request',
      reqId: 'probe-42',
      method: 'GET',
      path: '/healthz',
      status: 200,
    });
    expect(typeof health!.ms).toBe('number');
    expect(typeof health!.time).toBe('string');
    expect(refused).toMatchObject({ status: 415, code: 'unsupported_media_type' });
    expect(refused!.reqId).toMatch(/^[0-9a-f-]{36}$/);
    expect(ok).toMatchObject({ status: 200, path: '/v1/predict', batchSize: 1, images: 1 });
  });

  it('should print short lines when the log format is text', async () => {
    const logged: string[] = [];
    const logging = createApp({
      model: predictor,
      log: (line) => logged.push(line),
      logFormat: 'text',
    });
    await logging.request('/healthz');
    expect(logged).toEqual([expect.stringMatching(/^--> GET \/healthz 200 \d+ms$/)]);
  });

  it('should keep the tensor count flat when predicting 20 times', async () => {
    const bytes = await fixtureBytes('f15/a_red_square.png');
    await postRaw(bytes);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) expect((await postRaw(bytes, '?top=2')).status).toBe(200);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('should require the API key on /v1 routes only when one is configured', async () => {
    const locked = createApp({ model: predictor, apiKey: 's3cret', log: () => undefined });
    const bytes = await fixtureBytes('f15/a_red_square.png');
    const anonymous = await postTo(locked, bytes);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as ErrorBody).error.code).toBe('unauthorized');
    const wrong = await locked.request('/v1/model', { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    const malformed = await locked.request('/v1/model', {
      headers: { authorization: 'Basic czNjcmV0' },
    });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as ErrorBody).error.code).toBe('bad_request');
    const allowed = await locked.request('/v1/predict', {
      method: 'POST',
      headers: { authorization: 'Bearer s3cret', 'content-type': 'image/png' },
      body: bytes,
    });
    expect(allowed.status).toBe(200);
    for (const open of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/']) {
      expect((await locked.request(open)).status, open).toBe(200);
    }
  });

  it('should answer CORS preflights and tag answers for the configured origins only', async () => {
    const shared = createApp({
      model: predictor,
      corsOrigins: ['https://app.example'],
      log: () => undefined,
    });
    const preflight = await shared.request('/v1/predict', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/authorization/i);
    const other = await shared.request('/v1/model', {
      headers: { origin: 'https://evil.example' },
    });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const none = await app().request('/v1/model', { headers: { origin: 'https://app.example' } });
    expect(none.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('should echo a valid x-request-id and make one up otherwise', async () => {
    const echoed = await app().request('/healthz', { headers: { 'x-request-id': 'lb-7f3a' } });
    expect(echoed.headers.get('x-request-id')).toBe('lb-7f3a');
    const invalid = await app().request('/healthz', {
      headers: { 'x-request-id': 'bad id\u0001' },
    });
    expect(invalid.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const onError = await app().request('/nowhere');
    expect(onError.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('should answer /readyz 200 with a model and 503 while loading or draining', async () => {
    expect(await (await app().request('/readyz')).json()).toMatchObject({ status: 'ready' });
    const loading = createApp({ model: new ModelHolder(), log: () => undefined });
    const notYet = await loading.request('/readyz');
    expect(notYet.status).toBe(503);
    expect(((await notYet.json()) as ErrorBody).error.code).toBe('not_ready');
    const refused = await postTo(loading, await fixtureBytes('f15/a_red_square.png'));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    const draining = createApp({ model: predictor, isDraining: () => true, log: () => undefined });
    expect((await draining.request('/readyz')).status).toBe(503);
    expect((await draining.request('/healthz')).status).toBe(200);
  });

  it('should serve the web page, its script and the TensorFlow.js bundle', async () => {
    const page = await app().request('/');
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('/static/app.js');
    const script = await app().request('/static/app.js');
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    const tfjs = await app().request('/static/tf.min.js');
    expect(tfjs.status).toBe(200);
    expect((await tfjs.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
    expect((await app().request('/static/../package.json')).status).toBe(404);
  });

  it('should serve the model files only for a model loaded from a directory', async () => {
    const fromDir = createApp({
      model: ModelHolder.of(predictor, inject('modelDir')),
      log: () => undefined,
    });
    const json = await fromDir.request('/v1/model/files/model.json');
    expect(json.status).toBe(200);
    expect(await json.json()).toHaveProperty('weightsManifest');
    expect((await fromDir.request('/v1/model/files/weights.bin')).headers.get('content-type')).toBe(
      'application/octet-stream',
    );
    expect((await fromDir.request('/v1/model/files/..%2Fpolyhead.json')).status).toBe(404);
    expect((await app().request('/v1/model/files/model.json')).status).toBe(404);
  });
});
