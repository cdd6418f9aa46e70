export * from './errors.js';
export { comboKey } from './dataset.js';
export type { Dataset, LoadDatasetOptions, Sample, SampleSource, SkippedRow } from './dataset.js';
export { readCsvManifest } from './csv-manifest.js';
export { IMAGE_EXTENSIONS, isImageFile, readFolderDataset } from './folder-dataset.js';
export { loadDataset } from './load-dataset.js';
export { formatProblem, MAX_LISTED_PROBLEMS } from './problems.js';
export type { Problem } from './problems.js';
export { inferHeadKind, LabelEncoder, MULTILABEL_SEPARATOR, splitMultiLabel } from './labels.js';
export type { FitLabelsOptions, HeadKind, HeadVocabulary, LabelEncoderJson } from './labels.js';
export { balancedIndices } from './sampler.js';
export type { BalancedIndicesOptions } from './sampler.js';
export {
  DEFAULT_MAX_PIXELS,
  MAX_INPUT_SIZE,
  defaultPreprocessing,
  normalisePixels,
  parsePreprocessing,
  preprocessingKey,
} from './preprocessing.js';
export type { Preprocessing, Scaling } from './preprocessing.js';
export { decodeImage, decodeImageRgb, decodeOriented } from './decode.js';
export type { DecodeOrientedOptions, RgbImage } from './decode.js';
export { createRng, deriveSeed, shuffleInPlace } from './rng.js';
export { stratifiedSplit } from './split.js';
export type { SplitOptions, SplitResult } from './split.js';
export { compareCodePoints } from './compare.js';
export { ImageCache } from './image-cache.js';
export { batches, checkImages, decodeCached } from './batches.js';
export type { Batch, BatchOptions, CheckImagesOptions, ImageProblem } from './batches.js';
export { findDuplicates } from './duplicates.js';
export { checkDataset, UNUSABLE_KINDS } from './check.js';
export type { CheckDatasetOptions, CheckProblem, CheckReport, ImageProblemKind } from './check.js';
export type { FindDuplicatesOptions } from './duplicates.js';
