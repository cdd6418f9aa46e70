import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, decodeImageRgb, decodeOriented } from './decode.js';
import { ImageError } from './errors.js';
import { defaultPreprocessing } from './preprocessing.js';
import {
  expectEveryPixel,
  expectPixel,
  makeTempDir,
  noiseImage,
  pixelAt,
  rawImage,
  type Rgb,
} from './test-utils/index.js';

const RED: Rgb = [255, 0, 0];
const GREEN: Rgb = [0, 255, 0];
const BLUE: Rgb = [0, 0, 255];
const WHITE: Rgb = [255, 255, 255];

/** 4×2, left half red, right half blue. */
const leftRedRightBlue = () => rawImage(4, 2, 3, (x) => (x < 2 ? RED : BLUE));

/** Rejects with an ImageError; returns it for further checks. */
async function imageError(promise: Promise<unknown>): Promise<ImageError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ImageError);
  return error as ImageError;
}

/** A PNG whose header claims `width × height` pixels; its data is a single tiny row. */
function pngHeaderOnly(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    // The CRC is left zero: the header is read before any checksum matters.
    return Buffer.concat([length, Buffer.from(type, 'ascii'), data, Buffer.alloc(4)]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([1, 0, 0, 0, 0], 8); // 1-bit greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(8))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

let dir: string;
let remove: () => Promise<void>;
beforeAll(async () => ({ dir, remove } = await makeTempDir()));
afterAll(() => remove());

describe('decodeOriented', () => {
  it.each([
    [1, 4, 2, { topLeft: RED, topRight: BLUE, bottomLeft: RED }],
    [3, 4, 2, { topLeft: BLUE, topRight: RED, bottomLeft: BLUE }],
    [6, 2, 4, { topLeft: RED, topRight: RED, bottomLeft: BLUE }],
    [8, 2, 4, { topLeft: BLUE, topRight: BLUE, bottomLeft: RED }],
  ])(
    'should apply EXIF orientation %i when decoding a JPEG',
    async (orientation, width, height, expected) => {
      const jpeg = await leftRedRightBlue()
        .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
        .withMetadata({ orientation })
        .toBuffer();
      expect((await sharp(jpeg).metadata()).orientation).toBe(orientation);
      const image = await decodeOriented(jpeg);
      expect([image.width, image.height]).toEqual([width, height]);
      expectPixel(image, 0, 0, expected.topLeft, 8);
      expectPixel(image, width - 1, 0, expected.topRight, 8);
      expectPixel(image, 0, height - 1, expected.bottomLeft, 8);
    },
  );

  it('should flatten transparent pixels onto white and never show the hidden colour', async () => {
    const png = await rawImage(8, 8, 4, (x) => (x < 4 ? [...RED, 255] : [...GREEN, 0]))
      .png()
      .toBuffer();
    const image = await decodeOriented(png);
    expectPixel(image, 0, 0, RED);
    expectPixel(image, 7, 7, WHITE);
  });

  it('should flatten onto the background given when one is configured', async () => {
    const png = await rawImage(2, 1, 4, () => [...GREEN, 0])
      .png()
      .toBuffer();
    expectEveryPixel(await decodeOriented(png, { background: [10, 20, 30] }), [10, 20, 30]);
  });

  it('should blend half-transparent pixels with the background', async () => {
    const png = await rawImage(1, 1, 4, () => [0, 0, 0, 128])
      .png()
      .toBuffer();
    expectPixel(await decodeOriented(png), 0, 0, [127, 127, 127], 1);
  });

  it('should give three equal channels when the PNG is greyscale', async () => {
    const png = await rawImage(8, 8, 1, () => [200])
      .toColourspace('b-w')
      .png()
      .toBuffer();
    const meta = await sharp(png).metadata();
    expect([meta.space, meta.channels]).toEqual(['b-w', 1]);
    const image = await decodeOriented(png);
    expect(image.data.length).toBe(8 * 8 * 3);
    expectEveryPixel(image, [200, 200, 200]);
  });

  it('should flatten grey+alpha onto white when the PNG has two channels', async () => {
    const png = await rawImage(8, 8, 2, (x) => [200, x < 4 ? 255 : 0])
      .toColourspace('b-w')
      .png()
      .toBuffer();
    expect((await sharp(png).metadata()).channels).toBe(2);
    const image = await decodeOriented(png);
    expectPixel(image, 0, 0, [200, 200, 200]);
    expectPixel(image, 7, 0, WHITE);
  });

  it('should keep opaque and whiten transparent entries when a palette PNG has tRNS', async () => {
    const png = await rawImage(8, 8, 4, (x) => (x < 4 ? [...RED, 255] : [...GREEN, 0]))
      .png({ palette: true })
      .toBuffer();
    const meta = await sharp(png).metadata();
    expect([meta.isPalette, meta.hasAlpha]).toEqual([true, true]);
    const image = await decodeOriented(png);
    expectPixel(image, 0, 0, RED);
    expectPixel(image, 7, 0, WHITE);
  });

  it('should reduce 16-bit samples to 8 bits when the PNG is 16-bit', async () => {
    const png = await rawImage(2, 2, 3, () => [128, 64, 0])
      .toColourspace('rgb16')
      .png()
      .toBuffer();
    expect((await sharp(png).metadata()).depth).toBe('ushort');
    const image = await decodeOriented(png);
    expect(image.data.length).toBe(2 * 2 * 3);
    expectEveryPixel(image, [128, 64, 0], 1);
  });

  it('should convert to three-channel sRGB when the JPEG is CMYK', async () => {
    const jpeg = await rawImage(8, 8, 3, () => RED)
      .toColourspace('cmyk')
      .jpeg()
      .toBuffer();
    const meta = await sharp(jpeg).metadata();
    expect([meta.space, meta.channels]).toEqual(['cmyk', 4]);
    const image = await decodeOriented(jpeg);
    expect(image.data.length).toBe(8 * 8 * 3);
    // Red survives the CMYK round trip only approximately (its gamut is smaller).
    const [r, g, b] = pixelAt(image, 4, 4);
    expect(r).toBeGreaterThan(200);
    expect(g).toBeLessThan(40);
    expect(b).toBeLessThan(60);
  });

  it.each(['gif', 'webp', 'tiff', 'avif'] as const)(
    'should decode a lossless-enough %s to RGB',
    async (format) => {
      const encoded = await leftRedRightBlue()[format]().toBuffer();
      const image = await decodeOriented(encoded);
      expect([image.width, image.height, image.data.length]).toEqual([4, 2, 24]);
      expectPixel(image, 0, 0, RED, 60);
      expectPixel(image, 3, 1, BLUE, 60);
    },
  );

  it('should decode only the first frame when the GIF is animated', async () => {
    const frames = Buffer.alloc(2 * 2 * 2 * 3);
    for (let i = 0; i < 4; i++) frames.set(RED, i * 3);
    for (let i = 4; i < 8; i++) frames.set(BLUE, i * 3);
    const gif = await sharp(frames, { raw: { width: 2, height: 4, channels: 3, pageHeight: 2 } })
      .gif()
      .toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const image = await decodeOriented(gif);
    expect([image.width, image.height]).toEqual([2, 2]);
    expectEveryPixel(image, RED);
  });
});

describe('decodeImageRgb', () => {
  const pre = defaultPreprocessing({ size: 4, kernel: 'nearest' });

  it('should fill the square when resize is stretch', async () => {
    const image = await decodeImageRgb(await leftRedRightBlue().png().toBuffer(), pre);
    expect([image.width, image.height]).toEqual([4, 4]);
    for (const y of [0, 3]) {
      expectPixel(image, 0, y, RED);
      expectPixel(image, 3, y, BLUE);
    }
  });

  it('should pad with the background when resize is contain', async () => {
    const png = await leftRedRightBlue().png().toBuffer();
    const image = await decodeImageRgb(png, { ...pre, resize: 'contain', background: [9, 9, 9] });
    expectPixel(image, 0, 0, [9, 9, 9]);
    expectPixel(image, 0, 1, RED);
    expectPixel(image, 3, 2, BLUE);
    expectPixel(image, 3, 3, [9, 9, 9]);
  });

  it('should crop the centre when resize is cover', async () => {
    // 8×2: red, red, red, green, green, blue, blue, blue; cover keeps the middle 2×2.
    const colours = [RED, RED, RED, GREEN, GREEN, BLUE, BLUE, BLUE];
    const png = await rawImage(8, 2, 3, (x) => colours[x]!)
      .png()
      .toBuffer();
    const image = await decodeImageRgb(png, { ...pre, size: 2, resize: 'cover' });
    expectEveryPixel(image, GREEN);
  });

  it('should rotate before resizing when the JPEG has EXIF orientation 6', async () => {
    const jpeg = await rawImage(8, 4, 3, (x) => (x < 4 ? RED : BLUE))
      .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const image = await decodeImageRgb(jpeg, pre);
    expectPixel(image, 0, 0, RED, 8);
    expectPixel(image, 3, 0, RED, 8);
    expectPixel(image, 0, 3, BLUE, 8);
    expectPixel(image, 3, 3, BLUE, 8);
  });

  it('should decode a file path and its bytes to identical pixels', async () => {
    const file = path.join(dir, 'noise.jpg');
    const bytes = await noiseImage(16, 12).jpeg().toBuffer();
    await writeFile(file, bytes);
    const fromPath = await decodeImageRgb(file, defaultPreprocessing({ size: 8 }));
    const fromBytes = await decodeImageRgb(
      new Uint8Array(bytes),
      defaultPreprocessing({ size: 8 }),
    );
    expect(Buffer.from(fromPath.data).equals(Buffer.from(fromBytes.data))).toBe(true);
  });
});

describe('decodeImage', () => {
  it('should return size×size×3 scaled floats when decoding succeeds', async () => {
    const png = await rawImage(3, 3, 3, () => [255, 0, 128])
      .png()
      .toBuffer();
    const x = await decodeImage(png, defaultPreprocessing({ size: 5, scaling: 'symmetric' }));
    expect(x).toBeInstanceOf(Float32Array);
    expect(x.length).toBe(5 * 5 * 3);
    expect(x[0]).toBeCloseTo(1, 5);
    expect(x[1]).toBeCloseTo(-1, 5);
    expect(x[2]).toBeCloseTo(128 / 127.5 - 1, 5);
  });
});

describe('decode errors', () => {
  const pre = defaultPreprocessing({ size: 8 });

  it('should reject a truncated JPEG as IMAGE_CORRUPT naming the file', async () => {
    const jpeg = await noiseImage(64, 64).jpeg({ quality: 90 }).toBuffer();
    const file = path.join(dir, 'cut.jpg');
    await writeFile(file, jpeg.subarray(0, Math.floor(jpeg.length * 0.6)));
    const error = await imageError(decodeImage(file, pre));
    expect(error.code).toBe('IMAGE_CORRUPT');
    expect(error.message).toContain(file);
    expect(error.message).toMatch(/truncated or corrupt/);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('should say "Image" instead of a file name when given bytes', async () => {
    const png = await noiseImage(32, 32).png().toBuffer();
    const error = await imageError(decodeImage(png.subarray(0, png.length - 200), pre));
    expect(error.code).toBe('IMAGE_CORRUPT');
    expect(error.message).toMatch(/^Image is a truncated or corrupt image \(png, 32×32/);
  });

  it('should decode identical pixels when a JPEG has junk after its end marker', async () => {
    const jpeg = await noiseImage(32, 32).jpeg({ quality: 90 }).toBuffer();
    const junk = Buffer.concat([jpeg, Buffer.alloc(100, 0x5a)]);
    const clean = await decodeOriented(jpeg);
    const padded = await decodeOriented(junk);
    expect(Buffer.from(padded.data).equals(Buffer.from(clean.data))).toBe(true);
  });

  it('should refuse an image from its header when it has more pixels than maxPixels', async () => {
    const started = performance.now();
    const error = await imageError(decodeImage(pngHeaderOnly(20000, 20000), pre));
    expect(performance.now() - started).toBeLessThan(2000);
    expect(error.code).toBe('IMAGE_TOO_LARGE');
    expect(error.details).toMatchObject({ width: 20000, height: 20000, limit: 40_000_000 });
    expect(error.message).toContain('20000×20000');
  });

  it('should honour a lower maxPixels when one is configured', async () => {
    const png = await noiseImage(64, 64).png().toBuffer();
    const error = await imageError(decodeImage(png, { ...pre, maxPixels: 4095 }));
    expect(error.details).toMatchObject({ width: 64, height: 64, limit: 4095 });
    await expect(decodeImage(png, { ...pre, maxPixels: 4096 })).resolves.toHaveLength(8 * 8 * 3);
  });

  it('should report IMAGE_EMPTY when the file or the bytes are empty', async () => {
    const file = path.join(dir, 'empty.png');
    await writeFile(file, '');
    const fromFile = await imageError(decodeImage(file, pre));
    expect([fromFile.code, fromFile.message.startsWith(file)]).toEqual(['IMAGE_EMPTY', true]);
    const fromBytes = await imageError(decodeImage(new Uint8Array(0), pre));
    expect(fromBytes.code).toBe('IMAGE_EMPTY');
    expect(fromBytes.message).toMatch(/^Image is empty \(0 bytes\); expected a JPEG/);
  });

  it('should report IMAGE_UNREADABLE with the sharp error as cause when bytes are not an image', async () => {
    const error = await imageError(decodeImage(Buffer.from('image,color\nx.png,red\n'), pre));
    expect(error.code).toBe('IMAGE_UNREADABLE');
    expect(error.message).toMatch(/expected a JPEG, PNG, WebP, GIF, TIFF or AVIF image/);
    expect((error.cause as Error).message).toMatch(/unsupported image format/);
  });

  it('should report IMAGE_UNREADABLE naming the format when sharp reads it but polyhead does not', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>');
    const error = await imageError(decodeImage(svg, pre));
    expect(error.code).toBe('IMAGE_UNREADABLE');
    expect(error.message).toMatch(/^Image is svg/);
  });

  it('should report IMAGE_UNREADABLE naming the path when the file does not exist', async () => {
    const file = path.join(dir, 'nowhere.png');
    const error = await imageError(decodeImage(file, pre));
    expect(error.code).toBe('IMAGE_UNREADABLE');
    expect(error.message).toContain(`${file} (ENOENT)`);
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});
