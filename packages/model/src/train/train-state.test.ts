import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../backend/index.js';
import { buildNetwork, networkSpec } from '../network.js';
import { tf } from '../tf.js';
import { syntheticFeed, syntheticSet, syntheticSpec } from '../test-utils/synthetic.js';
import { loadTrainCheckpoint, saveTrainCheckpoint, type TrainCheckpoint } from './train-state.js';
import { train, type TrainOptions } from './trainer.js';

let dir: string;
beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(path.join(tmpdir(), 'polyhead-resume-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const spec = syntheticSpec();
const set = syntheticSet(96, 12, 4);
// 80 training samples in batches of 16: 5 batches per epoch.
const feed = () => syntheticFeed(set, 16, 16);
const base: TrainOptions = { epochs: 3, batchSize: 16, learningRate: 5e-3, patience: 10 };

async function weightsOf(net: ReturnType<typeof buildNetwork>): Promise<Float32Array[]> {
  return Promise.all(net.model.getWeights().map(async (w) => (await w.data()) as Float32Array));
}

describe('train with checkpoints', () => {
  it('should end with bit-identical weights when a run is interrupted mid-epoch and resumed', async () => {
    const straight = buildNetwork(spec, { seed: 9 });
    const straightResult = await train(straight, feed(), base);
    const expected = await weightsOf(straight);
    straight.model.dispose();

    const file = path.join(dir, 'run.ckpt');
    const abort = new AbortController();
    const first = buildNetwork(spec, { seed: 9 });
    const error = await train(first, feed(), {
      ...base,
      signal: abort.signal,
      checkpoint: { save: (cp) => saveTrainCheckpoint(file, cp) },
      callbacks: { onBatchEnd: (log) => void (log.epoch === 2 && log.batch === 3 && abort.abort()) },
    }).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('TRAIN_INTERRUPTED');
    first.model.dispose();
    const saved = await loadTrainCheckpoint(file);
    expect([saved.epoch, saved.batch, saved.epochDone, saved.step]).toEqual([2, 3, false, 8]);
    expect(saved.history).toHaveLength(1);

    const before = tf.memory().numTensors;
    // A fresh network with another seed: everything must come from the checkpoint.
    const second = buildNetwork(spec, { seed: 123 });
    const resumed = await train(second, feed(), { ...base, resume: saved });
    expect(resumed.history.map((h) => h.epoch)).toEqual([1, 2, 3]);
    expect(resumed.bestEpoch).toBe(straightResult.bestEpoch);
    const actual = await weightsOf(second);
    actual.forEach((w, i) => expect(w).toEqual(expected[i]));
    resumed.history.forEach((h, i) => expect(h.loss).toBe(straightResult.history[i]!.loss));
    second.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);

  it('should checkpoint every epoch and resume from an epoch boundary to the same weights', async () => {
    const file = path.join(dir, 'epochs.ckpt');
    const saves: TrainCheckpoint[] = [];
    const first = buildNetwork(spec, { seed: 2 });
    const result = await train(first, feed(), {
      ...base,
      lossBalance: 'dwa',
      checkpoint: {
        save: async (cp) => {
          saves.push(cp);
          await saveTrainCheckpoint(file, cp);
        },
      },
    });
    const expected = await weightsOf(first);
    first.model.dispose();
    expect(saves.map((s) => [s.epoch, s.epochDone, s.finished])).toEqual([
      [1, true, false],
      [2, true, false],
      [3, true, true],
    ]);
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);

    const second = buildNetwork(spec, { seed: 2 });
    const again = await train(second, feed(), { ...base, lossBalance: 'dwa', resume: saves[0] });
    const actual = await weightsOf(second);
    actual.forEach((w, i) => expect(w).toEqual(expected[i]));
    expect(again.history.map((h) => h.heads.color!.weight)).toEqual(result.history.map((h) => h.heads.color!.weight));
    second.model.dispose();
  }, 60_000);

  it('should stop naming epoch, batch and heads when a batch turns the gradients non-finite, leaving the last good checkpoint', async () => {
    const file = path.join(dir, 'nan.ckpt');
    const good = feed();
    const poisoned = {
      ...good,
      // Batch 3 of epoch 2 is all NaN: ReLU and max pooling turn it into 0, so the loss stays finite.
      async *train(epoch: number, fromBatch = 0) {
        let i = fromBatch;
        for await (const b of good.train(epoch, fromBatch)) {
          i++;
          if (epoch === 2 && i === 3) {
            yield { ...b, x: new Float32Array(b.x.length).fill(Number.NaN) };
          } else yield b;
        }
      },
    };
    const net = buildNetwork(spec, { seed: 4 });
    const before = tf.memory().numTensors;
    const error = (await train(net, poisoned, { ...base, checkpoint: { save: (cp) => saveTrainCheckpoint(file, cp) } }).catch((e: unknown) => e)) as {
      code?: string;
      message: string;
      details: Record<string, unknown>;
    };
    expect(error.code).toBe('TRAIN_NONFINITE_LOSS');
    expect(error.message).toMatch(/^gradients became NaN or infinite at epoch 2, batch 3 \(the backbone shared by every head; loss [^)]*\); the step was not applied/);
    expect(error.details).toMatchObject({ epoch: 2, batch: 3, heads: ['color', 'type'] });
    expect(tf.memory().numTensors).toBe(before);
    const kept = await loadTrainCheckpoint(file);
    expect([kept.epoch, kept.epochDone]).toEqual([1, true]);
    for (const a of kept.arrays) expect(Array.from(a.data).every(Number.isFinite)).toBe(true);
    net.model.dispose();
  });

  it('should refuse a checkpoint whose weights do not fit the network', async () => {
    const file = path.join(dir, 'epochs.ckpt');
    const other = buildNetwork(networkSpec({ inputSize: 12, backbone: { width: 6, depth: 2 }, heads: spec.heads }), { seed: 1 });
    const error = await train(other, feed(), { ...base, resume: await loadTrainCheckpoint(file) }).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('CHECKPOINT_MISMATCH');
    other.model.dispose();
  });
});
