import { DataError } from './errors.js';

/** How the three channels are scaled after decoding. */
export type Scaling =
  'unit' | 'symmetric' | { mean: [number, number, number]; std: [number, number, number] };

/**
 * Everything that decides the pixels a model sees. A model artifact records one of these, and
 * training, evaluation, prediction and the server all decode through it.
 */
export interface Preprocessing {
  /** Side of the square input, in pixels. Default 64. */
  size: number;
  /**
   * How the aspect ratio is handled. `stretch` fills the square (default), `cover` scales to cover
   * and crops the centre, `contain` scales to fit and pads with `background`.
   */
  resize: 'stretch' | 'cover' | 'contain';
  /** Resampling kernel. Default `lanczos3`. */
  kernel: 'lanczos3' | 'cubic' | 'linear' | 'nearest';
  /**
   * `unit`: x/255 → [0, 1] (default). `symmetric`: x/127.5 − 1 → [−1, 1].
   * `{mean, std}`: per channel (x/255 − mean) / std, with mean and std on 0..1 values.
   */
  scaling: Scaling;
  /** RGB colour that alpha is flattened onto, and that `contain` pads with. Default white. */
  background: [number, number, number];
  /** Channel order of the output; only `rgb` exists. */
  channels: 'rgb';
  /** Images with more pixels than this are refused from their header. Default 40,000,000. */
  maxPixels: number;
}

const RESIZE_MODES = ['stretch', 'cover', 'contain'] as const;
const KERNELS = ['lanczos3', 'cubic', 'linear', 'nearest'] as const;

/** Largest accepted `size`; a model input beyond this is almost surely a typo. */
export const MAX_INPUT_SIZE = 4096;

/** Default pixel limit: a 40-megapixel photo passes, a decompression bomb does not. */
export const DEFAULT_MAX_PIXELS = 40_000_000;

/**
 * Fills in defaults and checks every field.
 *
 * @throws DataError `DATA_BAD_PREPROCESSING` naming the field and what was expected.
 * @example
 * const pre = defaultPreprocessing({ size: 96, scaling: 'symmetric' });
 */
export function defaultPreprocessing(partial: Partial<Preprocessing> = {}): Preprocessing {
  const pre: Preprocessing = {
    size: partial.size ?? 64,
    resize: partial.resize ?? 'stretch',
    kernel: partial.kernel ?? 'lanczos3',
    scaling: partial.scaling ?? 'unit',
    background: partial.background ?? [255, 255, 255],
    channels: partial.channels ?? 'rgb',
    maxPixels: partial.maxPixels ?? DEFAULT_MAX_PIXELS,
  };
  return parsePreprocessing(pre);
}

/**
 * Checks an untrusted value (say, read from a model artifact) and returns it as a Preprocessing.
 * Every field is required; use {@link defaultPreprocessing} to fill gaps.
 *
 * @throws DataError `DATA_BAD_PREPROCESSING` naming the field and what was expected.
 */
export function parsePreprocessing(value: unknown): Preprocessing {
  if (!isRecord(value)) fail('preprocessing', 'an object', value);
  const { size, resize, kernel, scaling, background, channels, maxPixels } = value;
  if (!Number.isInteger(size) || (size as number) < 1 || (size as number) > MAX_INPUT_SIZE) {
    fail('size', `an integer from 1 to ${MAX_INPUT_SIZE}`, size);
  }
  if (!RESIZE_MODES.includes(resize as never)) fail('resize', RESIZE_MODES.join(' | '), resize);
  if (!KERNELS.includes(kernel as never)) fail('kernel', KERNELS.join(' | '), kernel);
  if (!isRgb(background, 0, 255, true)) fail('background', '[r, g, b] integers 0..255', background);
  if (channels !== 'rgb') fail('channels', "'rgb'", channels);
  if (!Number.isSafeInteger(maxPixels) || (maxPixels as number) < 1) {
    fail('maxPixels', 'a positive integer', maxPixels);
  }
  return {
    size: size as number,
    resize: resize as Preprocessing['resize'],
    kernel: kernel as Preprocessing['kernel'],
    scaling: parseScaling(scaling),
    background: [...(background as number[])] as [number, number, number],
    channels: 'rgb',
    maxPixels: maxPixels as number,
  };
}

function parseScaling(scaling: unknown): Scaling {
  if (scaling === 'unit' || scaling === 'symmetric') return scaling;
  const expected = "'unit', 'symmetric' or { mean: [r, g, b], std: [r, g, b] } on 0..1 values";
  if (!isRecord(scaling)) fail('scaling', expected, scaling);
  const { mean, std } = scaling;
  if (!isRgb(mean, -Infinity, Infinity, false)) fail('scaling.mean', '[r, g, b] numbers', mean);
  if (!isRgb(std, Number.MIN_VALUE, Infinity, false)) {
    fail('scaling.std', '[r, g, b] numbers above 0', std);
  }
  return {
    mean: [...(mean as number[])] as [number, number, number],
    std: [...(std as number[])] as [number, number, number],
  };
}

/**
 * A stable string that changes whenever the decoded values would; used as part of cache keys.
 * `maxPixels` is left out: it decides whether an image decodes, not what it decodes to.
 */
export function preprocessingKey(pre: Preprocessing): string {
  const scaling =
    typeof pre.scaling === 'string'
      ? pre.scaling
      : `mean=${pre.scaling.mean.join(',')};std=${pre.scaling.std.join(',')}`;
  return [
    `size=${pre.size}`,
    `resize=${pre.resize}`,
    `kernel=${pre.kernel}`,
    `scaling=${scaling}`,
    `bg=${pre.background.join(',')}`,
    `channels=${pre.channels}`,
  ].join('|');
}

/**
 * Scales interleaved 0..255 RGB bytes to floats. Channel c of pixel i is `rgb[i * 3 + c]`.
 *
 * @param out Optional destination of the same length, to avoid an allocation.
 * @example
 * normalisePixels(Uint8Array.of(0, 128, 255), 'symmetric'); // ≈ [-1, 0.00392, 1]
 */
export function normalisePixels(
  rgb: Uint8Array,
  scaling: Scaling,
  out: Float32Array = new Float32Array(rgb.length),
): Float32Array {
  if (out.length !== rgb.length) {
    throw new RangeError(`normalisePixels: out has ${out.length} values, expected ${rgb.length}`);
  }
  if (rgb.length % 3 !== 0) {
    throw new RangeError(`normalisePixels: expected RGB triples, got ${rgb.length} values`);
  }
  if (scaling === 'unit') {
    for (let i = 0; i < rgb.length; i++) out[i] = rgb[i]! / 255;
  } else if (scaling === 'symmetric') {
    for (let i = 0; i < rgb.length; i++) out[i] = rgb[i]! / 127.5 - 1;
  } else {
    const { mean, std } = scaling;
    for (let i = 0; i < rgb.length; i += 3) {
      for (let c = 0; c < 3; c++) out[i + c] = (rgb[i + c]! / 255 - mean[c]!) / std[c]!;
    }
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isRgb(value: unknown, min: number, max: number, integer: boolean): boolean {
  return (
    Array.isArray(value) &&
    value.length === 3 &&
    value.every(
      (v) =>
        typeof v === 'number' &&
        Number.isFinite(v) &&
        v >= min &&
        v <= max &&
        (!integer || Number.isInteger(v)),
    )
  );
}

function fail(field: string, expected: string, got: unknown): never {
  throw new DataError(
    'DATA_BAD_PREPROCESSING',
    `Invalid preprocessing ${field}: expected ${expected}, got ${JSON.stringify(got) ?? String(got)}`,
    { kind: 'usage', details: { field, expected } },
  );
}
