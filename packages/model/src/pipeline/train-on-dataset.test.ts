import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadDataset } from '@polyhead/data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../backend/index.js';
import { tf } from '../tf.js';
import { trainOnDataset } from './train-on-dataset.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../data/test-fixtures');
let dir: string;

// 12 small labelled PNGs, two more copies of one of them, a pixel bomb and a truncated JPEG
beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(path.join(tmpdir(), 'polyhead-pipeline-'));
  await mkdir(path.join(dir, 'images'));
  const rows = ['image,color,type'];
  const labels = [
    ['red', 'circle'], ['blue', 'square'], ['red', 'square'], ['blue', 'circle'],
    ['red', 'circle'], ['blue', 'square'], ['red', 'square'], ['blue', 'circle'],
    ['red', 'circle'], ['blue', 'square'], ['red', 'square'], ['blue', 'circle'],
  ];
  for (let i = 0; i < 12; i++) {
    const name = `m${String(i).padStart(2, '0')}.png`;
    await copyFile(path.join(fixtures, 'F02/images', name), path.join(dir, 'images', name));
    rows.push(`images/${name},${labels[i]!.join(',')}`);
  }
  for (const copy of ['copy1.png', 'copy2.png']) {
    await copyFile(path.join(fixtures, 'F02/images/m07.png'), path.join(dir, 'images', copy));
    rows.push(`images/${copy},blue,circle`);
  }
  await copyFile(path.join(fixtures, 'F11/bomb_20000x20000.png'), path.join(dir, 'images/bomb.png'));
  rows.push('images/bomb.png,red,circle');
  await copyFile(path.join(fixtures, 'F12/truncated_60pct.jpg'), path.join(dir, 'images/cut.jpg'));
  rows.push('images/cut.jpg,blue,square');
  await writeFile(path.join(dir, 'labels.csv'), `${rows.join('\n')}\n`);
  const tagged = ['image,color,tags'];
  const tags = ['summer|casual', 'casual', '', 'formal|summer', 'summer', '|'];
  for (let i = 0; i < 12; i++) tagged.push(`images/m${String(i).padStart(2, '0')}.png,${labels[i]![0]},${tags[i % 6]}`);
  await writeFile(path.join(dir, 'tagged.csv'), `${tagged.join('\n')}\n`);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const settings = { inputSize: 16, backbone: { width: 4, depth: 2 }, epochs: 1, batchSize: 4 } as const;

describe('trainOnDataset', () => {
  it('should list every undecodable image with its line before training when asked to fail', async () => {
    const dataset = await loadDataset(path.join(dir, 'labels.csv'));
    const before = tf.memory().numTensors;
    await expect(trainOnDataset({ dataset, ...settings })).rejects.toThrow(
      /2 images .* cannot be used[\s\S]*labels\.csv:16: .*bomb\.png is 20000×20000[\s\S]*labels\.csv:17: .*cut\.jpg is a truncated or corrupt image/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('should skip bad images and keep identical images on one side of the split', async () => {
    const dataset = await loadDataset(path.join(dir, 'labels.csv'));
    for (const seed of [0, 1, 2, 3]) {
      const trained = await trainOnDataset({ dataset, ...settings, seed, valFraction: 0.3, onBadImage: 'skip' });
      trained.net.model.dispose();
      expect(trained.badImages.map((b) => [b.line, b.code])).toEqual([
        [16, 'IMAGE_TOO_LARGE'],
        [17, 'IMAGE_CORRUPT'],
      ]);
      expect(trained.duplicates).toEqual({ groups: 1, images: 3 });
      const copies = [7, 12, 13];
      const inVal = copies.filter((i) => trained.split.val.includes(i)).length;
      expect([0, 3]).toContain(inVal);
      expect(trained.split.train.length + trained.split.val.length).toBe(14);
    }
  });

  it('should hold out a combination and score it apart', async () => {
    const dataset = await loadDataset(path.join(dir, 'labels.csv'));
    const trained = await trainOnDataset({
      dataset,
      ...settings,
      onBadImage: 'skip',
      holdout: { combos: [{ color: 'red', type: 'square' }] },
    });
    trained.net.model.dispose();
    expect(trained.split.unseen).toEqual([2, 6, 10]);
    expect(trained.unseen!.fullyLabelled).toBe(3);
    expect(trained.meta.training!.trainCombos).not.toContainEqual(['red', 'square']);
  });

  it('should infer a multi-label head from | and save its tuned thresholds', async () => {
    const dataset = await loadDataset(path.join(dir, 'tagged.csv'));
    const trained = await trainOnDataset({ dataset, ...settings, valFraction: 0.4, balanceHead: 'color' });
    trained.net.model.dispose();
    const tags = trained.meta.network.heads[1]!;
    expect(tags).toMatchObject({ name: 'tags', kind: 'multilabel', labels: ['casual', 'formal', 'summer'] });
    expect(tags.thresholds).toHaveLength(3);
    expect(trained.meta.training).toMatchObject({ headKinds: { color: 'softmax', tags: 'multilabel' }, balanceHead: 'color' });
    expect(trained.result.val!.heads.tags).toHaveProperty('mAP');
    expect(trained.meta.training!.trainCombos).toEqual([['blue'], ['red']]);
  });

  it('should take head kinds by name and refuse to balance a multi-label head', async () => {
    const dataset = await loadDataset(path.join(dir, 'tagged.csv'));
    await expect(trainOnDataset({ dataset, ...settings, balanceHead: 'tags' })).rejects.toThrow(/needs a softmax head; "tags" is multi-label/);
    await expect(trainOnDataset({ dataset, ...settings, headKinds: { style: 'multilabel' } })).rejects.toThrow(/head kind given for "style"/);
    const trained = await trainOnDataset({ dataset, ...settings, headKinds: { color: 'multilabel', tags: 'softmax' } });
    trained.net.model.dispose();
    expect(trained.meta.network.heads.map((h) => h.kind)).toEqual(['multilabel', 'softmax']);
    expect(trained.meta.network.heads[1]!.labels).toContain('summer|casual');
  });
});
