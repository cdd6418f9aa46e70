import { Predictor, tf, type Prediction } from '@polyhead/model';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { createApp } from './app.js';
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
  return createApp({ predictor, maxBodyBytes, log: () => undefined });
}

async function postRaw(body: Uint8Array, query = '', type = 'image/png'): Promise<Response> {
  return app().request(`/v1/predict${query}`, {
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
      predictor.meta.network.heads.map((h) => ({ name: h.name, labels: h.labels })),
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
    const broken = createApp({
      predictor: () => {
        throw new Error('model store offline');
      },
      log: (line) => logged.push(line),
    });
    const res = await broken.request('/v1/model');
    expect(res.status).toBe(500);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe('internal_error');
    expect(body.error.message).not.toContain('model store offline');
    expect(logged.join('\n')).toContain('model store offline');
    expect(logged.at(-1)).toMatch(/^--> GET \/v1\/model 500 \d+ms$/);
  });

  it('should log one line per request with method, path, status and time', async () => {
    const logged: string[] = [];
    const logging = createApp({ predictor, log: (line) => logged.push(line) });
    await logging.request('/healthz');
    await logging.request('/v1/predict', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hi',
    });
    expect(logged).toHaveLength(2);
    expect(logged[0]).toMatch(/^--> GET \/healthz 200 \d+ms$/);
    expect(logged[1]).toMatch(/^--> POST \/v1\/predict 415 \d+ms$/);
  });

  it('should answer with the current model when the getter swaps it', async () => {
    const other = Predictor.fromNetwork(predictor.net, { ...predictor.meta, createdAt: 'swapped' });
    let active = predictor;
    const swapping = createApp({ predictor: () => active, log: () => undefined });
    expect(((await (await swapping.request('/v1/model')).json()) as ModelInfo).createdAt).not.toBe(
      'swapped',
    );
    active = other;
    expect(((await (await swapping.request('/v1/model')).json()) as ModelInfo).createdAt).toBe(
      'swapped',
    );
  });

  it('should keep the tensor count flat when predicting 20 times', async () => {
    const bytes = await fixtureBytes('f15/a_red_square.png');
    await postRaw(bytes);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) expect((await postRaw(bytes, '?top=2')).status).toBe(200);
    expect(tf.memory().numTensors).toBe(before);
  });
});
