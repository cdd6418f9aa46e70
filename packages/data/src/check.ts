import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

import sharp from 'sharp';

import { decodeCached, forEachLimited } from './batches.js';
import type { Sample } from './dataset.js';
import { ImageError } from './errors.js';
import type { ImageCache } from './image-cache.js';
import { preprocessingKey, type Preprocessing } from './preprocessing.js';

/**
 * What is wrong with one image file. The first four make the image unusable; `extension` and
 * `duplicate` are warnings: the file decodes, but its name lies about its format, or its pixels
 * are those of another file.
 */
export type ImageProblemKind = 'unreadable' | 'truncated' | 'empty' | 'pixels' | 'extension' | 'duplicate';

/** Kinds of problem that keep an image out of training. */
export const UNUSABLE_KINDS: ReadonlySet<ImageProblemKind> = new Set(['unreadable', 'truncated', 'empty', 'pixels']);

/** One problem found by {@link checkDataset}. */
export interface CheckProblem {
  /** The image file, as the sample names it. */
  file: string;
  kind: ImageProblemKind;
  message: string;
  /** Index of the sample. */
  index: number;
  /** The manifest and line that list the image, when it came from a CSV. */
  source?: { file: string; line?: number };
  /** The decode error code (`IMAGE_CORRUPT`…), for unusable images. */
  code?: string;
  /** For a duplicate: the first file with the same pixels. */
  duplicateOf?: string;
}

/** Outcome of {@link checkDataset}. */
export interface CheckReport {
  /** Images checked. */
  checked: number;
  /** Every problem, by sample order; an image may have an `extension` and a `duplicate` problem. */
  problems: CheckProblem[];
  /** Indices of the samples that cannot be decoded. */
  unusable: number[];
  /** Groups of sample indices with identical decoded pixels (usable images only), sorted. */
  duplicateGroups: number[][];
  /** Images whose result came from the check cache instead of a fresh decode. */
  cached: number;
}

/** Options of {@link checkDataset}. */
export interface CheckDatasetOptions {
  /** Images decoded in parallel. Default 4. */
  concurrency?: number;
  /** Decoded images go into this cache, so that training finds them. */
  cache?: ImageCache;
  /**
   * A JSON file remembering each image's result by path, size and modification time; an image
   * whose size and mtime are unchanged is not decoded again. Default: no such file.
   */
  resultsFile?: string;
}

/** What the results file remembers of one image. */
interface Remembered {
  size: number;
  mtimeMs: number;
  /** sha1 of the decoded input pixels, for a usable image. */
  hash?: string;
  format?: string;
  kind?: ImageProblemKind;
  code?: string;
  message?: string;
}

interface ResultsFile {
  format: 'polyhead-check/1';
  preprocessing: string;
  images: Record<string, Remembered>;
}

/** Which sharp formats each file extension may hold. */
const FORMATS_BY_EXTENSION: Record<string, string[]> = {
  jpg: ['jpeg'],
  jpeg: ['jpeg'],
  jpe: ['jpeg'],
  jfif: ['jpeg'],
  png: ['png'],
  webp: ['webp'],
  gif: ['gif'],
  tif: ['tiff'],
  tiff: ['tiff'],
  avif: ['heif'],
};

const KIND_BY_CODE: Record<string, ImageProblemKind> = {
  IMAGE_EMPTY: 'empty',
  IMAGE_UNREADABLE: 'unreadable',
  IMAGE_CORRUPT: 'truncated',
  IMAGE_TOO_LARGE: 'pixels',
};

/**
 * Decodes every image of a dataset, as training would, and reports by file what is wrong:
 * unreadable, truncated or corrupt, empty, too many pixels, an extension that does not match the
 * content, or the same pixels as another file.
 *
 * @example
 * const report = await checkDataset(dataset.samples, defaultPreprocessing({ size: 64 }));
 * for (const p of report.problems) console.log(p.kind, p.file);
 */
export async function checkDataset(samples: Sample[], pre: Preprocessing, opts: CheckDatasetOptions = {}): Promise<CheckReport> {
  const key = preprocessingKey(pre);
  const previous = opts.resultsFile ? await readResults(opts.resultsFile, key) : {};
  const results: Record<string, Remembered> = {};
  const found: Remembered[] = new Array(samples.length);
  let cached = 0;
  await forEachLimited(samples.keys(), opts.concurrency ?? 4, async (index) => {
    const sample = samples[index]!;
    const info = await stat(sample.path).catch(() => null);
    const old = previous[sample.path];
    let result: Remembered;
    if (info && old && old.size === info.size && old.mtimeMs === info.mtimeMs) {
      result = old;
      cached++;
    } else {
      result = await checkOne(sample, pre, key, opts.cache, info ? { size: info.size, mtimeMs: info.mtimeMs } : { size: -1, mtimeMs: -1 });
    }
    found[index] = result;
    if (info) results[sample.path] = result;
  });
  if (opts.resultsFile) await writeResults(opts.resultsFile, { format: 'polyhead-check/1', preprocessing: key, images: results });

  const problems: CheckProblem[] = [];
  const unusable: number[] = [];
  const byHash = new Map<string, number[]>();
  samples.forEach((sample, index) => {
    const r = found[index]!;
    const where = { file: sample.path, index, source: sample.source };
    if (r.kind) {
      problems.push({ ...where, kind: r.kind, code: r.code, message: r.message ?? r.kind });
      unusable.push(index);
      return;
    }
    const ext = path.extname(sample.path).slice(1).toLowerCase();
    const expected = FORMATS_BY_EXTENSION[ext];
    if (r.format && !expected?.includes(r.format)) {
      const name = r.format === 'heif' ? 'AVIF' : r.format.toUpperCase();
      problems.push({ ...where, kind: 'extension', message: `${sample.path} holds ${name} data but its name ends in .${ext || '(nothing)'}` });
    }
    const group = byHash.get(r.hash!);
    if (group) group.push(index);
    else byHash.set(r.hash!, [index]);
  });
  const duplicateGroups = [...byHash.values()].filter((g) => g.length > 1);
  for (const [first, ...rest] of duplicateGroups) {
    for (const index of rest) {
      const file = samples[index]!.path;
      const original = samples[first!]!.path;
      problems.push({ file, index, source: samples[index]!.source, kind: 'duplicate', duplicateOf: original, message: `${file} decodes to the same pixels as ${original}` });
    }
  }
  problems.sort((a, b) => a.index - b.index);
  return { checked: samples.length, problems, unusable, duplicateGroups, cached };
}

async function checkOne(
  sample: Sample,
  pre: Preprocessing,
  key: string,
  cache: ImageCache | undefined,
  file: { size: number; mtimeMs: number },
): Promise<Remembered> {
  let pixels: Float32Array;
  try {
    pixels = await decodeCached(sample, pre, key, cache);
  } catch (error) {
    if (!(error instanceof ImageError)) throw error;
    return { ...file, kind: KIND_BY_CODE[error.code] ?? 'unreadable', code: error.code, message: error.message };
  }
  const hash = createHash('sha1').update(new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength)).digest('hex');
  const { format } = await sharp(sample.path, { limitInputPixels: false }).metadata();
  return { ...file, hash, format };
}

async function readResults(file: string, key: string): Promise<Record<string, Remembered>> {
  try {
    const json = JSON.parse(await readFile(file, 'utf8')) as ResultsFile;
    return json.format === 'polyhead-check/1' && json.preprocessing === key ? json.images : {};
  } catch {
    // A missing or damaged results file only means decoding everything again.
    return {};
  }
}

async function writeResults(file: string, results: ResultsFile): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(temp, JSON.stringify(results));
  await rename(temp, file);
}
