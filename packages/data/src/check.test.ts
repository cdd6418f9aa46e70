import { copyFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkDataset } from './check.js';
import { readCsvManifest } from './csv-manifest.js';
import { ImageCache } from './image-cache.js';
import { defaultPreprocessing } from './preprocessing.js';
import { fixturesDir, makeTempDir } from './test-utils/index.js';

let dir: string;
let remove: () => Promise<void>;
let csv: string;
beforeAll(async () => {
  ({ dir, remove } = await makeTempDir());
  const copies: [string, string][] = [
    ['F12/clean.jpg', 'clean.jpg'],
    ['F12/truncated_60pct.jpg', 'cut.jpg'],
    ['F12/clean.jpg', 'renamed.png'],
    ['F11/bomb_20000x20000.png', 'bomb.png'],
    ['F11/normal_64x64.png', 'normal.png'],
    ['F11/normal_64x64.png', 'normal_again.png'],
    ['F14/probe4x4.png', 'probe.png'],
  ];
  for (const [from, to] of copies) await copyFile(path.join(fixturesDir, from), path.join(dir, to));
  await writeFile(path.join(dir, 'empty.jpg'), '');
  await writeFile(path.join(dir, 'notes.png'), 'not an image at all\n');
  const rows = ['clean.jpg', 'cut.jpg', 'renamed.png', 'bomb.png', 'normal.png', 'empty.jpg', 'normal_again.png', 'notes.png', 'probe.png'];
  csv = path.join(dir, 'labels.csv');
  await writeFile(csv, ['image,color', ...rows.map((r) => `${r},red`)].join('\n'));
});
afterAll(() => remove());

const pre = defaultPreprocessing({ size: 16 });

describe('checkDataset', () => {
  it('should report every damaged file by kind, with its manifest line', async () => {
    const dataset = await readCsvManifest(csv);
    const cache = new ImageCache(2 ** 20);
    const report = await checkDataset(dataset.samples, pre, { cache });
    expect(report.checked).toBe(9);
    expect(report.problems.map((p) => [path.basename(p.file), p.kind, p.source?.line])).toEqual([
      ['cut.jpg', 'truncated', 3],
      ['renamed.png', 'extension', 4],
      ['renamed.png', 'duplicate', 4],
      ['bomb.png', 'pixels', 5],
      ['empty.jpg', 'empty', 7],
      ['normal_again.png', 'duplicate', 8],
      ['notes.png', 'unreadable', 9],
    ]);
    expect(report.unusable).toEqual([1, 3, 5, 7]);
    expect(report.duplicateGroups).toEqual([[0, 2], [4, 6]]);
    expect(report.problems.find((p) => p.kind === 'pixels')!.message).toContain('20000×20000');
    expect(report.problems.find((p) => p.kind === 'extension')!.message).toBe(`${path.join(dir, 'renamed.png')} holds JPEG data but its name ends in .png`);
    expect(cache.size).toBe(5);
  });

  it('should reuse remembered results while size and mtime are unchanged, and decode a changed file again', async () => {
    const dataset = await readCsvManifest(csv);
    const resultsFile = path.join(dir, 'cache', 'check.json');
    const first = await checkDataset(dataset.samples, pre, { resultsFile });
    expect(first.cached).toBe(0);
    const second = await checkDataset(dataset.samples, pre, { resultsFile });
    expect(second.cached).toBe(9);
    expect(second.problems).toEqual(first.problems);

    // The truncated file is repaired: same name, new content and mtime.
    await copyFile(path.join(fixturesDir, 'F12/clean.jpg'), path.join(dir, 'cut.jpg'));
    await utimes(path.join(dir, 'cut.jpg'), new Date(), new Date(Date.now() + 5000));
    const third = await checkDataset(dataset.samples, pre, { resultsFile });
    expect(third.cached).toBe(8);
    expect(third.problems.filter((p) => path.basename(p.file) === 'cut.jpg').map((p) => p.kind)).toEqual(['duplicate']);
  });
});
