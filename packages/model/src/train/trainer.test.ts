import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../backend/index.js';
import { buildNetwork, networkSpec } from '../network.js';
import { tf } from '../tf.js';
import {
  multiLabelFeed,
  multiLabelSet,
  SYNTH_COLORS,
  SYNTH_TAGS,
  syntheticBatches,
  syntheticFeed,
  syntheticSet,
  syntheticSpec,
} from '../test-utils/synthetic.js';
import { train, type EpochLog } from './trainer.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const spec = syntheticSpec();

describe('train', () => {
  it('should learn both heads and keep the tensor count flat across epochs', async () => {
    const set = syntheticSet(320, 12, 1);
    const net = buildNetwork(spec, { seed: 3 });
    const before = tf.memory().numTensors;
    const logs: EpochLog[] = [];
    const result = await train(net, syntheticFeed(set, 32, 64), {
      epochs: 10,
      batchSize: 32,
      learningRate: 1e-2,
      callbacks: { onEpochEnd: (log) => void logs.push(log) },
    });
    expect(result.val!.heads.color!.accuracy).toBeGreaterThan(0.95);
    expect(result.val!.heads.type!.accuracy).toBeGreaterThan(0.9);
    expect(logs.map((l) => l.memory.numTensors).slice(1)).toEqual(new Array(9).fill(logs[0]!.memory.numTensors));
    expect(tf.memory().numTensors).toBe(before);
    for (const log of logs) {
      const heads = Object.values(log.heads);
      expect(log.loss).toBeCloseTo(heads.reduce((a, h) => a + h.weight * h.loss, 0), 6);
      for (const h of [...heads, ...Object.values(log.val!.heads)]) {
        expect(h.accuracy).toBeGreaterThanOrEqual(0);
        expect(h.accuracy).toBeLessThanOrEqual(1);
      }
    }
    net.model.dispose();
  });

  it('should leave a head untouched by a batch where it has no labels', async () => {
    const set = syntheticSet(16, 12, 2);
    const net = buildNetwork(spec, { seed: 5 });
    const colorVars = net.headVariables[0]!;
    const typeVars = net.headVariables[1]!;
    const initial = colorVars.map((v) => Array.from(v.dataSync()));
    const initialType = typeVars.map((v) => Array.from(v.dataSync()));
    const [batch] = syntheticBatches(set, Array.from({ length: 16 }, (_, i) => i), 16, { color: () => true });
    const losses: Record<string, { loss: number; accuracy: number; count: number }>[] = [];
    await train(
      net,
      { trainSize: 16, train: async function* () { yield batch!; } },
      { epochs: 1, batchSize: 16, schedule: 'constant', callbacks: { onBatchEnd: (log) => void losses.push(log.heads) } },
    );
    expect(losses[0]!.color).toEqual({ loss: 0, accuracy: 0, count: 0 });
    expect(Number.isFinite(losses[0]!.type!.loss)).toBe(true);
    expect(colorVars.map((v) => Array.from(v.dataSync()))).toEqual(initial);
    expect(typeVars.map((v) => Array.from(v.dataSync()))).not.toEqual(initialType);
    net.model.dispose();
  });

  it('should stop with an error naming epoch, batch and head when the loss is not finite', async () => {
    const set = syntheticSet(8, 12, 3);
    const [batch] = syntheticBatches(set, Array.from({ length: 8 }, (_, i) => i), 8);
    const net = buildNetwork(spec, { seed: 1 });
    const typeKernel = net.headVariables[1]![0]!;
    tf.tidy(() => typeKernel.assign(tf.fill(typeKernel.shape, Number.NaN)));
    await expect(
      train(net, { trainSize: 8, train: async function* () { yield batch!; } }, { epochs: 1, batchSize: 8 }),
    ).rejects.toThrow(/epoch 1, batch 1 \(head type\)/);
    net.model.dispose();
  });

  it('should give the same losses for the same seed', async () => {
    const set = syntheticSet(64, 12, 4);
    const run = async () => {
      const net = buildNetwork(spec, { seed: 9 });
      const result = await train(net, syntheticFeed(set, 16, 16), { epochs: 2, batchSize: 16 });
      net.model.dispose();
      return result.history.map((h) => h.loss);
    };
    expect(await run()).toEqual(await run());
  });
});

describe('train with a multi-label head', () => {
  const mixed = () =>
    networkSpec({
      inputSize: 12,
      backbone: { width: 8, depth: 2 },
      heads: [
        { name: 'color', labels: [...SYNTH_COLORS] },
        { name: 'tags', labels: [...SYNTH_TAGS], kind: 'multilabel' },
      ],
    });

  it('should reach micro-F1 above 0.9 and write the tuned thresholds into the spec', async () => {
    const set = multiLabelSet(320, 16, 1);
    const spec = networkSpec({
      inputSize: 16,
      backbone: { width: 8, depth: 3 },
      heads: [{ name: 'tags', labels: [...SYNTH_TAGS], kind: 'multilabel' }],
    });
    const net = buildNetwork(spec, { seed: 3 });
    const before = tf.memory().numTensors;
    const result = await train(net, multiLabelFeed(set, 32, 96), { epochs: 8, batchSize: 32, learningRate: 1e-2 });
    const tags = result.val!.heads.tags!;
    expect(tags.kind).toBe('multilabel');
    expect(tags.microF1).toBeGreaterThan(0.9);
    expect(tags.mAP).toBeGreaterThan(0.9);
    expect(result.history.at(-1)!.val!.heads.tags!.microF1).toBeGreaterThan(0);
    expect(result.thresholds[0]).toHaveLength(3);
    expect(net.spec.heads[0]!.thresholds).toEqual(result.thresholds[0]);
    expect(tags.classes.map((c) => c.threshold)).toEqual(result.thresholds[0]);
    expect(tf.memory().numTensors).toBe(before);
    net.model.dispose();
  });

  it('should add exactly 0 and leave the head untouched when every cell of a batch is empty', async () => {
    const set = syntheticSet(16, 12, 2);
    const net = buildNetwork(mixed(), { seed: 5 });
    const tagVars = net.headVariables[1]!;
    const colorVars = net.headVariables[0]!;
    const initial = tagVars.map((v) => Array.from(v.dataSync()));
    const initialColor = colorVars.map((v) => Array.from(v.dataSync()));
    const [plain] = syntheticBatches(set, Array.from({ length: 16 }, (_, i) => i), 16);
    const batch = { ...plain!, labels: [plain!.labels[0]!, new Int32Array(16).fill(-1)], targets: [undefined, new Float32Array(48)] };
    const logs: Record<string, { loss: number; accuracy: number; count: number }>[] = [];
    await train(
      net,
      { trainSize: 16, train: async function* () { yield batch; } },
      { epochs: 1, batchSize: 16, schedule: 'constant', callbacks: { onBatchEnd: (log) => void logs.push(log.heads) } },
    );
    expect(logs[0]!.tags).toEqual({ loss: 0, accuracy: 0, count: 0 });
    expect(tagVars.map((v) => Array.from(v.dataSync()))).toEqual(initial);
    expect(colorVars.map((v) => Array.from(v.dataSync()))).not.toEqual(initialColor);
    net.model.dispose();
  });

  it('should name the head when a batch lacks the targets of a multi-label head', async () => {
    const set = syntheticSet(4, 12, 3);
    const net = buildNetwork(mixed(), { seed: 1 });
    const [batch] = syntheticBatches(set, [0, 1, 2, 3], 4);
    await expect(
      train(net, { trainSize: 4, train: async function* () { yield batch!; } }, { epochs: 1, batchSize: 4 }),
    ).rejects.toThrow(/head "tags" is multi-label but the batch has no targets for it; expected 12/);
    net.model.dispose();
  });
});
