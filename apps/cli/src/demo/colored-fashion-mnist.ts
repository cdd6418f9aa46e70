/**
 * The built-in dataset of `polyhead demo`: Fashion-MNIST garments tinted in
 * one of eight colours, labelled with two heads, `color` and `type`.
 *
 * Sixteen (color, type) pairs never appear in training; they go to a separate
 * `unseen.csv`, so the demo can show whether a model combines attributes it
 * learned apart. Everything is derived from the seed, so a build is the same
 * bytes on every machine.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

import { DataError } from '@polyhead/data';
import sharp from 'sharp';

import {
  FASHION_MNIST_SIDE,
  type FashionMnistSource,
  locateFashionMnist,
  readFashionMnistImages,
} from './fashion-mnist-source.js';
import { createRng, deriveSeed, randomInt, shuffleInPlace } from './prng.js';

/** A named tint; each channel is a factor in 0…1 applied to the grey level. */
export interface CfmColor {
  /** Label of the `color` head. */
  name: string;
  /** Red, green and blue factors. */
  rgb: [number, number, number];
}

/** The eight tints, in the order of the `color` head. */
export const CFM_COLORS: readonly CfmColor[] = [
  { name: 'red', rgb: [1, 0, 0] },
  { name: 'orange', rgb: [1, 0.5, 0] },
  { name: 'yellow', rgb: [1, 1, 0] },
  { name: 'green', rgb: [0, 0.8, 0] },
  { name: 'cyan', rgb: [0, 1, 1] },
  { name: 'blue', rgb: [0, 0, 1] },
  { name: 'purple', rgb: [0.6, 0, 1] },
  { name: 'white', rgb: [1, 1, 1] },
];

/** The ten Fashion-MNIST classes, in class-number order (the `type` head). */
export const CFM_TYPES: readonly string[] = [
  't-shirt',
  'trouser',
  'pullover',
  'dress',
  'coat',
  'sandal',
  'shirt',
  'sneaker',
  'bag',
  'ankle-boot',
];

/** Side of the square PNGs; the 28-pixel garment sits centred on black. */
export const CFM_SIZE = 32;

/** How many (color, type) pairs are kept out of training. */
export const CFM_HELD_OUT_COUNT = 16;

/** Most held-out pairs any one colour or type may be part of. */
const MAX_HELD_PER_LABEL = 2;

/** Bumped whenever the bytes a build produces change; part of the folder name. */
const LAYOUT_VERSION = 1;

const DATASET_NAME = 'colored-fashion-mnist';
const PNG_CONCURRENCY = 8;

/** Options of {@link buildColoredFashionMnist}. */
export interface ColoredFashionMnistOptions {
  /** Images per type (the first valid ones of each class). Default 800. */
  perType?: number;
  /** Seed for the held-out pairs and the colour of every image. Default 0. */
  seed?: number;
  /**
   * Cache root; the dataset goes under its `datasets/`.
   * Default `$POLYHEAD_CACHE`, else `~/.cache/polyhead`.
   */
  cacheDir?: string;
  /**
   * Called after each image is written, and once with `(total, total)` when
   * a finished build is reused.
   */
  onProgress?: (done: number, total: number) => void;
}

/** A finished build on disk. */
export interface ColoredFashionMnist {
  /** Absolute path of the dataset folder. */
  dir: string;
  /** `labels.csv`: every image of a seen pair (`image,color,type`). */
  seenCsv: string;
  /** `unseen.csv`: every image of a held-out pair, same columns. */
  unseenCsv: string;
  /** The pairs kept out of `labels.csv`. */
  heldOut: { color: string; type: string }[];
  /** Rows in each CSV. */
  counts: { seen: number; unseen: number };
}

/** What `dataset.json` holds. */
interface DatasetManifest {
  name: string;
  layoutVersion: number;
  seed: number;
  perType: number;
  image: { width: number; height: number; channels: number; format: 'png' };
  heads: { color: string[]; type: string[] };
  palette: CfmColor[];
  heldOut: { color: string; type: string }[];
  counts: { seen: number; unseen: number; total: number };
  files: { seen: string; unseen: string; images: string };
  source: { package: string; version: string; files: string; selection: string };
}

function checkInteger(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new DataError('DEMO_BAD_OPTION', `${name} must be an integer ≥ ${min}, got ${value}`, {
      kind: 'usage',
      details: { option: name, value },
    });
  }
}

/**
 * The (color, type) pairs held out of training for `seed`: all 80 pairs are
 * shuffled, then taken in order while neither the colour nor the type already
 * has two held pairs, until there are 16. Every colour thus ends with exactly
 * two held pairs and every type with at most two, so each label stays seen.
 *
 * Returned in palette order, then type order.
 *
 * @example
 * heldOutPairs(0).length; // 16
 */
export function heldOutPairs(seed: number): { color: string; type: string }[] {
  checkInteger('seed', seed, Number.MIN_SAFE_INTEGER);
  const pairs: [number, number][] = [];
  for (let c = 0; c < CFM_COLORS.length; c++) {
    for (let t = 0; t < CFM_TYPES.length; t++) pairs.push([c, t]);
  }
  shuffleInPlace(pairs, createRng(deriveSeed(seed, 0)));

  const perColor = new Array<number>(CFM_COLORS.length).fill(0);
  const perType = new Array<number>(CFM_TYPES.length).fill(0);
  const held: [number, number][] = [];
  for (const [c, t] of pairs) {
    if (held.length === CFM_HELD_OUT_COUNT) break;
    if ((perColor[c] as number) >= MAX_HELD_PER_LABEL) continue;
    if ((perType[t] as number) >= MAX_HELD_PER_LABEL) continue;
    perColor[c] = (perColor[c] as number) + 1;
    perType[t] = (perType[t] as number) + 1;
    held.push([c, t]);
  }
  // A pair is only skipped when its colour or type is full, and stays so;
  // with 8 colours × 2 the pass therefore always reaches 16 before running out.
  held.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return held.map(([c, t]) => ({ color: colorName(c), type: typeName(t) }));
}

function colorName(index: number): string {
  return (CFM_COLORS[index] as CfmColor).name;
}

function typeName(index: number): string {
  return CFM_TYPES[index] as string;
}

/**
 * Paints a 28×28 grey garment with `rgb` onto a black 32×32 canvas, as
 * interleaved RGB bytes: each channel is `round(grey × factor)`.
 *
 * @example
 * const pixels = tintGarment(grey, CFM_COLORS[0].rgb); // 32 × 32 × 3 bytes
 */
export function tintGarment(grey: Uint8Array, rgb: readonly [number, number, number]): Uint8Array {
  const out = new Uint8Array(CFM_SIZE * CFM_SIZE * 3);
  const margin = (CFM_SIZE - FASHION_MNIST_SIDE) / 2;
  const [r, g, b] = rgb;
  for (let y = 0; y < FASHION_MNIST_SIDE; y++) {
    for (let x = 0; x < FASHION_MNIST_SIDE; x++) {
      const value = grey[y * FASHION_MNIST_SIDE + x] as number;
      const at = ((y + margin) * CFM_SIZE + x + margin) * 3;
      out[at] = Math.round(value * r);
      out[at + 1] = Math.round(value * g);
      out[at + 2] = Math.round(value * b);
    }
  }
  return out;
}

function defaultCacheDir(): string {
  return process.env.POLYHEAD_CACHE || join(homedir(), '.cache', 'polyhead');
}

async function readManifest(dir: string): Promise<DatasetManifest | undefined> {
  const file = join(dir, 'dataset.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as DatasetManifest;
  } catch (error) {
    throw new DataError(
      'DEMO_CACHE_CORRUPT',
      `${file} is not valid JSON; delete ${dir} to rebuild it`,
      {
        cause: error,
        kind: 'runtime',
        details: { file },
      },
    );
  }
}

function toResult(dir: string, manifest: DatasetManifest): ColoredFashionMnist {
  return {
    dir,
    seenCsv: join(dir, manifest.files.seen),
    unseenCsv: join(dir, manifest.files.unseen),
    heldOut: manifest.heldOut,
    counts: { seen: manifest.counts.seen, unseen: manifest.counts.unseen },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes half-built folders left by builds of `name` whose process has died. */
async function sweepStale(root: string, name: string): Promise<void> {
  const prefix = `.${name}.partial-`;
  for (const entry of await readdir(root)) {
    if (!entry.startsWith(prefix)) continue;
    const pid = Number(entry.slice(prefix.length).split('-')[0]);
    if (Number.isSafeInteger(pid) && pid > 0 && (pid === process.pid || isAlive(pid))) continue;
    await rm(join(root, entry), { recursive: true, force: true });
  }
}

/** Runs `task` on every item with at most `limit` in flight; stops at the first failure. */
async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await task(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const workers = Array.from({ length: Math.min(limit, items.length) }, worker);
  const results = await Promise.allSettled(workers);
  const rejected = results.find((result) => result.status === 'rejected');
  if (rejected) throw rejected.reason;
}

interface PlannedImage {
  path: string;
  grey: Uint8Array;
  color: number;
  type: number;
}

/** Writes the whole dataset into `dir` (which must not exist yet). */
async function writeDataset(
  dir: string,
  seed: number,
  perType: number,
  source: FashionMnistSource,
  onProgress: ((done: number, total: number) => void) | undefined,
): Promise<DatasetManifest> {
  const heldOut = heldOutPairs(seed);
  const held = new Set(heldOut.map((pair) => `${pair.color}/${pair.type}`));

  // Read every class before encoding anything, so a source problem fails fast.
  const planned: PlannedImage[] = [];
  for (let type = 0; type < CFM_TYPES.length; type++) {
    const greys = await readFashionMnistImages(join(source.clothesDir, `${type}.json`), perType);
    // One colour stream per class, so image i of a class keeps its colour whatever perType is.
    const rng = createRng(deriveSeed(seed, 1 + type));
    greys.forEach((grey, index) => {
      const path = `images/${typeName(type)}/${index}.png`;
      planned.push({ path, grey, color: randomInt(rng, CFM_COLORS.length), type });
    });
  }

  await mkdir(dir);
  for (const type of CFM_TYPES) await mkdir(join(dir, 'images', type), { recursive: true });

  const total = planned.length;
  let done = 0;
  await forEachLimited(planned, PNG_CONCURRENCY, async (image) => {
    const pixels = tintGarment(image.grey, (CFM_COLORS[image.color] as CfmColor).rgb);
    const raw = { width: CFM_SIZE, height: CFM_SIZE, channels: 3 as const };
    await sharp(pixels, { raw }).png({ compressionLevel: 9 }).toFile(join(dir, image.path));
    done++;
    onProgress?.(done, total);
  });

  const header = 'image,color,type\n';
  let seenRows = '';
  let unseenRows = '';
  let seen = 0;
  for (const image of planned) {
    const row = `${image.path},${colorName(image.color)},${typeName(image.type)}\n`;
    if (held.has(`${colorName(image.color)}/${typeName(image.type)}`)) {
      unseenRows += row;
    } else {
      seenRows += row;
      seen++;
    }
  }
  await writeFile(join(dir, 'labels.csv'), header + seenRows);
  await writeFile(join(dir, 'unseen.csv'), header + unseenRows);

  const manifest: DatasetManifest = {
    name: DATASET_NAME,
    layoutVersion: LAYOUT_VERSION,
    seed,
    perType,
    image: { width: CFM_SIZE, height: CFM_SIZE, channels: 3, format: 'png' },
    heads: { color: CFM_COLORS.map((color) => color.name), type: [...CFM_TYPES] },
    palette: CFM_COLORS.map((color) => ({ name: color.name, rgb: [...color.rgb] })),
    heldOut,
    counts: { seen, unseen: total - seen, total },
    files: { seen: 'labels.csv', unseen: 'unseen.csv', images: 'images/<type>/<index>.png' },
    source: {
      package: source.name,
      version: source.version,
      files: 'src/clothes/<class>.json',
      selection: `first ${perType} images of 784 pixels per class, in class order`,
    },
  };
  await writeFile(join(dir, 'dataset.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/**
 * Builds the coloured Fashion-MNIST demo dataset, or returns the finished
 * one already in the cache for the same seed and size.
 *
 * The result lives in
 * `<cacheDir>/datasets/colored-fashion-mnist-v1-s<seed>-n<perType>/`:
 * `images/<type>/<index>.png` (32×32 RGB), `labels.csv` with the images of
 * seen pairs, `unseen.csv` with those of the held-out pairs, and
 * `dataset.json`. The build goes to a hidden sibling folder that is renamed
 * into place at the end, so an interrupted build never leaves half a dataset.
 *
 * @example
 * const data = await buildColoredFashionMnist({ perType: 200, seed: 1 });
 * console.log(data.seenCsv, data.counts.seen);
 */
export async function buildColoredFashionMnist(
  opts: ColoredFashionMnistOptions = {},
): Promise<ColoredFashionMnist> {
  const perType = opts.perType ?? 800;
  const seed = opts.seed ?? 0;
  checkInteger('perType', perType, 1);
  checkInteger('seed', seed, Number.MIN_SAFE_INTEGER);

  const root = join(resolve(opts.cacheDir ?? defaultCacheDir()), 'datasets');
  const name = `${DATASET_NAME}-v${LAYOUT_VERSION}-s${seed}-n${perType}`;
  const dir = join(root, name);
  const total = perType * CFM_TYPES.length;

  const existing = await readManifest(dir);
  if (existing) {
    opts.onProgress?.(total, total);
    return toResult(dir, existing);
  }

  const source = await locateFashionMnist();
  await mkdir(root, { recursive: true });
  await sweepStale(root, name);
  const partial = join(root, `.${name}.partial-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const manifest = await writeDataset(partial, seed, perType, source, opts.onProgress);
    try {
      await rename(partial, dir);
    } catch (error) {
      // Another build of the same dataset may have finished first; use its copy.
      const winner = await readManifest(dir);
      if (!winner) {
        throw new DataError(
          'DEMO_CACHE_BLOCKED',
          `Could not move the finished build into ${dir} (${(error as NodeJS.ErrnoException).code}); if that folder exists without a dataset.json, delete it and run again`,
          {
            cause: error,
            kind: 'runtime',
            details: { dir },
          },
        );
      }
      await rm(partial, { recursive: true, force: true });
      return toResult(dir, winner);
    }
    return toResult(dir, manifest);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
}
