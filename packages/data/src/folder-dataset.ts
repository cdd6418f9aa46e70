import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { compareCodePoints } from './compare.js';
import type { Dataset, LoadDatasetOptions, Sample, SkippedRow } from './dataset.js';
import { DataError } from './errors.js';
import { problemsError, type Problem } from './problems.js';

/** File extensions treated as images in folder datasets, lower-case, without the dot. */
export const IMAGE_EXTENSIONS: readonly string[] = [
  'jpg',
  'jpeg',
  'png',
  'webp',
  'gif',
  'tif',
  'tiff',
  'avif',
];

/** True when the file name ends in one of {@link IMAGE_EXTENSIONS}, in any case. */
export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(name).slice(1).toLowerCase());
}

/**
 * Reads a dataset laid out as one folder per label combination: `red_jeans/001.jpg` gives
 * color=red, type=jeans for heads `['color', 'type']`. Each folder name is split on `separator`
 * into exactly one part per head; with a single head the whole name is the label. An empty part
 * (`_jeans`) is an unknown label. Images in nested folders belong to the top folder. Folders and
 * files starting with `.` are ignored; order is sorted by path for determinism.
 *
 * @throws DataError `DATA_BAD_FOLDER` listing every folder whose name does not split right,
 *   `DATA_NOT_FOUND`, `DATA_BAD_OPTION` or `DATA_EMPTY`.
 * @example
 * const dataset = await readFolderDataset('photos', { heads: ['color', 'type'] });
 */
export async function readFolderDataset(
  dir: string,
  opts: LoadDatasetOptions & { heads: string[] },
): Promise<Dataset> {
  const heads = checkHeads(opts.heads);
  const separator = opts.separator ?? '_';
  if (separator === '') {
    throw new DataError('DATA_BAD_OPTION', 'Invalid separator "": expected a non-empty string', {
      kind: 'usage',
      details: { field: 'separator' },
    });
  }
  const origin = path.resolve(dir);
  const entries = await listDir(dir, true);
  const problems: Problem[] = [];
  const skipped: SkippedRow[] = [];
  const samples: Sample[] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (!(await isDirectory(entry, full))) {
      if (isImageFile(entry.name)) {
        skipped.push({ file: path.resolve(full), reason: 'not inside a label folder' });
      }
      continue;
    }
    const parts = heads.length === 1 ? [entry.name] : entry.name.split(separator);
    if (parts.length !== heads.length) {
      const pattern = heads.map((head) => `<${head}>`).join(separator);
      const reason =
        `folder "${entry.name}" splits on "${separator}" into ${parts.length} part(s); ` +
        `expected ${heads.length}, named like ${pattern}`;
      problems.push({ file: full, reason });
      continue;
    }
    const labels = parts.map((part) => part.trim() || null);
    for (const image of await listImages(full)) {
      const file = path.resolve(image);
      if (labels.every((label) => label === null)) {
        skipped.push({ file, reason: 'no labels' });
      } else {
        samples.push({ path: file, labels: [...labels], source: { file } });
      }
    }
  }
  if (problems.length > 0) {
    throw problemsError('DATA_BAD_FOLDER', `${dir} cannot be used as a folder dataset`, problems);
  }
  if (samples.length === 0) {
    throw new DataError(
      'DATA_EMPTY',
      `${dir} holds no labelled images (${skipped.length} skipped); expected label folders ` +
        `such as ${heads.map((head) => `<${head}>`).join(separator)}/ holding ` +
        `${IMAGE_EXTENSIONS.join('/')} files`,
      { details: { folder: dir, skipped: skipped.length } },
    );
  }
  return { heads, samples, skipped, origin };
}

function checkHeads(heads: unknown): string[] {
  const valid =
    Array.isArray(heads) &&
    heads.length > 0 &&
    heads.every((head) => typeof head === 'string' && head.trim() !== '') &&
    new Set(heads).size === heads.length;
  if (!valid) {
    throw new DataError(
      'DATA_BAD_OPTION',
      `Invalid heads ${JSON.stringify(heads)}: expected distinct non-empty names, such as ` +
        `--heads color,type`,
      { kind: 'usage', details: { field: 'heads' } },
    );
  }
  return [...(heads as string[])];
}

async function listDir(dir: string, top: boolean): Promise<Dirent[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new DataError(
      top && code === 'ENOENT' ? 'DATA_NOT_FOUND' : 'DATA_BAD_FOLDER',
      `Cannot read folder ${dir} (${code}); expected a readable folder of label folders`,
      { cause: error, details: { folder: dir, errno: code } },
    );
  }
  return entries
    .filter((entry) => !entry.name.startsWith('.'))
    .sort((a, b) => compareCodePoints(a.name, b.name));
}

/** Image files under `dir`, nested folders included, in sorted path order. */
async function listImages(dir: string): Promise<string[]> {
  const images: string[] = [];
  for (const entry of await listDir(dir, false)) {
    const full = path.join(dir, entry.name);
    if (await isDirectory(entry, full)) images.push(...(await listImages(full)));
    else if (isImageFile(entry.name)) images.push(full);
  }
  return images;
}

async function isDirectory(entry: Dirent, full: string): Promise<boolean> {
  if (!entry.isSymbolicLink()) return entry.isDirectory();
  const target = await stat(full).catch(() => undefined);
  return target?.isDirectory() ?? false;
}
