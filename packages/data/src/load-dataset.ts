import { stat } from 'node:fs/promises';
import path from 'node:path';
import { readCsvManifest } from './csv-manifest.js';
import type { Dataset, LoadDatasetOptions } from './dataset.js';
import { DataError } from './errors.js';
import { readFolderDataset } from './folder-dataset.js';

/**
 * Loads a dataset from a `.csv` manifest or from a folder of label folders.
 *
 * @throws DataError `DATA_HEADS_REQUIRED` for a folder without `heads`, `DATA_NOT_FOUND`,
 *   `DATA_UNSUPPORTED_FORMAT` for other files, and whatever the chosen reader throws.
 * @example
 * const fromCsv = await loadDataset('data/labels.csv');
 * const fromFolders = await loadDataset('photos', { heads: ['color', 'type'] });
 */
export async function loadDataset(
  pathOrDir: string,
  opts: LoadDatasetOptions = {},
): Promise<Dataset> {
  let info;
  try {
    info = await stat(pathOrDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new DataError(
      'DATA_NOT_FOUND',
      `Cannot open dataset ${pathOrDir} (${code}); expected a .csv manifest or a folder`,
      { cause: error, details: { file: pathOrDir, errno: code } },
    );
  }
  if (info.isDirectory()) {
    const { heads } = opts;
    if (heads === undefined) {
      throw new DataError(
        'DATA_HEADS_REQUIRED',
        `${pathOrDir} is a folder, so --heads is needed to name the parts of its folder names ` +
          `(for example --heads color,type for folders like red_jeans)`,
        { kind: 'usage', details: { folder: pathOrDir } },
      );
    }
    return readFolderDataset(pathOrDir, { ...opts, heads });
  }
  if (path.extname(pathOrDir).toLowerCase() === '.csv') return readCsvManifest(pathOrDir, opts);
  throw new DataError(
    'DATA_UNSUPPORTED_FORMAT',
    `${pathOrDir} is neither a .csv manifest nor a folder; expected one of those`,
    { kind: 'usage', details: { file: pathOrDir } },
  );
}
