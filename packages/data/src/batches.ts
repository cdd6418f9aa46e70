import type { Sample, SampleSource } from './dataset.js';
import { decodeImage } from './decode.js';
import { DataError, ImageError } from './errors.js';
import type { ImageCache } from './image-cache.js';
import { preprocessingKey, type Preprocessing } from './preprocessing.js';
import { createRng, deriveSeed, shuffleInPlace } from './rng.js';

/**
 * One batch of model input: images stacked NHWC, one class index per head and image, and
 * multi-hot rows for multi-label heads.
 */
export interface Batch {
  /** `n × size × size × 3` floats, scaled as the preprocessing says. */
  x: Float32Array;
  /** `[n, size, size, 3]`. */
  shape: [number, number, number, number];
  /**
   * One Int32Array of length n per head; -1 where the label is unknown. For a multi-label head
   * any value >= 0 means "known" (see {@link LabelEncoder.encode}).
   */
  labels: Int32Array[];
  /**
   * Per head, row-major `[n, k]` multi-hot targets for a multi-label head and `undefined` for a
   * softmax head. Absent when no head is multi-label.
   */
  targets?: (Float32Array | undefined)[];
  /** The sample index of each image in the batch. */
  indices: number[];
}

/** Options of {@link batches}. */
export interface BatchOptions {
  /** Images per batch; the last batch may be smaller unless `dropLast`. */
  batchSize: number;
  /** Whether to shuffle the order, from `seed` and `epoch`. */
  shuffle: boolean;
  seed: number;
  /** Epoch number, mixed into the shuffle so each epoch has its own order. Default 0. */
  epoch?: number;
  pre: Preprocessing;
  /** Decoded images are read from and stored in this cache when given. */
  cache?: ImageCache;
  /** Images decoded in parallel. Default 4. */
  concurrency?: number;
  /** Leave out a last batch smaller than `batchSize`. Default false. */
  dropLast?: boolean;
  /**
   * Start at this batch (0-based) of the epoch's order, without decoding the ones before it:
   * how a run resumed mid-epoch gets the batches it has not trained on yet. Default 0.
   */
  startBatch?: number;
  /**
   * Multi-hot targets over all samples, per head, as {@link LabelEncoder.encodeTargets} gives;
   * each batch carries its rows as `targets`.
   */
  targets?: (Float32Array | undefined)[];
}

/**
 * Yields batches of decoded images and their encoded labels. While the consumer works on one
 * batch, the next one is already being decoded. With `shuffle`, the order depends only on
 * `seed` and `epoch`: each epoch differs, and rerunning an epoch reproduces it.
 *
 * @param labels One Int32Array per head over all samples, as {@link LabelEncoder.encode} gives.
 * @param indices Which samples to use (a split's `train` list, say); may repeat a sample, as a
 *   balanced draw does.
 * @throws ImageError from the decode step, its message prefixed with the CSV file and line.
 * @example
 * for await (const batch of batches(dataset.samples, labels, train, {
 *   batchSize: 32, shuffle: true, seed: 1, epoch, pre, cache,
 * })) {
 *   // tf.tensor4d(batch.x, batch.shape) …
 * }
 */
export async function* batches(
  samples: Sample[],
  labels: Int32Array[],
  indices: number[],
  opts: BatchOptions,
): AsyncGenerator<Batch> {
  const { batchSize, pre } = opts;
  checkPositiveInteger('batchSize', batchSize);
  const concurrency = opts.concurrency ?? 4;
  checkPositiveInteger('concurrency', concurrency);
  checkInputs(samples, labels, indices, opts.targets);

  const order = [...indices];
  if (opts.shuffle) shuffleInPlace(order, createRng(deriveSeed(opts.seed, opts.epoch ?? 0)));
  const chunks: number[][] = [];
  for (let start = 0; start < order.length; start += batchSize) {
    const chunk = order.slice(start, start + batchSize);
    if (chunk.length === batchSize || !opts.dropLast) chunks.push(chunk);
  }
  chunks.splice(0, opts.startBatch ?? 0);

  const key = preprocessingKey(pre);
  const load = (chunk: number[]): Promise<Batch> =>
    handled(loadBatch(samples, labels, opts.targets, chunk, pre, key, opts.cache, concurrency));
  let pending = chunks.length > 0 ? load(chunks[0]!) : undefined;
  for (let i = 0; i < chunks.length; i++) {
    const batch = await pending!;
    pending = i + 1 < chunks.length ? load(chunks[i + 1]!) : undefined;
    yield batch;
  }
}

/** A decode failure of one sample, as {@link checkImages} reports it. */
export interface ImageProblem {
  /** Index of the sample in the array given. */
  index: number;
  path: string;
  source: SampleSource;
  error: ImageError;
}

/** Options of {@link checkImages}. */
export interface CheckImagesOptions {
  /** Images decoded in parallel. Default 4. */
  concurrency?: number;
  /** Decoded images are stored here, so a first epoch that follows finds them. */
  cache?: ImageCache;
  /** Only these sample indices. Default: all. */
  indices?: number[];
}

/**
 * Decodes every sample once and reports each that fails (truncated, too large, unreadable),
 * so a caller can list them all, with file and line, before training starts, then fail or
 * leave them out.
 *
 * @example
 * const bad = await checkImages(dataset.samples, pre);
 * for (const { source, error } of bad) report(`${source.file}:${source.line}`, error.message);
 */
export async function checkImages(
  samples: Sample[],
  pre: Preprocessing,
  opts: CheckImagesOptions = {},
): Promise<ImageProblem[]> {
  const concurrency = opts.concurrency ?? 4;
  checkPositiveInteger('concurrency', concurrency);
  const indices = opts.indices ?? samples.map((_, i) => i);
  const key = preprocessingKey(pre);
  const problems: ImageProblem[] = [];
  await forEachLimited(indices, concurrency, async (index) => {
    const sample = samples[index]!;
    try {
      await decodeCached(sample, pre, key, opts.cache);
    } catch (error) {
      if (!(error instanceof ImageError)) throw error;
      problems.push({ index, path: sample.path, source: sample.source, error });
    }
  });
  return problems.sort((a, b) => a.index - b.index);
}

async function loadBatch(
  samples: Sample[],
  labels: Int32Array[],
  targets: (Float32Array | undefined)[] | undefined,
  chunk: number[],
  pre: Preprocessing,
  key: string,
  cache: ImageCache | undefined,
  concurrency: number,
): Promise<Batch> {
  const pixels = pre.size * pre.size * 3;
  const x = new Float32Array(chunk.length * pixels);
  await forEachLimited(chunk.keys(), concurrency, async (position) => {
    const sample = samples[chunk[position]!]!;
    x.set(await decodeCached(sample, pre, key, cache), position * pixels);
  });
  return {
    x,
    shape: [chunk.length, pre.size, pre.size, 3],
    labels: labels.map((head) => Int32Array.from(chunk, (index) => head[index]!)),
    ...(targets ? { targets: targets.map((rows) => rows && gatherRows(rows, samples.length, chunk)) } : {}),
    indices: chunk,
  };
}

/** Rows `chunk` of a row-major matrix with `n` rows. */
function gatherRows(rows: Float32Array, n: number, chunk: number[]): Float32Array {
  const k = rows.length / n;
  const out = new Float32Array(chunk.length * k);
  chunk.forEach((index, j) => out.set(rows.subarray(index * k, (index + 1) * k), j * k));
  return out;
}

/**
 * Decodes one sample through the cache (`key` is {@link preprocessingKey} of
 * `pre`); a decode error is prefixed with the manifest file and line.
 */
export async function decodeCached(
  sample: Sample,
  pre: Preprocessing,
  key: string,
  cache: ImageCache | undefined,
): Promise<Float32Array> {
  const cacheKey = `${sample.path}\u0000${key}`;
  const cached = cache?.get(cacheKey);
  if (cached) return cached;
  let pixels: Float32Array;
  try {
    pixels = await decodeImage(sample.path, pre);
  } catch (error) {
    throw withSource(error, sample);
  }
  cache?.set(cacheKey, pixels);
  return pixels;
}

/** Prefixes a decode error with the manifest file and line the image came from. */
function withSource(error: unknown, sample: Sample): unknown {
  const { file, line } = sample.source;
  if (!(error instanceof ImageError) || line === undefined) return error;
  return new ImageError(error.code, `${file}:${line}: ${error.message}`, {
    cause: error,
    kind: error.kind,
    details: { ...error.details, source: { file, line } },
  });
}

/** Runs `task` over `items` with at most `limit` in flight; rejects on the first failure. */
export async function forEachLimited<T>(
  items: Iterable<T>,
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  const iterator = items[Symbol.iterator]();
  let failed = false;
  const worker = async (): Promise<void> => {
    for (let next = iterator.next(); !next.done && !failed; next = iterator.next()) {
      try {
        await task(next.value);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

/** Marks a promise as handled, so a prefetch abandoned by an early `break` cannot crash. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

function checkPositiveInteger(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new DataError('DATA_BAD_OPTION', `Invalid ${field} ${value}: expected an integer >= 1`, {
      kind: 'usage',
      details: { field, value },
    });
  }
}

function checkInputs(
  samples: Sample[],
  labels: Int32Array[],
  indices: number[],
  targets: (Float32Array | undefined)[] | undefined,
): void {
  const short = labels.findIndex((head) => head.length !== samples.length);
  if (short >= 0) {
    throw new DataError(
      'DATA_BAD_OPTION',
      `Labels of head ${short} have ${labels[short]!.length} entries; expected one per sample ` +
        `(${samples.length})`,
      { kind: 'usage', details: { head: short } },
    );
  }
  const ragged = (targets ?? []).findIndex(
    (rows) => rows !== undefined && rows.length % Math.max(samples.length, 1) !== 0,
  );
  if (ragged >= 0) {
    throw new DataError(
      'DATA_BAD_OPTION',
      `Targets of head ${ragged} have ${targets![ragged]!.length} entries; expected a whole ` +
        `number of rows per sample (${samples.length} samples)`,
      { kind: 'usage', details: { head: ragged } },
    );
  }
  const bad = indices.find((i) => !Number.isInteger(i) || i < 0 || i >= samples.length);
  if (bad !== undefined) {
    throw new DataError(
      'DATA_BAD_OPTION',
      `Sample index ${bad} is out of range; expected 0..${samples.length - 1}`,
      { kind: 'usage', details: { index: bad } },
    );
  }
}
