import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batches, checkImages, type Batch, type BatchOptions } from './batches.js';
import { readCsvManifest } from './csv-manifest.js';
import type { Dataset } from './dataset.js';
import { ImageError } from './errors.js';
import { ImageCache } from './image-cache.js';
import { LabelEncoder } from './labels.js';
import { defaultPreprocessing } from './preprocessing.js';
import { makeTempDir, noiseImage, rawImage } from './test-utils/index.js';

const COUNT = 10;
/** Sample i is a solid image of colour (i × 20, 100, 255 − i × 20). */
const colourOf = (i: number) => [i * 20, 100, 255 - i * 20];
const pre = defaultPreprocessing({ size: 2, kernel: 'nearest' });
const PIXELS = 2 * 2 * 3;

let dir: string;
let remove: () => Promise<void>;
let dataset: Dataset;
let labels: Int32Array[];
const all = Array.from({ length: COUNT }, (_, i) => i);

beforeAll(async () => {
  ({ dir, remove } = await makeTempDir());
  const rows = ['image,color,type'];
  for (let i = 0; i < COUNT; i++) {
    await rawImage(3, 3, 3, () => colourOf(i))
      .png()
      .toFile(path.join(dir, `s${i}.png`));
    rows.push(`s${i}.png,${i % 2 ? 'red' : 'blue'},${i % 3 ? 'circle' : ''}`);
  }
  await writeFile(path.join(dir, 'labels.csv'), `${rows.join('\n')}\n`);
  dataset = await readCsvManifest(path.join(dir, 'labels.csv'));
  labels = LabelEncoder.fit(dataset).encode(dataset);
});
afterAll(() => remove());

async function collect(indices: number[], opts: Partial<BatchOptions> = {}): Promise<Batch[]> {
  const out: Batch[] = [];
  const options = { batchSize: 4, shuffle: false, seed: 1, pre, ...opts };
  for await (const batch of batches(dataset.samples, labels, indices, options)) out.push(batch);
  return out;
}

describe('batches', () => {
  it('should yield NHWC shapes, the images and labels of each index in order', async () => {
    const out = await collect(all);
    expect(out.map((b) => b.shape)).toEqual([
      [4, 2, 2, 3],
      [4, 2, 2, 3],
      [2, 2, 2, 3],
    ]);
    expect(out.flatMap((b) => b.indices)).toEqual(all);
    for (const batch of out) {
      expect(batch.x.length).toBe(batch.indices.length * PIXELS);
      batch.indices.forEach((sample, j) => {
        const [r, g, b] = colourOf(sample).map((v) => v / 255);
        const pixel = batch.x.subarray(j * PIXELS, j * PIXELS + 3);
        expect([...pixel].map((v) => v.toFixed(5))).toEqual([r, g, b].map((v) => v!.toFixed(5)));
        expect(batch.labels[0]![j]).toBe(sample % 2 ? 1 : 0); // blue = 0, red = 1
        expect(batch.labels[1]![j]).toBe(sample % 3 ? 0 : -1); // circle = 0, blank = -1
      });
    }
  });

  it('should leave out the short last batch when dropLast is set', async () => {
    const out = await collect(all, { dropLast: true });
    expect(out.map((b) => b.indices.length)).toEqual([4, 4]);
  });

  it('should use only the indices given', async () => {
    const out = await collect([7, 2, 5]);
    expect(out.map((b) => b.indices)).toEqual([[7, 2, 5]]);
    expect([...out[0]!.labels[0]!]).toEqual([1, 0, 1]);
  });

  it('should reproduce the order for the same seed and epoch, and change it for another epoch', async () => {
    const order = async (seed: number, epoch: number) =>
      (await collect(all, { shuffle: true, seed, epoch })).flatMap((b) => b.indices);
    const epoch0 = await order(5, 0);
    expect([...epoch0].sort((a, b) => a - b)).toEqual(all);
    expect(epoch0).not.toEqual(all);
    expect(await order(5, 0)).toEqual(epoch0);
    expect(await order(5, 1)).not.toEqual(epoch0);
    expect(await order(6, 0)).not.toEqual(epoch0);
  });

  it('should hit the cache on the second epoch and keep misses constant', async () => {
    const cache = new ImageCache(1024 * 1024);
    await collect(all, { shuffle: true, epoch: 0, cache });
    expect([cache.misses, cache.hits, cache.size]).toEqual([COUNT, 0, COUNT]);
    const second = await collect(all, { shuffle: true, epoch: 1, cache });
    expect([cache.misses, cache.hits]).toEqual([COUNT, COUNT]);
    const uncached = await collect(all, { shuffle: true, epoch: 1 });
    expect(second.map((b) => [...b.x])).toEqual(uncached.map((b) => [...b.x]));
  });

  it('should keep the cache within its budget', async () => {
    const perImage = PIXELS * 4;
    const cache = new ImageCache(3 * perImage);
    await collect(all, { cache });
    await collect(all, { cache });
    expect(cache.size).toBe(3);
    expect(cache.bytes).toBe(3 * perImage);
    expect(cache.misses).toBe(2 * COUNT); // in-order passes over 10 images evict before reuse
  });

  it('should decode the next batch while the consumer holds the current one', async () => {
    const cache = new ImageCache(1024 * 1024);
    const iterator = batches(dataset.samples, labels, all, {
      batchSize: 2,
      shuffle: false,
      seed: 1,
      pre,
      cache,
    });
    const first = await iterator.next();
    expect(first.value?.indices).toEqual([0, 1]);
    expect(cache.misses).toBe(4); // batch 2 was requested before batch 1 was handed over
    await iterator.return(undefined);
  });

  it('should carry the multi-hot rows of each sample, repeats included, when given targets', async () => {
    // head 1 as two labels: sample i has label 0 when even, label 1 when divisible by 3
    const rows = Float32Array.from(all.flatMap((i) => [i % 2 ? 0 : 1, i % 3 ? 0 : 1]));
    const out = await collect([3, 4, 3], { targets: [undefined, rows] });
    expect(out[0]!.targets![0]).toBeUndefined();
    expect([...out[0]!.targets![1]!]).toEqual([0, 1, 1, 0, 0, 1]);
    await expect(collect(all, { targets: [new Float32Array(7)] })).rejects.toThrow(
      /Targets of head 0 have 7 entries/,
    );
    expect((await collect([1]))[0]!.targets).toBeUndefined();
  });

  it('should reject a batch size below 1 and an index out of range', async () => {
    await expect(collect(all, { batchSize: 0 })).rejects.toThrow(
      /batchSize 0: expected an integer/,
    );
    await expect(collect([0, COUNT])).rejects.toThrow(/Sample index 10 is out of range/);
  });
});

describe('batches and checkImages with a broken image', () => {
  let broken: Dataset;
  let brokenLabels: Int32Array[];

  beforeAll(async () => {
    const jpeg = await noiseImage(32, 32).jpeg().toBuffer();
    await writeFile(path.join(dir, 'cut.jpg'), jpeg.subarray(0, jpeg.length >> 1));
    const csv = path.join(dir, 'broken.csv');
    await writeFile(csv, 'image,color\ns0.png,red\ncut.jpg,blue\ns1.png,red\n');
    broken = await readCsvManifest(csv);
    brokenLabels = LabelEncoder.fit(broken).encode(broken);
  });

  it('should fail the batch with the CSV file and line of the broken image', async () => {
    const iterate = async () => {
      const opts = { batchSize: 3, shuffle: false, seed: 1, pre };
      for await (const _ of batches(broken.samples, brokenLabels, [0, 1, 2], opts));
    };
    const error = await iterate().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ImageError);
    expect((error as ImageError).code).toBe('IMAGE_CORRUPT');
    expect((error as ImageError).message).toMatch(
      /broken\.csv:3: .*cut\.jpg is a truncated or corrupt/,
    );
  });

  it('should list every image that fails to decode with its source', async () => {
    const problems = await checkImages(broken.samples, pre);
    expect(problems.map((p) => [p.index, p.source.line, p.error.code])).toEqual([
      [1, 3, 'IMAGE_CORRUPT'],
    ]);
    expect(problems[0]!.path).toBe(path.join(dir, 'cut.jpg'));
  });
});
