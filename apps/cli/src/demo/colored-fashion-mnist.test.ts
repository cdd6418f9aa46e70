import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  CFM_COLORS,
  CFM_TYPES,
  buildColoredFashionMnist,
  heldOutPairs,
  type ColoredFashionMnist,
} from './colored-fashion-mnist.js';
import { locateFashionMnist } from './fashion-mnist-source.js';

const PER_TYPE = 20;

interface Row {
  image: string;
  color: string;
  type: string;
}

async function readRows(csv: string): Promise<Row[]> {
  const [header, ...lines] = (await readFile(csv, 'utf8')).trimEnd().split('\n');
  expect(header).toBe('image,color,type');
  return lines.map((line) => {
    const [image, color, type] = line.split(',') as [string, string, string];
    return { image, color, type };
  });
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

const key = (pair: { color: string; type: string }): string => `${pair.color}/${pair.type}`;

describe('heldOutPairs', () => {
  it('should give 16 distinct pairs when called with any seed', () => {
    for (let seed = 0; seed < 50; seed++) {
      const pairs = heldOutPairs(seed);
      expect(pairs).toHaveLength(16);
      expect(new Set(pairs.map(key)).size).toBe(16);
      for (const pair of pairs) {
        expect(CFM_COLORS.map((c) => c.name)).toContain(pair.color);
        expect(CFM_TYPES).toContain(pair.type);
      }
    }
  });

  it('should be deterministic when called twice with the same seed', () => {
    expect(heldOutPairs(3)).toEqual(heldOutPairs(3));
    expect(heldOutPairs(0)).not.toEqual(heldOutPairs(1));
  });

  it('should leave every colour and type at most 2 held pairs and some seen pair when seeds vary', () => {
    for (let seed = 0; seed < 50; seed++) {
      const pairs = heldOutPairs(seed);
      for (const color of CFM_COLORS) {
        const held = pairs.filter((p) => p.color === color.name).length;
        expect(held).toBeLessThanOrEqual(2);
        expect(CFM_TYPES.length - held).toBeGreaterThan(0);
      }
      for (const type of CFM_TYPES) {
        const held = pairs.filter((p) => p.type === type).length;
        expect(held).toBeLessThanOrEqual(2);
        expect(CFM_COLORS.length - held).toBeGreaterThan(0);
      }
    }
  });

  it('should throw when the seed is not an integer', () => {
    expect(() => heldOutPairs(1.5)).toThrow(/seed must be an integer/);
  });
});

describe('buildColoredFashionMnist', () => {
  let cache: string;
  let data: ColoredFashionMnist;
  let seen: Row[];
  let unseen: Row[];
  let progress: [number, number][];

  beforeAll(async () => {
    cache = await mkdtemp(join(tmpdir(), 'polyhead-cfm-'));
    progress = [];
    data = await buildColoredFashionMnist({
      perType: PER_TYPE,
      seed: 0,
      cacheDir: join(cache, 'a'),
      onProgress: (done, total) => progress.push([done, total]),
    });
    seen = await readRows(data.seenCsv);
    unseen = await readRows(data.unseenCsv);
  });

  afterAll(async () => {
    await rm(cache, { recursive: true, force: true });
  });

  it('should write the dataset under datasets/ with the seed and size in its name', () => {
    expect(data.dir).toBe(join(cache, 'a', 'datasets', 'colored-fashion-mnist-v1-s0-n20'));
    expect(data.seenCsv).toBe(join(data.dir, 'labels.csv'));
    expect(data.unseenCsv).toBe(join(data.dir, 'unseen.csv'));
    expect(data.heldOut).toEqual(heldOutPairs(0));
  });

  it('should count every image once across the two CSVs when built', async () => {
    expect(data.counts.seen + data.counts.unseen).toBe(PER_TYPE * CFM_TYPES.length);
    expect(seen).toHaveLength(data.counts.seen);
    expect(unseen).toHaveLength(data.counts.unseen);
    expect(data.counts.unseen).toBeGreaterThan(0);
    const images = [...seen, ...unseen].map((row) => row.image);
    expect(new Set(images).size).toBe(images.length);
    const pngs = (await listFiles(data.dir)).filter((file) => file.endsWith('.png'));
    expect(pngs.sort()).toEqual([...images].sort());
    expect(progress).toHaveLength(PER_TYPE * CFM_TYPES.length);
    expect(progress.at(-1)).toEqual([200, 200]);
  });

  it('should take the first perType images of each class in class order when labelling', () => {
    const all = [...seen, ...unseen];
    for (const type of CFM_TYPES) {
      const indices = all
        .filter((row) => row.type === type)
        .map((row) => {
          expect(row.image).toMatch(new RegExp(`^images/${type}/\\d+\\.png$`));
          return Number(row.image.split('/')[2]?.replace('.png', ''));
        })
        .sort((a, b) => a - b);
      expect(indices).toEqual(Array.from({ length: PER_TYPE }, (_, i) => i));
    }
    expect(seen.map((row) => CFM_TYPES.indexOf(row.type))).toEqual(
      [...seen.map((row) => CFM_TYPES.indexOf(row.type))].sort((a, b) => a - b),
    );
  });

  it('should keep held-out pairs out of labels.csv and only them in unseen.csv', () => {
    const held = new Set(data.heldOut.map(key));
    expect(seen.filter((row) => held.has(key(row)))).toEqual([]);
    expect(unseen.filter((row) => !held.has(key(row)))).toEqual([]);
    expect(new Set(seen.map((row) => row.color)).size).toBe(CFM_COLORS.length);
    expect(new Set(seen.map((row) => row.type)).size).toBe(CFM_TYPES.length);
  });

  it('should describe the build in dataset.json', async () => {
    const manifest = JSON.parse(await readFile(join(data.dir, 'dataset.json'), 'utf8'));
    expect(manifest).toMatchObject({
      name: 'colored-fashion-mnist',
      seed: 0,
      perType: PER_TYPE,
      heldOut: data.heldOut,
      counts: { ...data.counts, total: 200 },
      source: { package: 'fashion-mnist', version: '1.1.0' },
    });
    expect(manifest.palette).toEqual(CFM_COLORS);
  });

  it('should paint grey × colour centred on black when a PNG is decoded', async () => {
    const clothes = (await locateFashionMnist()).clothesDir;
    const classes = new Map<string, number[][]>();
    for (const row of [seen[0], seen.at(-1), unseen[0]] as Row[]) {
      if (!classes.has(row.type)) {
        const file = join(clothes, `${CFM_TYPES.indexOf(row.type)}.json`);
        const source = JSON.parse(await readFile(file, 'utf8')) as { data: number[][] };
        classes.set(
          row.type,
          source.data.filter((r) => r.length === 784),
        );
      }
      const index = Number(row.image.split('/')[2]?.replace('.png', ''));
      const grey = classes.get(row.type)?.[index] as number[];
      const rgb = (CFM_COLORS.find((c) => c.name === row.color) as (typeof CFM_COLORS)[number]).rgb;

      const { data: pixels, info } = await sharp(join(data.dir, row.image))
        .raw()
        .toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([32, 32, 3]);
      const at = (x: number, y: number): number[] =>
        Array.from(pixels.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3));

      expect(at(0, 0)).toEqual([0, 0, 0]);
      expect(at(31, 31)).toEqual([0, 0, 0]);
      expect(at(1, 16)).toEqual([0, 0, 0]);
      // The brightest garment pixel, and two fixed ones.
      const brightest = grey.indexOf(Math.max(...grey));
      for (const i of [brightest, 14 * 28 + 14, 20 * 28 + 7]) {
        const value = grey[i] as number;
        expect(at((i % 28) + 2, Math.floor(i / 28) + 2)).toEqual(
          rgb.map((f) => Math.round((value / 255) * f * 255)),
        );
      }
      expect(Math.max(...pixels)).toBeGreaterThan(0);
    }
  });

  it('should write the same bytes when built twice with the same options', async () => {
    const again = await buildColoredFashionMnist({
      perType: PER_TYPE,
      seed: 0,
      cacheDir: join(cache, 'b'),
    });
    const files = await listFiles(data.dir);
    expect(await listFiles(again.dir)).toEqual(files);
    for (const file of files) {
      const [a, b] = await Promise.all([
        readFile(join(data.dir, file)),
        readFile(join(again.dir, file)),
      ]);
      expect(a.equals(b), file).toBe(true);
    }
  });

  it('should keep each image colour when only perType changes', async () => {
    const smaller = await buildColoredFashionMnist({
      perType: 5,
      seed: 0,
      cacheDir: join(cache, 'c'),
    });
    const rows = [...(await readRows(smaller.seenCsv)), ...(await readRows(smaller.unseenCsv))];
    const bigger = new Map([...seen, ...unseen].map((row) => [row.image, row.color]));
    for (const row of rows) expect(row.color).toBe(bigger.get(row.image));
  });

  it('should reuse the finished folder when called again with the same options', async () => {
    const manifest = join(data.dir, 'dataset.json');
    const before = (await stat(manifest)).mtimeMs;
    const calls: [number, number][] = [];
    const started = performance.now();
    const reused = await buildColoredFashionMnist({
      perType: PER_TYPE,
      seed: 0,
      cacheDir: join(cache, 'a'),
      onProgress: (done, total) => calls.push([done, total]),
    });
    expect(performance.now() - started).toBeLessThan(200);
    expect(reused).toEqual(data);
    expect(calls).toEqual([[200, 200]]);
    expect((await stat(manifest)).mtimeMs).toBe(before);
  });

  it('should leave nothing behind when a build is interrupted', async () => {
    const cacheDir = join(cache, 'd');
    const interrupted = buildColoredFashionMnist({
      perType: PER_TYPE,
      seed: 4,
      cacheDir,
      onProgress: (done) => {
        if (done === 50) throw new Error('stopped by the test');
      },
    });
    await expect(interrupted).rejects.toThrow('stopped by the test');
    expect(await readdir(join(cacheDir, 'datasets'))).toEqual([]);
  });

  it('should remove partial folders of dead builds when a new build starts', async () => {
    const root = join(cache, 'e', 'datasets');
    const stale = join(root, '.colored-fashion-mnist-v1-s0-n2.partial-2147483646-abcd');
    await mkdir(join(stale, 'images'), { recursive: true });
    const built = await buildColoredFashionMnist({ perType: 2, cacheDir: join(cache, 'e') });
    expect(await readdir(root)).toEqual([relative(root, built.dir)]);
  });

  it('should throw without a trace when perType exceeds the images of a class', async () => {
    const cacheDir = join(cache, 'f');
    await expect(buildColoredFashionMnist({ perType: 7001, cacheDir })).rejects.toMatchObject({
      code: 'DEMO_SOURCE_TOO_SMALL',
    });
    expect(await readdir(join(cacheDir, 'datasets'))).toEqual([]);
  });

  it('should reject options when perType is not a positive integer', async () => {
    await expect(buildColoredFashionMnist({ perType: 0, cacheDir: cache })).rejects.toMatchObject({
      code: 'DEMO_BAD_OPTION',
    });
  });
});
