import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadDataset } from '@polyhead/data';
import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../backend/index.js';
import { tf } from '../tf.js';
import type { EpochLog } from '../train/trainer.js';
import { trainOnDataset, type TrainOnDatasetOptions } from './train-on-dataset.js';

// 64 synthetic 32×32 PNGs of the F06 case (coloured shapes on white).
const csv = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../apps/cli/test-fixtures/F06/labels.csv');

beforeAll(async () => {
  await initBackend('wasm');
});

async function run(extra: Partial<TrainOnDatasetOptions> = {}) {
  const dataset = await loadDataset(csv);
  const logs: EpochLog[] = [];
  const trained = await trainOnDataset({
    dataset,
    epochs: 3,
    batchSize: 8,
    inputSize: 24,
    backbone: { width: 8, depth: 2 },
    seed: 11,
    callbacks: { onEpochEnd: (log) => void logs.push(log) },
    ...extra,
  });
  const weights = await Promise.all(trained.net.model.getWeights().map((w) => w.data()));
  trained.net.model.dispose();
  return { logs, weights, trained };
}

/** An epoch's figures without those that measure time or memory. */
function figures(log: EpochLog) {
  const { seconds: _s, imagesPerSec: _i, memory: _m, ...rest } = log;
  return rest;
}

describe('trainOnDataset resources and reproducibility', () => {
  it('should keep tensors, RSS and the decode cache flat over 3 epochs when the cache budget is small', async () => {
    const before = tf.memory().numTensors;
    // 64 images of 24×24×3 floats are 442 KiB; a 128 KiB budget keeps under a third of them.
    const { logs } = await run({ cacheMb: 0.125 });
    const memory = logs.map((l) => l.memory);
    expect(memory).toHaveLength(3);
    expect(memory.map((m) => m.numTensors)).toEqual([memory[0]!.numTensors, memory[0]!.numTensors, memory[0]!.numTensors]);
    for (const m of memory) {
      expect(m.cacheMb).toBeGreaterThan(0.1);
      expect(m.cacheMb).toBeLessThanOrEqual(0.125);
    }
    expect(memory[2]!.rssMb - memory[0]!.rssMb).toBeLessThan(30);
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);

  it('should give identical metrics and weights when the data, seed and backend are the same', async () => {
    const a = await run();
    const b = await run();
    expect(a.logs.map(figures)).toEqual(b.logs.map(figures));
    a.weights.forEach((w, i) => expect(w).toEqual(b.weights[i]));
    const c = await run({ seed: 12 });
    expect(c.logs.map(figures)).not.toEqual(a.logs.map(figures));
  }, 60_000);
});
