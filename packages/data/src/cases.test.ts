/**
 * The field cases of `shared/cases/README.md` that concern data loading and decoding. Each runs
 * on the copies in `test-fixtures/` and again on `../shared/cases` when that folder is present.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batches, checkImages } from './batches.js';
import { readCsvManifest } from './csv-manifest.js';
import { decodeImage, decodeImageRgb, decodeOriented } from './decode.js';
import { ImageError } from './errors.js';
import { LabelEncoder } from './labels.js';
import { defaultPreprocessing, type Preprocessing } from './preprocessing.js';
import {
  expectEveryPixel,
  expectPixel,
  fixturesDir,
  hasSharedCases,
  makeTempDir,
  sharedCasesDir,
  type Pixels,
  type Rgb,
} from './test-utils/index.js';

const RED: Rgb = [255, 0, 0];
const BLUE: Rgb = [0, 0, 255];
const WHITE: Rgb = [255, 255, 255];
const GREY: Rgb = [200, 200, 200];

let tmp: string;
let remove: () => Promise<void>;
beforeAll(async () => ({ dir: tmp, remove } = await makeTempDir()));
afterAll(() => remove());

/** Writes a CSV listing absolute image paths with one label each; returns its path. */
async function manifest(name: string, images: string[]): Promise<string> {
  const file = path.join(tmp, name);
  await writeFile(file, ['image,color', ...images.map((image) => `${image},x`)].join('\n'));
  return file;
}

async function rejection(promise: Promise<unknown>): Promise<ImageError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ImageError);
  return error as ImageError;
}

/** Every pixel decoded through the training path (a CSV and `batches`), as one Float32Array. */
async function viaBatches(csv: string, pre: Preprocessing): Promise<Float32Array[]> {
  const dataset = await readCsvManifest(csv);
  const labels = LabelEncoder.fit(dataset).encode(dataset);
  const indices = dataset.samples.map((_, i) => i);
  const out: Float32Array[] = [];
  const opts = { batchSize: 3, shuffle: false, seed: 0, pre };
  for await (const batch of batches(dataset.samples, labels, indices, opts)) out.push(batch.x);
  return out;
}

describe.each([
  ['test-fixtures', fixturesDir, true],
  ['shared cases', sharedCasesDir, hasSharedCases],
])('field cases from %s', (_name, root, present) => {
  const at = (...parts: string[]) => path.join(root, ...parts);

  describe.skipIf(!present)('F02 missing labels', () => {
    it('should skip line 14 with "no labels" and keep 12 rows, 8 with color and 9 with type', async () => {
      const csv = at('F02', 'labels.csv');
      const dataset = await readCsvManifest(csv);
      expect(dataset.skipped).toEqual([{ file: csv, line: 14, reason: 'no labels' }]);
      expect(dataset.samples).toHaveLength(12);
      expect(dataset.samples.filter((s) => s.labels[0] !== null)).toHaveLength(8);
      expect(dataset.samples.filter((s) => s.labels[1] !== null)).toHaveLength(9);
    });

    it('should build the color vocabulary from non-blank cells and leave batch 1 without color', async () => {
      const dataset = await readCsvManifest(at('F02', 'labels.csv'));
      const encoder = LabelEncoder.fit(dataset);
      expect(encoder.heads[0]).toEqual({ name: 'color', labels: ['blue', 'red'] });
      const labels = encoder.encode(dataset);
      const opts = {
        batchSize: 4,
        shuffle: false,
        seed: 0,
        pre: defaultPreprocessing({ size: 8 }),
      };
      const first = await batches(dataset.samples, labels, [0, 1, 2, 3], opts).next();
      expect(first.value?.indices).toEqual([0, 1, 2, 3]);
      expect([...first.value!.labels[0]!]).toEqual([-1, -1, -1, -1]);
      expect([...first.value!.labels[1]!].every((index) => index >= 0)).toBe(true);
    });
  });

  describe.skipIf(!present)('F08 EXIF orientation', () => {
    const cases: [string, [number, number], Record<string, Rgb>][] = [
      ['orient1.jpg', [40, 30], { topLeft: RED, topRight: BLUE }],
      ['orient3.jpg', [40, 30], { topLeft: BLUE, topRight: RED }],
      ['orient6.jpg', [30, 40], { topLeft: RED, bottomLeft: BLUE, topRight: RED }],
      ['orient8.jpg', [30, 40], { topLeft: BLUE, bottomLeft: RED }],
    ];

    it.each(cases)(
      'should decode %s to its displayed size and colours',
      async (file, size, colours) => {
        const image = await decodeOriented(at('F08', file));
        expect([image.width, image.height]).toEqual(size);
        const [w, h] = size;
        const corners: Record<string, [number, number]> = {
          topLeft: [1, 1],
          topRight: [w - 2, 1],
          bottomLeft: [1, h - 2],
        };
        for (const [corner, colour] of Object.entries(colours)) {
          expectPixel(image, ...corners[corner]!, colour, 8);
        }
      },
    );

    it('should orient before resizing so orient6 is red on top after a square resize', async () => {
      const image = await decodeImageRgb(
        at('F08', 'orient6.jpg'),
        defaultPreprocessing({ size: 8 }),
      );
      expectPixel(image, 4, 1, RED, 8);
      expectPixel(image, 4, 6, BLUE, 8);
    });

    it('should give the same tensor from a CSV row as from the uploaded bytes', async () => {
      const pre = defaultPreprocessing({ size: 16 });
      const [fromCsv] = await viaBatches(
        await manifest('f08.csv', [at('F08', 'orient6.jpg')]),
        pre,
      );
      const fromUpload = await decodeImage(await readFile(at('F08', 'orient6.jpg')), pre);
      expect(fromCsv).toEqual(fromUpload);
    });
  });

  describe.skipIf(!present)('F09 grey, alpha and palette images', () => {
    const left = (image: Pixels, colour: Rgb, tolerance = 0) => {
      for (let y = 0; y < 8; y++)
        for (let x = 0; x < 4; x++) expectPixel(image, x, y, colour, tolerance);
    };
    const right = (image: Pixels, colour: Rgb) => {
      for (let y = 0; y < 8; y++) for (let x = 4; x < 8; x++) expectPixel(image, x, y, colour);
    };

    it('should decode greyscale PNG and JPEG to three channels of 200', async () => {
      expectEveryPixel(await decodeOriented(at('F09', 'gray_L.png')), GREY);
      expectEveryPixel(await decodeOriented(at('F09', 'gray.jpg')), GREY, 2);
    });

    it('should turn transparent pixels white and keep opaque ones', async () => {
      const greyAlpha = await decodeOriented(at('F09', 'gray_alpha_LA.png'));
      left(greyAlpha, GREY);
      right(greyAlpha, WHITE);
      for (const file of ['rgba_hidden_green.png', 'palette_trns.png']) {
        const image = await decodeOriented(at('F09', file));
        left(image, RED);
        right(image, WHITE);
      }
    });

    it('should use a configured background for transparent pixels', async () => {
      const image = await decodeOriented(at('F09', 'rgba_hidden_green.png'), {
        background: [0, 0, 0],
      });
      right(image, [0, 0, 0]);
    });

    it('should batch a CSV mixing these files with an RGB PNG without shape errors', async () => {
      const files = [
        'gray_L.png',
        'gray.jpg',
        'gray_alpha_LA.png',
        'rgba_hidden_green.png',
        'palette_trns.png',
      ];
      const csv = await manifest('f09.csv', [
        ...files.map((f) => at('F09', f)),
        at('F14', 'probe4x4.png'),
      ]);
      const xs = await viaBatches(csv, defaultPreprocessing({ size: 8 }));
      expect(xs.map((x) => x.length)).toEqual([3 * 8 * 8 * 3, 3 * 8 * 8 * 3]);
    });
  });

  describe.skipIf(!present)('F11 pixel-count bomb', () => {
    const pre = defaultPreprocessing({ size: 32 });

    it('should refuse the bomb from its header with its dimensions, then decode a normal image', async () => {
      const started = performance.now();
      const error = await rejection(
        decodeImage(await readFile(at('F11', 'bomb_20000x20000.png')), pre),
      );
      expect(performance.now() - started).toBeLessThan(2000);
      expect(error.code).toBe('IMAGE_TOO_LARGE');
      expect(error.details).toMatchObject({ width: 20000, height: 20000, limit: pre.maxPixels });
      expect(error.message).toMatch(/^Image is 20000×20000 = 400000000 pixels \(png\)/);
      await expect(decodeImage(at('F11', 'normal_64x64.png'), pre)).resolves.toHaveLength(
        32 * 32 * 3,
      );
    });

    it('should report the bomb with file, line and dimensions when checking a CSV', async () => {
      const csv = await manifest('f11.csv', [
        at('F11', 'normal_64x64.png'),
        at('F11', 'bomb_20000x20000.png'),
      ]);
      const dataset = await readCsvManifest(csv);
      const [problem, ...rest] = await checkImages(dataset.samples, pre);
      expect(rest).toEqual([]);
      expect(problem!.source).toEqual({ file: csv, line: 3 });
      expect(problem!.error.code).toBe('IMAGE_TOO_LARGE');
      expect(problem!.error.message).toContain('bomb_20000x20000.png is 20000×20000');
    });
  });

  describe.skipIf(!present)('F12 truncated JPEG', () => {
    const pre = defaultPreprocessing({ size: 64 });

    it('should reject the truncated file as IMAGE_CORRUPT naming it', async () => {
      const file = at('F12', 'truncated_60pct.jpg');
      const error = await rejection(decodeImage(file, pre));
      expect(error.code).toBe('IMAGE_CORRUPT');
      expect(error.message).toContain(`${file} is a truncated or corrupt image (jpeg, 64×64`);
      expect(error.cause).toBeInstanceOf(Error);
    });

    it('should report the truncated file with its CSV line when checking a manifest', async () => {
      const csv = await manifest(
        'f12.csv',
        ['clean.jpg', 'truncated_60pct.jpg', 'trailing_junk.jpg'].map((f) => at('F12', f)),
      );
      const problems = await checkImages((await readCsvManifest(csv)).samples, pre);
      expect(problems.map((p) => [p.source.line, p.error.code])).toEqual([[3, 'IMAGE_CORRUPT']]);
    });

    it('should decode the file with trailing junk to exactly the clean pixels', async () => {
      const clean = await decodeOriented(at('F12', 'clean.jpg'));
      const junk = await decodeOriented(at('F12', 'trailing_junk.jpg'));
      expect([junk.width, junk.height]).toEqual([64, 64]);
      expect(Buffer.from(junk.data).equals(Buffer.from(clean.data))).toBe(true);
      expect(await decodeImage(at('F12', 'trailing_junk.jpg'), pre)).toEqual(
        await decodeImage(at('F12', 'clean.jpg'), pre),
      );
    });
  });

  describe.skipIf(!present)('F14 probe normalisation', () => {
    const probe = () => at('F14', 'probe4x4.png');
    /** Channel c of the pixel at row y, column x of a 4×4 HWC tensor. */
    const value = (x: Float32Array, row: number, col: number, c: number) =>
      x[(row * 4 + col) * 3 + c]!;

    it('should give 128/255 on row 2 and red in channel 0 with unit scaling', async () => {
      const x = await decodeImage(probe(), defaultPreprocessing({ size: 4, kernel: 'nearest' }));
      for (let col = 0; col < 4; col++) {
        for (let c = 0; c < 3; c++) {
          expect(value(x, 0, col, c)).toBe(0);
          expect(value(x, 1, col, c)).toBeCloseTo(0.50196, 5);
          expect(value(x, 2, col, c)).toBe(1);
        }
        expect([0, 1, 2].map((c) => value(x, 3, col, c))).toEqual([1, 0, 0]);
      }
    });

    it('should give 0.00392 on row 2 with symmetric scaling', async () => {
      const pre = defaultPreprocessing({ size: 4, kernel: 'nearest', scaling: 'symmetric' });
      const x = await decodeImage(probe(), pre);
      expect(value(x, 1, 2, 1)).toBeCloseTo(0.00392, 5);
      expect([0, 1, 2].map((c) => value(x, 3, 0, c))).toEqual([1, -1, -1]);
    });

    it('should give the identical tensor through a CSV batch and through bytes', async () => {
      const pre = defaultPreprocessing({ size: 4, kernel: 'nearest' });
      const [fromCsv] = await viaBatches(await manifest('f14.csv', [probe()]), pre);
      const fromBytes = await decodeImage(new Uint8Array(await readFile(probe())), pre);
      expect(fromCsv).toEqual(fromBytes);
    });
  });
});
