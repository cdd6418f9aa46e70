import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { defaultPreprocessing } from '@polyhead/data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildNetwork, networkSpec } from '../network.js';
import { Predictor } from '../predictor.js';
import type { ModelMeta } from '../spec.js';
import { tf } from '../tf.js';
import { syntheticSet } from '../test-utils/synthetic.js';
import { loadModelDir, saveModelDir } from './model-dir.js';

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(tmpdir(), 'polyhead-io-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const spec = networkSpec({
  inputSize: 12,
  backbone: { width: 4, depth: 2 },
  heads: [
    { name: 'color', labels: ['blue', 'green', 'red'] },
    { name: 'size (cm)', labels: ['l', 's'] },
  ],
});
const meta: ModelMeta = {
  format: 'polyhead-model/1',
  network: spec,
  preprocessing: defaultPreprocessing({ size: 12 }),
  createdAt: new Date(0).toISOString(),
  versions: {},
};

describe('saveModelDir / loadModelDir', () => {
  it('should give identical predictions after a save and a load', async () => {
    const net = buildNetwork(spec, { seed: 2 });
    const set = syntheticSet(5, 12, 7);
    const target = path.join(dir, 'model');
    await saveModelDir(target, net, meta);
    expect((await readdir(target)).sort()).toEqual(['model.json', 'polyhead.json', 'weights.bin']);
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-') || f.includes('.old-'))).toEqual([]);

    const original = await Predictor.fromNetwork(net, meta).probabilities(set.x, 5);
    const loaded = await Predictor.load(target);
    const again = await loaded.probabilities(set.x, 5);
    expect(again.map((a) => Array.from(a))).toEqual(original.map((a) => Array.from(a)));
    expect(loaded.meta.network.heads.map((h) => h.output)).toEqual(['color', 'size_cm']);
    const topology = JSON.parse(await readFile(path.join(target, 'model.json'), 'utf8'));
    expect(topology.format).toBe('layers-model');
    net.model.dispose();
    loaded.dispose();
  });

  it('should replace an existing model directory whole', async () => {
    const target = path.join(dir, 'replace');
    const a = buildNetwork(spec, { seed: 1 });
    const b = buildNetwork(spec, { seed: 2 });
    await saveModelDir(target, a, meta);
    await saveModelDir(target, b, { ...meta, createdAt: 'second' });
    const { net, meta: m } = await loadModelDir(target);
    expect(m.createdAt).toBe('second');
    expect(Array.from(net.model.getWeights()[0]!.dataSync())).toEqual(Array.from(b.model.getWeights()[0]!.dataSync()));
    for (const m of [a.model, b.model, net.model]) m.dispose();
  });

  it('should keep a multi-label head and its thresholds through a save and a load', async () => {
    const tagged = networkSpec({
      inputSize: 12,
      backbone: { width: 4, depth: 2 },
      sharedDepth: 1,
      heads: [
        { name: 'color', labels: ['blue', 'green', 'red'] },
        { name: 'tags', labels: ['casual', 'formal', 'summer'], kind: 'multilabel', thresholds: [0.3, 0.5, 0.62] },
      ],
    });
    const net = buildNetwork(tagged, { seed: 4 });
    const set = syntheticSet(6, 12, 8);
    const target = path.join(dir, 'tagged');
    const taggedMeta = { ...meta, network: tagged };
    await saveModelDir(target, net, taggedMeta);
    const original = await Predictor.fromNetwork(net, taggedMeta).predictPixels(set.x, 6, { top: 2 });
    const loaded = await Predictor.load(target);
    expect(loaded.meta.network.heads[1]).toMatchObject({ kind: 'multilabel', thresholds: [0.3, 0.5, 0.62] });
    const again = await loaded.predictPixels(set.x, 6, { top: 2 });
    expect(again).toEqual(original);
    for (const p of again) {
      const tags = p.heads.tags!;
      const chosen = Object.entries(tags.scores!).filter(([l, v]) => v >= { casual: 0.3, formal: 0.5, summer: 0.62 }[l]!);
      expect([...tags.labels!].sort()).toEqual(chosen.map(([l]) => l).sort());
      expect(p.heads.color!.labels).toBeUndefined();
    }
    net.model.dispose();
    loaded.dispose();
  });

  it('should name the missing file when a directory is not a model', async () => {
    await expect(loadModelDir(dir)).rejects.toThrow(/polyhead\.json is missing/);
  });
});
