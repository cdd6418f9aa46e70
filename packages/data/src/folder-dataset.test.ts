import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataError } from './errors.js';
import { isImageFile, readFolderDataset } from './folder-dataset.js';
import { loadDataset } from './load-dataset.js';
import { makeTempDir } from './test-utils/index.js';

let dir: string;
let remove: () => Promise<void>;
beforeEach(async () => ({ dir, remove } = await makeTempDir()));
afterEach(() => remove());

/** Creates empty files (the readers never decode them) at the given relative paths. */
async function touch(...files: string[]): Promise<void> {
  for (const file of files) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), '');
  }
}

async function dataError(promise: Promise<unknown>): Promise<DataError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DataError);
  return error as DataError;
}

describe('readFolderDataset', () => {
  it('should split folder names into one label per head and sort samples when well formed', async () => {
    await touch('red_jeans/b.JPG', 'red_jeans/a.png', 'blue_shirt/1.webp', 'blue_shirt/notes.txt');
    const dataset = await readFolderDataset(dir, { heads: ['color', 'type'] });
    expect(dataset.heads).toEqual(['color', 'type']);
    expect(dataset.origin).toBe(dir);
    expect(dataset.samples).toEqual([
      {
        path: path.join(dir, 'blue_shirt/1.webp'),
        labels: ['blue', 'shirt'],
        source: { file: path.join(dir, 'blue_shirt/1.webp') },
      },
      {
        path: path.join(dir, 'red_jeans/a.png'),
        labels: ['red', 'jeans'],
        source: { file: path.join(dir, 'red_jeans/a.png') },
      },
      {
        path: path.join(dir, 'red_jeans/b.JPG'),
        labels: ['red', 'jeans'],
        source: { file: path.join(dir, 'red_jeans/b.JPG') },
      },
    ]);
  });

  it('should name every folder whose name splits into the wrong number of parts', async () => {
    await touch('red_jeans/a.png', 'red/b.png', 'dark_red_jeans/c.png');
    const error = await dataError(readFolderDataset(dir, { heads: ['color', 'type'] }));
    expect(error.code).toBe('DATA_BAD_FOLDER');
    expect(error.message).toContain(
      `${path.join(dir, 'dark_red_jeans')}: folder "dark_red_jeans" splits on "_" into 3 part(s); ` +
        'expected 2, named like <color>_<type>',
    );
    expect(error.message).toContain(`${path.join(dir, 'red')}: folder "red" splits on "_" into 1`);
    expect(error.details.count).toBe(2);
  });

  it('should split on the separator given when one is configured', async () => {
    await touch('dark_red-jeans/a.png');
    const dataset = await readFolderDataset(dir, { heads: ['color', 'type'], separator: '-' });
    expect(dataset.samples[0]!.labels).toEqual(['dark_red', 'jeans']);
  });

  it('should use the whole folder name as the label when there is one head', async () => {
    await touch('light_blue/a.png');
    const dataset = await readFolderDataset(dir, { heads: ['color'] });
    expect(dataset.samples[0]!.labels).toEqual(['light_blue']);
  });

  it('should treat an empty part as unknown and skip images with no label at all', async () => {
    await touch('_jeans/a.png', '_/b.png', 'loose.png');
    const dataset = await readFolderDataset(dir, { heads: ['color', 'type'] });
    expect(dataset.samples.map((s) => s.labels)).toEqual([[null, 'jeans']]);
    expect(dataset.skipped).toEqual([
      { file: path.join(dir, '_/b.png'), reason: 'no labels' },
      { file: path.join(dir, 'loose.png'), reason: 'not inside a label folder' },
    ]);
  });

  it('should include images of nested folders and ignore hidden entries', async () => {
    await touch('red_jeans/batch2/z.png', 'red_jeans/.thumbs/x.png', '.cache_x/y.png');
    const dataset = await readFolderDataset(dir, { heads: ['color', 'type'] });
    expect(dataset.samples.map((s) => path.relative(dir, s.path))).toEqual([
      path.join('red_jeans', 'batch2', 'z.png'),
    ]);
  });

  it('should report DATA_EMPTY when no folder holds an image', async () => {
    await touch('red_jeans/readme.md');
    const error = await dataError(readFolderDataset(dir, { heads: ['color', 'type'] }));
    expect(error.code).toBe('DATA_EMPTY');
  });

  it('should reject duplicate or empty heads', async () => {
    await touch('a_b/x.png');
    const error = await dataError(readFolderDataset(dir, { heads: ['color', 'color'] }));
    expect(error.code).toBe('DATA_BAD_OPTION');
    expect(error.kind).toBe('usage');
  });
});

describe('isImageFile', () => {
  it('should accept the listed extensions in any case and nothing else', () => {
    const names = ['a.jpg', 'a.JPEG', 'a.png', 'a.WebP', 'a.gif', 'a.tif', 'a.tiff', 'a.avif'];
    expect(names.every(isImageFile)).toBe(true);
    expect(['a.txt', 'a.svg', 'jpg', 'a.jpg.bak'].some(isImageFile)).toBe(false);
  });
});

describe('loadDataset', () => {
  it('should say --heads is needed when given a folder without heads', async () => {
    await touch('red_jeans/a.png');
    const error = await dataError(loadDataset(dir));
    expect(error.code).toBe('DATA_HEADS_REQUIRED');
    expect(error.kind).toBe('usage');
    expect(error.message).toContain('--heads');
  });

  it('should read a folder when heads are given', async () => {
    await touch('red_jeans/a.png');
    const dataset = await loadDataset(dir, { heads: ['color', 'type'] });
    expect(dataset.samples.map((s) => s.labels)).toEqual([['red', 'jeans']]);
  });

  it('should read a CSV manifest when given a .csv file', async () => {
    await touch('img/a.png');
    await writeFile(path.join(dir, 'LABELS.CSV'), 'image,color\nimg/a.png,red\n');
    const dataset = await loadDataset(path.join(dir, 'LABELS.CSV'));
    expect(dataset.samples.map((s) => s.labels)).toEqual([['red']]);
  });

  it('should reject a file that is not a CSV', async () => {
    await touch('labels.json');
    const error = await dataError(loadDataset(path.join(dir, 'labels.json')));
    expect(error.code).toBe('DATA_UNSUPPORTED_FORMAT');
  });

  it('should report DATA_NOT_FOUND when nothing exists at the path', async () => {
    const error = await dataError(loadDataset(path.join(dir, 'nothing')));
    expect(error.code).toBe('DATA_NOT_FOUND');
    expect(error.message).toContain(path.join(dir, 'nothing'));
  });
});
