import { describe, expect, it } from 'vitest';
import * as data from './index.js';

describe('@polyhead/data entry point', () => {
  it.each([
    'readCsvManifest',
    'readFolderDataset',
    'loadDataset',
    'comboKey',
    'LabelEncoder',
    'splitMultiLabel',
    'inferHeadKind',
    'balancedIndices',
    'defaultPreprocessing',
    'parsePreprocessing',
    'decodeImage',
    'decodeImageRgb',
    'decodeOriented',
    'normalisePixels',
    'createRng',
    'shuffleInPlace',
    'stratifiedSplit',
    'ImageCache',
    'batches',
    'checkImages',
    'preprocessingKey',
    'PolyheadError',
    'DataError',
    'ImageError',
  ])('should export %s as a function when imported from the package root', (name) => {
    expect(typeof (data as Record<string, unknown>)[name]).toBe('function');
  });
});
