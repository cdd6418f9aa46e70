import { Agent, request as httpRequest } from 'node:http';

import { Predictor, tf, type Prediction } from '@polyhead/model';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import type { ErrorBody } from './errors.js';
import type { ModelInfo } from './model-info.js';
import type { PredictResult } from './predict-route.js';
import { startServer, type RunningServer } from './server.js';
import {
  distinctImages,
  expectSamePrediction,
  fixture,
  fixtureBytes,
  imageForm,
  useTestBackend,
} from './test-utils/fixtures.js';

const LIMIT = 102_400;

let server: RunningServer;
let predictor: Predictor;
const logged: string[] = [];

beforeAll(async () => {
  const backend = await useTestBackend();
  predictor = await Predictor.load(inject('modelDir'));
  server = await startServer({
    modelDir: inject('modelDir'),
    port: 0,
    backend,
    maxBodyBytes: LIMIT,
    log: (line) => logged.push(line),
  });
});

afterAll(async () => {
  await server?.close();
  predictor?.dispose();
});

function post(body: RequestInit['body'], type?: string, query = ''): Promise<Response> {
  const headers = type === undefined ? undefined : { 'content-type': type };
  return fetch(`${server.url}/v1/predict${query}`, { method: 'POST', headers, body });
}

async function expectError(
  res: Response,
  status: number,
  code: string,
): Promise<ErrorBody['error']> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const { error } = (await res.json()) as ErrorBody;
  expect(error.code).toBe(code);
  expect(error.message.length).toBeGreaterThan(0);
  return error;
}

/** A valid upload must still succeed after any failure. */
async function expectStillServing(): Promise<void> {
  const res = await post(await fixtureBytes('f15/a_red_square.png'), 'image/png');
  expect(res.status).toBe(200);
}

describe('startServer', () => {
  it('should listen on a free port on 127.0.0.1 when port is 0', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  it('should answer like Predictor.predict within 1e-6 when the image is a multipart part or the raw body', async () => {
    const [expected] = await predictor.predict([fixture('f15/b_blue_circle.png')], { top: 3 });
    const viaForm = await post(await imageForm('f15/b_blue_circle.png'), undefined, '?top=3');
    expect(viaForm.status).toBe(200);
    expectSamePrediction((await viaForm.json()) as Prediction, expected!);
    const viaBody = await post(
      await fixtureBytes('f15/b_blue_circle.png'),
      'application/octet-stream',
      '?top=3',
    );
    expect(viaBody.status).toBe(200);
    expectSamePrediction((await viaBody.json()) as Prediction, expected!);
  });

  it('should answer 3 results in order when the ready-made multipart body holds 3 images', async () => {
    const res = await post(
      await fixtureBytes('f15/three_images.multipart'),
      'multipart/form-data; boundary=polyheadF15',
    );
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as { results: PredictResult[] };
    const names = ['a_red_square.png', 'b_blue_circle.png', 'c_green_triangle.png'];
    expect(results.map((r) => r.filename)).toEqual(names);
    for (const [i, name] of names.entries()) {
      const alone = (await (
        await post(await fixtureBytes(`f15/${name}`), 'image/png')
      ).json()) as Prediction;
      expectSamePrediction(results[i] as Prediction & PredictResult, alone);
    }
  });

  it('should serve health and model description when GET /healthz and /v1/model', async () => {
    const health = await fetch(`${server.url}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok' });
    const info = (await (await fetch(`${server.url}/v1/model`)).json()) as ModelInfo;
    expect(info.heads.map((h) => h.name)).toEqual(predictor.meta.network.heads.map((h) => h.name));
    expect(info.inputSize).toBe(32);
  });

  it.each([
    [
      'garbage bytes',
      415,
      'unsupported_media_type',
      () => new TextEncoder().encode('this is not an image at all'),
    ],
    [
      'a truncated PNG',
      422,
      'corrupt_image',
      async () => (await fixtureBytes('f15/b_blue_circle.png')).subarray(0, 120),
    ],
    ['a truncated JPEG', 422, 'corrupt_image', () => fixtureBytes('jpeg/truncated_60pct.jpg')],
    ['an empty body', 400, 'empty_image', () => new Uint8Array(0)],
  ])('should answer %s with %i and keep serving', async (_, status, code, bytes) => {
    await expectError(await post(await bytes(), 'application/octet-stream'), status, code);
    await expectStillServing();
  });

  it('should accept a JPEG with trailing bytes after its end marker', async () => {
    const res = await post(await fixtureBytes('jpeg/trailing_junk.jpg'), 'image/jpeg');
    const [expected] = await predictor.predict([fixture('jpeg/clean.jpg')]);
    expectSamePrediction((await res.json()) as Prediction, expected!);
  });

  it('should answer 415 when the content type is neither an image, a form nor JSON', async () => {
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
      const bytes = await fixtureBytes('f15/a_red_square.png');
      await expectError(await post(bytes, type), 415, 'unsupported_media_type');
    }
    await expectStillServing();
  });

  it('should answer 400 naming the field when a form has no image part or a text one', async () => {
    const noImage = new FormData();
    noImage.append('photo', new Blob([await fixtureBytes('f15/a_red_square.png')]), 'a.png');
    const missing = await expectError(await post(noImage), 400, 'missing_image');
    expect(missing.message).toContain('"image"');
    expect(missing.details).toMatchObject({ field: 'image', fields: ['photo'] });
    await expectStillServing();

    const text = new FormData();
    text.append('image', 'a_red_square.png');
    const asText = await expectError(await post(text), 400, 'bad_request');
    expect(asText.details).toEqual({ field: 'image' });
    await expectStillServing();
  });

  it('should answer 413 with the dimensions when the image has too many pixels', async () => {
    const started = Date.now();
    const error = await expectError(
      await post(await fixtureBytes('limits/bomb_20000x20000.png'), 'image/png'),
      413,
      'image_too_large',
    );
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error.details).toMatchObject({ width: 20000, height: 20000 });
    await expectStillServing();
  });

  it('should accept a file just under the limit even with multipart framing', async () => {
    const res = await post(await imageForm('limits/under_limit.png'));
    expect(res.status).toBe(200);
  });

  it('should accept an image streamed without a Content-Length', async () => {
    const bytes = await fixtureBytes('f15/c_green_triangle.png');
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.subarray(0, 50));
        controller.enqueue(bytes.subarray(50));
        controller.close();
      },
    });
    const res = await fetch(`${server.url}/v1/predict`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(200);
    const [expected] = await predictor.predict([fixture('f15/c_green_triangle.png')]);
    expectSamePrediction((await res.json()) as Prediction, expected!);
  });

  it('should answer 413 with the limit when the body is over it', async () => {
    const overForm = await expectError(
      await post(await imageForm('limits/over_limit.png')),
      413,
      'payload_too_large',
    );
    expect(overForm.details).toEqual({ limit: LIMIT });
    await expectStillServing();
    const overRaw = await expectError(
      await post(await fixtureBytes('limits/over_limit.png'), 'image/png'),
      413,
      'payload_too_large',
    );
    expect(overRaw.details).toEqual({ limit: LIMIT });
    await expectStillServing();
  });

  it('should keep the connection usable after refusing a body whose declared length is over the limit', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const over = await fixtureBytes('limits/over_limit.png');
    const first = await send(agent, over);
    expect(first.status).toBe(413);
    // Longer than the grace the HTTP layer gives a connection whose body was left unread.
    await new Promise((resolve) => setTimeout(resolve, 700));
    const second = await send(agent, await fixtureBytes('f15/a_red_square.png'));
    expect(second.status).toBe(200);
    expect(second.reused).toBe(true);
    agent.destroy();
  });

  it('should answer 413 before reading the whole body when a large body streams without a length', async () => {
    const { status, body, sent } = await streamBody(
      { 'transfer-encoding': 'chunked' },
      50 * 2 ** 20,
    );
    expect(status).toBe(413);
    expect((JSON.parse(body) as ErrorBody).error.code).toBe('payload_too_large');
    expect(sent).toBeLessThan(50 * 2 ** 20);
    await expectStillServing();
  });

  it('should answer 413 at once when Content-Length announces a body over the limit', async () => {
    const { status, sent } = await streamBody({ 'content-length': String(50 * 2 ** 20) }, 0);
    expect(status).toBe(413);
    expect(sent).toBe(0);
    await expectStillServing();
  });

  it('should answer bad requests with their JSON errors and valid ones rightly when all run at once', async () => {
    const before = tf.memory().numTensors;
    const valid = distinctImages().slice(0, 12);
    const expected = await predictor.predict(valid.map(fixture), { top: 2 });
    const png = await fixtureBytes('f15/b_blue_circle.png');
    const bad: [string, number, string, () => Promise<Response>][] = [
      [
        'garbage',
        415,
        'unsupported_media_type',
        async () => post(new TextEncoder().encode('GIF? no, just text'), 'image/gif'),
      ],
      ['truncated PNG', 422, 'corrupt_image', async () => post(png.subarray(0, 120), 'image/png')],
      [
        'truncated JPEG',
        422,
        'corrupt_image',
        async () => post(await fixtureBytes('jpeg/truncated_60pct.jpg'), 'image/jpeg'),
      ],
      [
        'pixel bomb',
        413,
        'image_too_large',
        async () => post(await fixtureBytes('limits/bomb_20000x20000.png'), 'image/png'),
      ],
      [
        'oversized body',
        413,
        'payload_too_large',
        async () => post(await fixtureBytes('limits/over_limit.png'), 'image/png'),
      ],
      [
        'oversized form',
        413,
        'payload_too_large',
        async () => post(await imageForm('limits/over_limit.png')),
      ],
      ['wrong content type', 415, 'unsupported_media_type', async () => post(png, 'text/plain')],
      [
        'HTML as an image',
        415,
        'unsupported_media_type',
        async () => post(new TextEncoder().encode('<!doctype html><p>hi'), 'image/png'),
      ],
      [
        'bad base64',
        400,
        'bad_request',
        async () => post(JSON.stringify({ image: '***' }), 'application/json'),
      ],
      ['empty body', 400, 'empty_image', async () => post(new Uint8Array(0), 'image/png')],
    ];
    const sends: Promise<() => Promise<void>>[] = [];
    for (let round = 0; round < 2; round++) {
      for (const [what, status, code, send] of bad) {
        sends.push(
          settle(what, send(), async (res) => {
            expect(res.status, what).toBe(status);
            expect(((await res.json()) as ErrorBody).error.code, what).toBe(code);
          }),
        );
      }
      for (const [i, name] of valid.entries()) {
        const bytes = await fixtureBytes(name);
        const via = (i + round) % 3;
        const res =
          via === 0
            ? post(bytes, 'application/octet-stream', '?top=2')
            : via === 1
              ? post(await imageForm(name), undefined, '?top=2')
              : post(
                  JSON.stringify({ image: Buffer.from(bytes).toString('base64') }),
                  'application/json',
                  '?top=2',
                );
        sends.push(
          settle(name, res, async (r) => {
            expect(r.status, name).toBe(200);
            expectSamePrediction((await r.json()) as Prediction, expected[i]!);
          }),
        );
      }
    }
    const checks = await Promise.all(sends);
    for (const check of checks) await check();
    await expectStillServing();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('should log one JSON line per request through the injected printer', () => {
    const requests = logged
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((r) => r.msg === 'request' && r.path === '/v1/predict');
    expect(requests.some((r) => r.status === 200)).toBe(true);
    expect(requests.some((r) => r.status === 413 && r.code === 'payload_too_large')).toBe(true);
  });

  it('should refuse an unknown backend name before loading anything', async () => {
    await expect(
      startServer({ modelDir: inject('modelDir'), backend: 'tpu', log: () => undefined }),
    ).rejects.toMatchObject({
      code: 'SERVER_UNKNOWN_BACKEND',
    });
  });
});

/** Posts a PNG body with a Content-Length through `agent`; reports whether the socket was reused. */
function send(agent: Agent, body: Uint8Array): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL('/v1/predict', server.url), {
      method: 'POST',
      agent,
      headers: { 'content-type': 'image/png', 'content-length': String(body.length) },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Turns a pending response into a check to run later; a failed request becomes a
 * failing check rather than an unhandled rejection while the others are sent.
 */
function settle(
  what: string,
  response: Promise<Response>,
  check: (res: Response) => Promise<void>,
): Promise<() => Promise<void>> {
  return response.then(
    (res) => () => check(res),
    (error: unknown) => () => {
      throw new Error(`${what}: the request failed`, { cause: error });
    },
  );
}

/**
 * Sends the headers to /v1/predict, then zeros in 64 KiB chunks until the answer
 * arrives or `total` bytes are sent; reports the status, the body and how much
 * was written. With `total` 0 only the headers go out.
 */
function streamBody(
  headers: Record<string, string>,
  total: number,
): Promise<{ status: number; body: string; sent: number }> {
  const url = new URL('/v1/predict', server.url);
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const chunk = new Uint8Array(64 * 1024);
    const req = httpRequest(
      url,
      { method: 'POST', headers: { ...headers, 'content-type': 'image/png' } },
      (res) => {
        answered = true;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (part: string) => (body += part));
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body, sent });
        });
      },
    );
    // The server may drop the connection once it has answered; that is expected.
    req.on('error', (error) => (answered ? undefined : reject(error)));
    const pump = () => {
      while (!answered && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered) req.end();
    };
    req.flushHeaders();
    if (total > 0) setImmediate(pump);
  });
}
