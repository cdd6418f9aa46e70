import { Predictor, type Prediction } from '@polyhead/model';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { createApp, type ServerOptions } from './app.js';
import type { ErrorBody } from './errors.js';
import type { PredictResult } from './predict-route.js';
import {
  distinctImages,
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

function app(options: Partial<ServerOptions> = {}) {
  return createApp({ model: predictor, log: () => undefined, ...options });
}

function postJson(target: ReturnType<typeof app>, body: unknown, path = '/v1/predict') {
  return target.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function base64(name: string): Promise<string> {
  return Buffer.from(await fixtureBytes(name)).toString('base64');
}

async function errorOf(res: Response): Promise<ErrorBody['error']> {
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return ((await res.json()) as ErrorBody).error;
}

describe('POST /v1/predict', () => {
  it('should answer a base64 JSON image like the same image sent raw', async () => {
    const [expected] = await predictor.predict([fixture('f15/c_green_triangle.png')], { top: 2 });
    const plain = await postJson(app(), { image: await base64('f15/c_green_triangle.png') });
    expect(plain.status).toBe(200);
    expectSamePrediction((await plain.json()) as Prediction, { heads: stripTop(expected!) });
    const dataUrl = `data:image/png;base64,${await base64('f15/c_green_triangle.png')}`;
    const withTop = await app().request('/v1/predict?top=2', {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ image: dataUrl }),
    });
    expectSamePrediction((await withTop.json()) as Prediction, expected!);
  });

  it('should answer 400 when the JSON is malformed, lacks the image or is not base64', async () => {
    const bad = await app().request('/v1/predict', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"image": ',
    });
    expect(bad.status).toBe(400);
    expect((await errorOf(bad)).code).toBe('bad_request');
    const missing = await postJson(app(), { picture: 'aGk=' });
    expect(missing.status).toBe(400);
    expect(await errorOf(missing)).toMatchObject({
      code: 'missing_image',
      details: { field: 'image' },
    });
    const notBase64 = await postJson(app(), { image: 'not base64!' });
    expect((await errorOf(notBase64)).code).toBe('bad_request');
    const number = await postJson(app(), { image: 42 });
    expect((await errorOf(number)).code).toBe('bad_request');
  });

  it('should sniff the bytes and ignore the declared type', async () => {
    // A PNG declared as JPEG is still a PNG.
    const png = await app().request('/v1/predict', {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: await fixtureBytes('f15/a_red_square.png'),
    });
    expect(png.status).toBe(200);
    const form = new FormData();
    form.append(
      'image',
      new Blob(['<svg xmlns="http://www.w3.org/2000/svg"/>'], { type: 'image/png' }),
      'x.png',
    );
    form.append('image', new Blob(['%PDF-1.4\n%âãÏÓ\n1 0 obj'], { type: 'image/png' }), 'y.png');
    form.append(
      'image',
      new Blob([await fixtureBytes('f15/a_red_square.png')], { type: 'text/plain' }),
      'z.txt',
    );
    const res = await app().request('/v1/predict', { method: 'POST', body: form });
    const { results } = (await res.json()) as { results: (PredictResult & Partial<ErrorBody>)[] };
    expect(results.map((r) => r.error?.code ?? 'ok')).toEqual([
      'unsupported_media_type',
      'unsupported_media_type',
      'ok',
    ]);
    expect(results[1]!.error!.details).toEqual({ detected: 'application/pdf' });
  });

  it('should answer 413 too_many_images when a request holds more images than allowed', async () => {
    const res = await app({ maxImagesPerRequest: 2 }).request('/v1/predict', {
      method: 'POST',
      body: await imageForm('f15/a_red_square.png', 'f15/b_blue_circle.png', 'probe4x4.png'),
    });
    expect(res.status).toBe(413);
    expect(await errorOf(res)).toMatchObject({
      code: 'too_many_images',
      details: { limit: 2, count: 3 },
    });
  });

  it('should share forward passes among concurrent requests and answer each as its image alone', async () => {
    const lines: string[] = [];
    const batching = app({ maxBatch: 8, batchWindowMs: 20, log: (line) => lines.push(line) });
    const names = distinctImages();
    const queries = ['', '?top=2', '?heads=color', '?top=3&heads=type'];
    const alone = await Promise.all(
      names.map(async (name, i) => {
        const top = i % 4 === 1 ? 2 : i % 4 === 3 ? 3 : undefined;
        const heads = i % 4 === 2 ? ['color'] : i % 4 === 3 ? ['type'] : undefined;
        return (await predictor.predict([fixture(name)], { top, heads }))[0]!;
      }),
    );
    const responses = await Promise.all(
      names.map(async (name, i) => {
        const bytes = await fixtureBytes(name);
        const path = `/v1/predict${queries[i % 4]}`;
        if (i % 3 === 0) return postJson(batching, { image: await base64(name) }, path);
        if (i % 3 === 1) {
          return batching.request(path, { method: 'POST', body: await imageForm(name) });
        }
        const headers = { 'content-type': 'application/octet-stream' };
        return batching.request(path, { method: 'POST', headers, body: bytes });
      }),
    );
    for (const [i, res] of responses.entries()) {
      expect(res.status, names[i]).toBe(200);
      const answer = (await res.json()) as Prediction;
      expect(Object.keys(answer.heads), names[i]).toEqual(Object.keys(alone[i]!.heads));
      expectSamePrediction(answer, alone[i]!);
    }
    const sizes = lines
      .map((line) => JSON.parse(line) as { msg: string; batchSize?: number })
      .filter((r) => r.msg === 'request')
      .map((r) => r.batchSize!);
    expect(sizes).toHaveLength(names.length);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(8);
    const metrics = await (await batching.request('/metrics')).text();
    const passes = Number(/^polyhead_batch_size_count (\d+)$/m.exec(metrics)![1]);
    expect(passes).toBeLessThan(names.length);
    expect(passes).toBeGreaterThanOrEqual(Math.ceil(names.length / 8));
  });

  it('should answer 504 and drop the queued image when the request times out', async () => {
    const slow = app({ requestTimeoutMs: 100, batchWindowMs: 1000 });
    const started = Date.now();
    const res = await slow.request('/v1/predict', {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: await fixtureBytes('f15/a_red_square.png'),
    });
    expect(res.status).toBe(504);
    expect((await errorOf(res)).code).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(900);
    const metrics = await (await slow.request('/metrics')).text();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(metrics).toMatch(
      /^polyhead_http_requests_total\{route="\/v1\/predict",method="POST",status="504"\} 1$/m,
    );
    expect(await (await slow.request('/metrics')).text()).toMatch(/^polyhead_queue_depth 0$/m);
  });

  it('should answer 503 with Retry-After when the queue is full and serve the admitted requests', async () => {
    const busy = app({ maxQueue: 2, batchWindowMs: 400, maxBatch: 64 });
    const bytes = await fixtureBytes('f15/b_blue_circle.png');
    const responses = await Promise.all(
      Array.from({ length: 4 }, () =>
        busy.request('/v1/predict', {
          method: 'POST',
          headers: { 'content-type': 'image/png' },
          body: bytes,
        }),
      ),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 503, 503]);
    const refused = responses.find((r) => r.status === 503)!;
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await errorOf(refused)).code).toBe('overloaded');
  });
});

describe('POST /v1/predict/batch', () => {
  it('should answer one result per image in order, errors in place, even for one image', async () => {
    const names = ['f15/b_blue_circle.png', 'jpeg/truncated_60pct.jpg', 'f15/a_red_square.png'];
    const res = await app().request('/v1/predict/batch?heads=type', {
      method: 'POST',
      body: await imageForm(...names),
    });
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as { results: (PredictResult & Partial<ErrorBody>)[] };
    expect(results.map((r) => r.filename)).toEqual([
      'b_blue_circle.png',
      'truncated_60pct.jpg',
      'a_red_square.png',
    ]);
    expect(results[1]!.error!.code).toBe('corrupt_image');
    const expected = await predictor.predict([fixture(names[0]!), fixture(names[2]!)], {
      heads: ['type'],
    });
    expectSamePrediction(results[0] as Prediction & PredictResult, expected[0]!);
    expectSamePrediction(results[2] as Prediction & PredictResult, expected[1]!);

    const one = await app().request('/v1/predict/batch', {
      method: 'POST',
      body: await imageForm(names[0]!),
    });
    expect(((await one.json()) as { results: unknown[] }).results).toHaveLength(1);
  });

  it('should take base64 images as a JSON list', async () => {
    const res = await postJson(
      app(),
      { images: [await base64('probe4x4.png'), 'AAAA'] },
      '/v1/predict/batch',
    );
    const { results } = (await res.json()) as { results: (PredictResult & Partial<ErrorBody>)[] };
    expect(results.map((r) => r.error?.code ?? 'ok')).toEqual(['ok', 'unsupported_media_type']);
  });
});

function stripTop(prediction: Prediction): Prediction['heads'] {
  return Object.fromEntries(
    Object.entries(prediction.heads).map(([name, { label, score }]) => [name, { label, score }]),
  );
}
