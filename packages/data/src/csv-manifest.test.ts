import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCsvManifest } from './csv-manifest.js';
import { DataError } from './errors.js';
import { makeTempDir } from './test-utils/index.js';

let dir: string;
let remove: () => Promise<void>;
beforeEach(async () => {
  ({ dir, remove } = await makeTempDir());
  await mkdir(path.join(dir, 'images'));
  for (const name of ['a.png', 'b.png', 'c.png', 'd.png']) {
    await writeFile(path.join(dir, 'images', name), 'not decoded here');
  }
});
afterEach(() => remove());

/** Writes `labels.csv` into the temp folder and returns its path. */
async function csv(text: string, name = 'labels.csv'): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

async function dataError(promise: Promise<unknown>): Promise<DataError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DataError);
  return error as DataError;
}

describe('readCsvManifest', () => {
  it('should read heads, trimmed labels and absolute paths when the CSV is well formed', async () => {
    const file = await csv(
      'image,color,type\nimages/a.png, red ,circle\nimages/b.png,,square\nimages/c.png,blue,\n',
    );
    const dataset = await readCsvManifest(file);
    expect(dataset.heads).toEqual(['color', 'type']);
    expect(dataset.origin).toBe(file);
    expect(dataset.skipped).toEqual([]);
    expect(dataset.samples).toEqual([
      {
        path: path.join(dir, 'images/a.png'),
        labels: ['red', 'circle'],
        source: { file, line: 2 },
      },
      { path: path.join(dir, 'images/b.png'), labels: [null, 'square'], source: { file, line: 3 } },
      { path: path.join(dir, 'images/c.png'), labels: ['blue', null], source: { file, line: 4 } },
    ]);
  });

  it('should skip a row with every label blank and report its line with "no labels"', async () => {
    const file = await csv('image,color,type\nimages/a.png,red,circle\nimages/b.png,,\n');
    const dataset = await readCsvManifest(file);
    expect(dataset.samples.map((s) => s.source.line)).toEqual([2]);
    expect(dataset.skipped).toEqual([{ file, line: 3, reason: 'no labels' }]);
  });

  it('should name the file and line when a row has the wrong number of columns', async () => {
    const file = await csv('image,color,type\nimages/a.png,red,circle\nimages/b.png,blue\n');
    const error = await dataError(readCsvManifest(file));
    expect(error.code).toBe('DATA_BAD_MANIFEST');
    expect(error.message).toContain(`${file}:3: expected 3 columns (image,color,type), found 2`);
    expect(error.details.problems).toEqual([
      { file, line: 3, reason: expect.stringMatching(/found 2/) },
    ]);
  });

  it('should name the file, line and path when an image does not exist', async () => {
    const file = await csv('image,color\nimages/a.png,red\nimages/missing.png,blue\n');
    const error = await dataError(readCsvManifest(file));
    expect(error.code).toBe('DATA_BAD_MANIFEST');
    expect(error.message).toContain(`${file}:3: image "images/missing.png" not found`);
    expect(error.message).toContain(path.join(dir, 'images/missing.png'));
  });

  it('should report every problem at once, listing 20 and counting the rest', async () => {
    const rows = Array.from({ length: 25 }, (_, i) => `images/gone${i}.png,red`);
    rows.splice(3, 0, 'images/a.png,red,extra');
    const file = await csv(`image,color\n${rows.join('\n')}\n`);
    const error = await dataError(readCsvManifest(file));
    expect(error.message).toMatch(/\(26 problems\)/);
    expect(error.message).toContain(`${file}:5: expected 2 columns`);
    expect(error.message).toContain(`${file}:2: image "images/gone0.png" not found`);
    expect(error.message).toMatch(/… and 6 more$/);
    expect(error.details.count).toBe(26);
    expect((error.details.problems as unknown[]).length).toBe(26);
  });

  it('should reject an empty file', async () => {
    const error = await dataError(readCsvManifest(await csv('')));
    expect(error.code).toBe('DATA_BAD_MANIFEST');
    expect(error.message).toMatch(/labels\.csv is empty; expected a header row/);
  });

  it('should reject a header with fewer than two columns', async () => {
    const error = await dataError(readCsvManifest(await csv('image\nimages/a.png\n')));
    expect(error.message).toMatch(/labels\.csv:1: the header has 1 column \(image\); expected/);
  });

  it('should reject a header that names a head twice', async () => {
    const file = await csv('image,color,color\nimages/a.png,red,blue\n');
    const error = await dataError(readCsvManifest(file));
    expect(error.code).toBe('DATA_BAD_MANIFEST');
    expect(error.message).toContain(`${file}:1: header name "color" appears in columns 2 and 3`);
  });

  it('should reject a header column without a name', async () => {
    const error = await dataError(readCsvManifest(await csv('image,,type\nimages/a.png,red,x\n')));
    expect(error.message).toMatch(/header column 2 has no name/);
  });

  it('should report DATA_EMPTY when no row has a label', async () => {
    const error = await dataError(readCsvManifest(await csv('image,color\nimages/a.png,\n')));
    expect(error.code).toBe('DATA_EMPTY');
    expect(error.message).toMatch(/no labelled rows \(1 skipped\)/);
  });

  it('should report DATA_NOT_FOUND when the CSV does not exist', async () => {
    const error = await dataError(readCsvManifest(path.join(dir, 'nope.csv')));
    expect(error.code).toBe('DATA_NOT_FOUND');
    expect(error.cause).toBeDefined();
  });

  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ])(
    'should count real file lines when lines end in %s with blank lines, a BOM and quoted breaks',
    async (_name, eol) => {
      const text = [
        '\uFEFFimage,note',
        '',
        'images/a.png,plain',
        `"images/b.png","two${eol}lines"`,
        '',
        'images/c.png,x',
      ].join(eol);
      const dataset = await readCsvManifest(await csv(text));
      expect(dataset.heads).toEqual(['note']);
      expect(dataset.samples.map((s) => [s.labels[0], s.source.line])).toEqual([
        ['plain', 3],
        [`two${eol}lines`, 4],
        ['x', 7],
      ]);
    },
  );

  it('should name the line when the CSV has an unclosed quote', async () => {
    const error = await dataError(readCsvManifest(await csv('image,color\n"images/a.png,red\n')));
    expect(error.code).toBe('DATA_BAD_MANIFEST');
    expect(error.message).toMatch(/labels\.csv:\d+: invalid CSV/);
  });

  it('should select and order label columns when heads are given', async () => {
    const file = await csv(
      'image,color,type,size\nimages/a.png,red,circle,big\nimages/b.png,blue,,\n',
    );
    const dataset = await readCsvManifest(file, { heads: ['type', 'color'] });
    expect(dataset.heads).toEqual(['type', 'color']);
    expect(dataset.samples.map((s) => s.labels)).toEqual([
      ['circle', 'red'],
      [null, 'blue'],
    ]);
  });

  it('should list the available columns when a requested head is missing', async () => {
    const file = await csv('image,color,type\nimages/a.png,red,circle\n');
    const error = await dataError(readCsvManifest(file, { heads: ['shape'] }));
    expect(error.code).toBe('DATA_UNKNOWN_HEAD');
    expect(error.message).toMatch(/no column for head "shape"; .*: color, type$/);
  });

  it('should resolve image paths against the CSV folder, not the working directory', async () => {
    await mkdir(path.join(dir, 'nested'));
    const file = await csv('image,color\n../images/d.png,red\n', 'nested/labels.csv');
    const dataset = await readCsvManifest(file);
    expect(dataset.samples[0]!.path).toBe(path.join(dir, 'images/d.png'));
  });
});
