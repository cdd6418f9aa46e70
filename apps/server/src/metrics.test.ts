import { Predictor } from '@polyhead/model';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { createApp } from './app.js';
import { fixtureBytes, imageForm, useTestBackend } from './test-utils/fixtures.js';

let predictor: Predictor;

beforeAll(async () => {
  await useTestBackend();
  predictor = await Predictor.load(inject('modelDir'));
});

afterAll(() => predictor.dispose());

describe('GET /metrics', () => {
  it('should expose requests, latency, batch sizes, queue depth, decoded images, memory and tensors', async () => {
    const app = createApp({ model: predictor, log: () => undefined, batchWindowMs: 20 });
    await app.request('/v1/predict', {
      method: 'POST',
      body: await imageForm(
        'f15/a_red_square.png',
        'f15/b_blue_circle.png',
        'jpeg/truncated_60pct.jpg',
      ),
    });
    await app.request('/v1/predict', {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: await fixtureBytes('probe4x4.png'),
    });
    await app.request('/no/such/path/123');

    const res = await app.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const lines = [
      /^polyhead_http_requests_total\{route="\/v1\/predict",method="POST",status="200"\} 2$/m,
      /^polyhead_http_requests_total\{route="unmatched",method="GET",status="404"\} 1$/m,
      /^polyhead_http_request_duration_seconds_count\{route="\/v1\/predict",method="POST"\} 2$/m,
      /^polyhead_batch_size_bucket\{le="1"\} 1$/m,
      /^polyhead_batch_size_bucket\{le="2"\} 2$/m,
      /^polyhead_batch_size_sum 3$/m,
      /^polyhead_queue_depth 0$/m,
      /^polyhead_images_decoded_total\{result="ok"\} 3$/m,
      /^polyhead_images_decoded_total\{result="refused"\} 1$/m,
      /^polyhead_tensors \d+$/m,
      /^process_resident_memory_bytes \d+/m,
      /^nodejs_heap_size_used_bytes \d+/m,
    ];
    for (const line of lines) expect(text).toMatch(line);
  });
});
