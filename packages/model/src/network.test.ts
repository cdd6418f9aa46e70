import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { defaultPreprocessing } from '@polyhead/data';
import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from './backend/index.js';
import { loadModelDir, saveModelDir } from './io/model-dir.js';
import { buildNetwork, networkSpec } from './network.js';
import { tf } from './tf.js';
import { syntheticBatches, syntheticSet } from './test-utils/synthetic.js';
import { train } from './train/trainer.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const heads = [
  { name: 'color', labels: ['red', 'green', 'blue'] },
  { name: 'type', labels: ['square', 'frame', 'cross'] },
];

describe('buildNetwork', () => {
  it('should build the same initial weights on every call with the same seed, seed 0 included', () => {
    const weights = (seed: number) => {
      const net = buildNetwork(networkSpec({ inputSize: 12, backbone: { width: 4, depth: 3 }, heads, sharedDepth: 1 }), { seed });
      const values = net.model.getWeights().map((w) => Array.from(w.dataSync()));
      net.model.dispose();
      return values;
    };
    const zero = weights(0);
    expect(weights(0)).toEqual(zero);
    expect(weights(5)).toEqual(weights(5));
    expect(weights(5)).not.toEqual(zero);
  });

  it('should give each head its own branch after the shared blocks', () => {
    const net = buildNetwork(networkSpec({ inputSize: 12, backbone: { width: 4, depth: 3 }, heads, sharedDepth: 1 }), { seed: 1 });
    const names = net.model.layers.map((l) => l.name);
    expect(names).toContain('block1_conv');
    expect(names).not.toContain('block2_conv');
    expect(names).toEqual(expect.arrayContaining(['color_branch_block2_conv', 'type_branch_block3_conv', 'type_branch_features']));
    // conv kernels of blocks 2 and 3, BN gamma and beta of both, and the dense kernel and bias
    expect(net.headVariables.map((v) => v.length)).toEqual([8, 8]);
    const colorOwn = new Set(net.headVariables[0]);
    expect(net.headVariables[1]!.some((v) => colorOwn.has(v))).toBe(false);
    net.model.dispose();
  });

  it('should feed earlier heads probabilities to later heads of a chain', () => {
    const net = buildNetwork(networkSpec({ inputSize: 12, backbone: { width: 4, depth: 2 }, heads, chain: ['type', 'color'] }), { seed: 1 });
    const concat = net.model.getLayer('color_chain');
    // 8 pooled features + 3 probabilities of the type head
    expect(concat.outputShape).toEqual([null, 11]);
    expect(net.model.outputNames).toEqual(['color', 'type']);
    net.model.dispose();
  });

  it('should give a multi-label head independent sigmoid scores on a branch and in a chain', () => {
    const tagged = [heads[0]!, { name: 'tags', labels: ['a', 'b', 'c', 'd'], kind: 'multilabel' as const }];
    const spec = networkSpec({ inputSize: 12, backbone: { width: 4, depth: 2 }, heads: tagged, sharedDepth: 1, chain: ['tags', 'color'] });
    const net = buildNetwork(spec, { seed: 1 });
    expect(spec.heads.map((h) => h.kind)).toEqual(['softmax', 'multilabel']);
    expect(spec.heads.map((h) => h.thresholds)).toEqual([undefined, [0.5, 0.5, 0.5, 0.5]]);
    expect(net.model.getLayer('color_chain').outputShape).toEqual([null, 8 + 4]);
    expect(net.headVariables[1]).toHaveLength(5);
    const [color, tags] = tf.tidy(() =>
      (net.model.predict(tf.tensor4d(syntheticSet(3, 12, 1).x, [3, 12, 12, 3])) as tf.Tensor[]).map((t) => t.arraySync() as number[][]),
    );
    for (const row of color!) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(tags!.flat().every((p) => p > 0 && p < 1)).toBe(true);
    expect(tags!.some((row) => Math.abs(row.reduce((a, b) => a + b, 0) - 1) > 0.1)).toBe(true);
    net.model.dispose();
  });

  it('should refuse thresholds on a softmax head or of the wrong length', () => {
    expect(() => networkSpec({ inputSize: 12, heads: [{ ...heads[0]!, thresholds: [0.5, 0.5, 0.5] }] })).toThrow(/thresholds need a multilabel head/);
    expect(() => networkSpec({ inputSize: 12, heads: [{ ...heads[0]!, kind: 'multilabel', thresholds: [0.5] }] })).toThrow(/one per label \(3\), got 1/);
  });

  it('should refuse a shared depth beyond the backbone and a chain naming an unknown head', () => {
    expect(() => networkSpec({ inputSize: 12, backbone: { depth: 2 }, heads, sharedDepth: 3 })).toThrow(/0\.\.2/);
    expect(() => networkSpec({ inputSize: 12, heads, chain: ['type', 'size'] })).toThrow(/chain names head "size"/);
  });

  it('should leave a branch untouched by a batch without its labels, and save and load it', async () => {
    const spec = networkSpec({ inputSize: 12, backbone: { width: 4, depth: 2 }, heads, sharedDepth: 1, chain: ['color', 'type'] });
    const net = buildNetwork(spec, { seed: 2 });
    const before = net.headVariables[0]!.map((v) => Array.from(v.dataSync()));
    const set = syntheticSet(16, 12, 4);
    const [batch] = syntheticBatches(set, Array.from({ length: 16 }, (_, i) => i), 16, { color: () => true });
    await train(net, { trainSize: 16, train: async function* () { yield batch!; } }, { epochs: 1, batchSize: 16 });
    expect(net.headVariables[0]!.map((v) => Array.from(v.dataSync()))).toEqual(before);

    const dir = await mkdtemp(path.join(tmpdir(), 'polyhead-branch-'));
    await saveModelDir(dir, net, { format: 'polyhead-model/1', network: spec, preprocessing: defaultPreprocessing({ size: 12 }), createdAt: '', versions: {} });
    const loaded = await loadModelDir(dir);
    const x = tf.tensor4d(set.x, [16, 12, 12, 3]);
    const a = (net.model.predict(x) as tf.Tensor[]).map((t) => Array.from(t.dataSync()));
    const b = (loaded.net.model.predict(x) as tf.Tensor[]).map((t) => Array.from(t.dataSync()));
    expect(b).toEqual(a);
    expect(loaded.net.headVariables.map((v) => v.length)).toEqual(net.headVariables.map((v) => v.length));
    tf.dispose(x);
    net.model.dispose();
    loaded.net.model.dispose();
    await rm(dir, { recursive: true, force: true });
  });
});
