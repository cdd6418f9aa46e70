import { Predictor, tf } from '@polyhead/model';
import { describe, expect, inject, it } from 'vitest';

import { loadPredictor, ModelHolder } from './model-holder.js';
import { useTestBackend } from './test-utils/fixtures.js';

await useTestBackend();

function blank(predictor: Predictor): Float32Array {
  return new Float32Array(predictor.meta.network.inputSize ** 2 * 3);
}

describe('ModelHolder', () => {
  it('should answer 503 not_ready before the first load and after close', async () => {
    const holder = new ModelHolder();
    expect(() => holder.acquire()).toThrow(
      expect.objectContaining({ status: 503, code: 'not_ready' }),
    );
    await holder.reload(inject('modelDir'));
    holder.acquire().release();
    await holder.close();
    expect(holder.ready).toBe(false);
    expect(() => holder.peek()).toThrow(expect.objectContaining({ code: 'not_ready' }));
  });

  it('should finish a leased request on the old model and dispose it once released when reloaded', async () => {
    const holder = new ModelHolder();
    const first = (await holder.reload(inject('modelDir'))).predictor;
    const lease = holder.acquire();
    const second = (await holder.reload()).predictor;
    expect(second).not.toBe(first);
    expect(holder.peek()).toBe(second);
    // The lease still answers on the model it started with.
    expect(lease.predictor).toBe(first);
    await expect(first.predictPixels(blank(first), 1)).resolves.toHaveLength(1);
    lease.release();
    await expect(first.predictPixels(blank(first), 1)).rejects.toThrow(/dispos/i);
    await expect(second.predictPixels(blank(second), 1)).resolves.toHaveLength(1);
    await holder.close();
  });

  it('should keep the old model serving when the new one fails to load', async () => {
    const holder = new ModelHolder();
    const { predictor } = await holder.reload(inject('modelDir'));
    await expect(holder.reload('/nonexistent/model')).rejects.toMatchObject({
      code: 'MODEL_NOT_FOUND',
    });
    expect(holder.peek()).toBe(predictor);
    expect(holder.dir).toBe(inject('modelDir'));
    await expect(predictor.predictPixels(blank(predictor), 1)).resolves.toHaveLength(1);
    await holder.close();
  });

  it('should keep the tensor count flat across reloads', async () => {
    const holder = new ModelHolder();
    await holder.reload(inject('modelDir'));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await holder.reload();
    expect(tf.memory().numTensors).toBe(before);
    await holder.close();
  });

  it('should run reloads one at a time in call order', async () => {
    const order: string[] = [];
    const holder = new ModelHolder(async (dir) => {
      order.push(`start ${dir}`);
      const predictor = await loadPredictor(inject('modelDir'));
      order.push(`end ${dir}`);
      return predictor;
    });
    await Promise.all([holder.reload('a'), holder.reload('b')]);
    expect(order).toEqual(['start a', 'end a', 'start b', 'end b']);
    expect(holder.dir).toBe('b');
    await holder.close();
  });
});
