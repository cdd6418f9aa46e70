import { Predictor, type PredictOptions } from '@polyhead/model';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { MicroBatcher } from './batcher.js';
import { ApiError } from './errors.js';
import {
  distinctImages,
  expectSamePrediction,
  fixture,
  useTestBackend,
} from './test-utils/fixtures.js';

let predictor: Predictor;
let images: Float32Array[];

beforeAll(async () => {
  await useTestBackend();
  predictor = await Predictor.load(inject('modelDir'));
  images = await Promise.all(distinctImages().map((name) => predictor.decode(fixture(name))));
});

afterAll(() => predictor.dispose());

const OPTIONS: PredictOptions[] = [
  {},
  { top: 2 },
  { heads: ['color'] },
  { top: 3, heads: ['type'] },
];

describe('MicroBatcher', () => {
  it('should answer every image as its single-image prediction when many different images arrive together', async () => {
    const sizes: number[] = [];
    const batcher = new MicroBatcher({ maxBatch: 8, windowMs: 20, onBatch: (n) => sizes.push(n) });
    const answers = await Promise.all(
      images.map((pixels, i) => batcher.submit(predictor, [pixels], OPTIONS[i % OPTIONS.length])),
    );
    for (const [i, [answer]] of answers.entries()) {
      const options = OPTIONS[i % OPTIONS.length]!;
      const [alone] = await predictor.predictPixels(images[i]!, 1, options);
      expectSamePrediction(answer!.prediction, alone!);
      expect(Object.keys(answer!.prediction.heads)).toEqual(Object.keys(alone!.heads));
    }
    expect(sizes.reduce((a, b) => a + b)).toBe(images.length);
    expect(Math.max(...sizes)).toBe(8);
    expect(answers.every(([a]) => a!.batchSize >= 1 && a!.batchSize <= 8)).toBe(true);
  });

  it('should answer a request of several images in order', async () => {
    const batcher = new MicroBatcher({ maxBatch: 4, windowMs: 1 });
    const answers = await batcher.submit(predictor, images.slice(0, 10), { top: 1 });
    const alone = await predictor.predictPixels(concat(images.slice(0, 10)), 10, { top: 1 });
    answers.forEach((a, i) => expectSamePrediction(a.prediction, alone[i]!));
  });

  it('should refuse with 503 and Retry-After when the queue is full', async () => {
    const batcher = new MicroBatcher({ maxBatch: 64, windowMs: 100, maxQueue: 4 });
    const queued = batcher.submit(predictor, images.slice(0, 3));
    const refused = await batcher.submit(predictor, images.slice(3, 5)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({
      status: 503,
      code: 'overloaded',
      headers: { 'Retry-After': '1' },
    });
    expect(batcher.depth).toBe(3);
    // Nothing of the refused request was queued; the admitted one is answered.
    expect(await queued).toHaveLength(3);
    expect(batcher.depth).toBe(0);
  });

  it('should drop queued images when their request aborts', async () => {
    const sizes: number[] = [];
    const batcher = new MicroBatcher({ maxBatch: 64, windowMs: 50, onBatch: (n) => sizes.push(n) });
    const controller = new AbortController();
    const dropped = batcher.submit(predictor, images.slice(0, 2), {}, controller.signal);
    const kept = batcher.submit(predictor, images.slice(2, 3));
    controller.abort(new Error('client went away'));
    await expect(dropped).rejects.toThrow('client went away');
    expect(await kept).toHaveLength(1);
    expect(sizes).toEqual([1]);
  });

  it('should never put images of two models in one forward pass', async () => {
    // Same weights, renamed labels: an image answered by the wrong model shows it.
    const renamed = Predictor.fromNetwork(predictor.net, {
      ...predictor.meta,
      network: {
        ...predictor.meta.network,
        heads: predictor.meta.network.heads.map((h) => ({
          ...h,
          labels: h.labels.map((l) => `other-${l}`),
        })),
      },
    });
    const sizes: number[] = [];
    const batcher = new MicroBatcher({ maxBatch: 32, windowMs: 20, onBatch: (n) => sizes.push(n) });
    const answers = await Promise.all(
      images.slice(0, 12).map((pixels, i) => batcher.submit(i % 2 ? renamed : predictor, [pixels])),
    );
    answers.forEach(([a], i) => {
      const labels = Object.values(a!.prediction.heads).map((h) => h.label);
      expect(labels.every((l) => l.startsWith('other-') === (i % 2 === 1))).toBe(true);
    });
    expect(sizes.sort()).toEqual([6, 6]);
  });
});

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
