import { readFile } from 'node:fs/promises';
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import { ImageError } from './errors.js';
import { DEFAULT_MAX_PIXELS, normalisePixels, type Preprocessing } from './preprocessing.js';

/** Decoded 8-bit pixels, interleaved RGB, row-major (HWC). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Options of {@link decodeOriented}. */
export interface DecodeOrientedOptions {
  /** RGB colour that alpha is flattened onto. Default white. */
  background?: [number, number, number];
  /** Pixel limit checked from the header. Default 40,000,000. */
  maxPixels?: number;
}

/** Image formats the decode step accepts, as sharp names them; `heif` only with AV1 (AVIF). */
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif']);
const EXPECTED = 'a JPEG, PNG, WebP, GIF, TIFF or AVIF image';

/**
 * NOTE: 'error' rejects truncated and corrupt data, where libvips would otherwise grey-fill the
 * missing rows; 'warning' would also reject healthy phone photos with minor decoder warnings.
 */
const FAIL_ON = 'error';

/**
 * Decodes an image into the model's input: `size × size × 3` floats, HWC, RGB, scaled as
 * `pre.scaling` says. The one decode step of training, evaluation, prediction and the server.
 *
 * @param input A file path, or the file's bytes (an upload, say).
 * @throws ImageError `IMAGE_EMPTY`, `IMAGE_UNREADABLE`, `IMAGE_TOO_LARGE` or `IMAGE_CORRUPT`.
 * @example
 * const pre = defaultPreprocessing({ size: 64 });
 * const x = await decodeImage('photos/red_jeans/001.jpg', pre); // Float32Array(64 * 64 * 3)
 */
export async function decodeImage(
  input: string | Uint8Array,
  pre: Preprocessing,
): Promise<Float32Array> {
  const { data } = await decodeImageRgb(input, pre);
  return normalisePixels(data, pre.scaling);
}

/**
 * The pipeline of {@link decodeImage}, stopped before scaling: oriented, flattened, sRGB and
 * resized to `size × size`, as 0..255 bytes.
 */
export async function decodeImageRgb(
  input: string | Uint8Array,
  pre: Preprocessing,
): Promise<RgbImage> {
  const { size, background } = pre;
  return decode(input, { background, maxPixels: pre.maxPixels }, (image) =>
    image.resize(size, size, {
      fit: FIT[pre.resize],
      kernel: pre.kernel,
      position: 'centre',
      background: { r: background[0], g: background[1], b: background[2], alpha: 1 },
      // Shrink-on-load would bypass the chosen kernel for large JPEGs.
      fastShrinkOnLoad: false,
    }),
  );
}

/**
 * Decodes without resizing: EXIF orientation applied, alpha flattened, 3-channel 8-bit sRGB.
 * Width and height are those of the displayed (oriented) image.
 */
export async function decodeOriented(
  input: string | Uint8Array,
  opts: DecodeOrientedOptions = {},
): Promise<RgbImage> {
  const background = opts.background ?? [255, 255, 255];
  return decode(input, { background, maxPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS }, (i) => i);
}

const FIT = { stretch: 'fill', cover: 'cover', contain: 'contain' } as const;

interface Source {
  bytes: Buffer;
  /** How messages name the input: the path as given, or "image" for bytes. */
  where: string;
  file?: string;
}

async function decode(
  input: string | Uint8Array,
  opts: { background: [number, number, number]; maxPixels: number },
  shape: (image: Sharp) => Sharp,
): Promise<RgbImage> {
  const source = await readSource(input);
  const meta = await readHeader(source, opts.maxPixels);
  const [r, g, b] = opts.background;
  const image = sharp(source.bytes, {
    failOn: FAIL_ON,
    autoOrient: true,
    limitInputPixels: opts.maxPixels,
    pages: 1,
  })
    .flatten({ background: { r, g, b } })
    .toColourspace('srgb');
  let result: { data: Buffer; info: OutputInfo };
  try {
    result = await shape(image).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw decodeFailure(source, meta, error);
  }
  const { data, info } = result;
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    // An invariant of the pipeline above, not a property of the input.
    throw new Error(
      `decode produced ${info.width}×${info.height}×${info.channels} (${data.length} bytes) ` +
        `for ${source.where}; expected 3 channels`,
    );
  }
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: info.width,
    height: info.height,
  };
}

async function readSource(input: string | Uint8Array): Promise<Source> {
  if (typeof input !== 'string') {
    const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    if (bytes.length === 0) throw emptyError('image', {});
    return { bytes, where: 'image' };
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(input);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ImageError(
      'IMAGE_UNREADABLE',
      `Cannot read image file ${input} (${code}); expected a readable file holding ${EXPECTED}`,
      { cause: error, details: { file: input, errno: code } },
    );
  }
  if (bytes.length === 0) throw emptyError(input, { file: input });
  return { bytes, where: input, file: input };
}

function emptyError(where: string, details: Record<string, unknown>): ImageError {
  return new ImageError(
    'IMAGE_EMPTY',
    `${capital(where)} is empty (0 bytes); expected ${EXPECTED}`,
    {
      details: { ...details, bytes: 0 },
    },
  );
}

/** Reads the header only: format, dimensions. Refuses oversized images before any decoding. */
async function readHeader(source: Source, maxPixels: number): Promise<Metadata> {
  const { where, bytes, file } = source;
  let meta: Metadata;
  try {
    // The limit is checked below from these header dimensions, so it is off for this call only.
    meta = await sharp(bytes, { limitInputPixels: false, pages: 1 }).metadata();
  } catch (error) {
    const unknown = /unsupported image format/i.test(errorMessage(error));
    throw new ImageError(
      unknown ? 'IMAGE_UNREADABLE' : 'IMAGE_CORRUPT',
      unknown
        ? `${capital(where)} is not in a supported format (${bytes.length} bytes); expected ${EXPECTED}`
        : `${capital(where)} has an unreadable header (${bytes.length} bytes); expected ${EXPECTED}`,
      { cause: error, details: { file, bytes: bytes.length } },
    );
  }
  const format = meta.format === 'heif' ? `heif/${meta.compression ?? 'unknown'}` : meta.format;
  if (
    !ACCEPTED_FORMATS.has(meta.format) ||
    (meta.format === 'heif' && meta.compression !== 'av1')
  ) {
    throw new ImageError(
      'IMAGE_UNREADABLE',
      `${capital(where)} is ${format}, which polyhead does not decode; expected ${EXPECTED}`,
      { details: { file, format, bytes: bytes.length } },
    );
  }
  const { width, height } = meta;
  if (width * height > maxPixels) {
    throw new ImageError(
      'IMAGE_TOO_LARGE',
      `${capital(where)} is ${width}×${height} = ${width * height} pixels (${format}); ` +
        `expected at most ${maxPixels} pixels (maxPixels)`,
      { details: { file, format, width, height, limit: maxPixels } },
    );
  }
  return meta;
}

function decodeFailure(source: Source, meta: Metadata, error: unknown): ImageError {
  const { where, bytes, file } = source;
  const { format, width, height } = meta;
  if (/exceeds pixel limit/i.test(errorMessage(error))) {
    return new ImageError(
      'IMAGE_TOO_LARGE',
      `${capital(where)} exceeds the pixel limit while decoding (${format}, header ${width}×${height})`,
      { cause: error, details: { file, format, width, height } },
    );
  }
  return new ImageError(
    'IMAGE_CORRUPT',
    `${capital(where)} is a truncated or corrupt image (${format}, ${width}×${height}, ` +
      `${bytes.length} bytes); expected complete image data`,
    { cause: error, details: { file, format, width, height, bytes: bytes.length } },
  );
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** "image" starts a sentence as "Image"; a path is left alone. */
function capital(where: string): string {
  return where === 'image' ? 'Image' : where;
}
