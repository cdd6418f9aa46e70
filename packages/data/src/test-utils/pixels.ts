import sharp, { type Sharp } from 'sharp';
import { expect } from 'vitest';

/** An 8-bit RGB image as the decode step returns it. */
export interface Pixels {
  data: Uint8Array;
  width: number;
  height: number;
}

export type Rgb = [number, number, number];

/** The RGB triple at column x, row y. */
export function pixelAt(image: Pixels, x: number, y: number): Rgb {
  const i = (y * image.width + x) * 3;
  return [image.data[i]!, image.data[i + 1]!, image.data[i + 2]!];
}

/** Asserts every channel of `actual` is within `tolerance` of `expected` (0–255 values). */
export function expectRgbNear(actual: Rgb, expected: Rgb, tolerance: number, what = 'pixel'): void {
  const worst = Math.max(...actual.map((v, c) => Math.abs(v - expected[c]!)));
  expect(
    worst,
    `${what}: got (${actual.join(',')}), expected (${expected.join(',')}) ±${tolerance}`,
  ).toBeLessThanOrEqual(tolerance);
}

/** Asserts the pixel at (x, y) is within `tolerance` of `expected`. */
export function expectPixel(
  image: Pixels,
  x: number,
  y: number,
  expected: Rgb,
  tolerance = 0,
): void {
  expectRgbNear(pixelAt(image, x, y), expected, tolerance, `pixel (${x},${y})`);
}

/** Asserts every pixel of the image is within `tolerance` of `expected`. */
export function expectEveryPixel(image: Pixels, expected: Rgb, tolerance = 0): void {
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) expectPixel(image, x, y, expected, tolerance);
  }
}

/**
 * Builds raw pixels from a per-pixel function and wraps them in sharp, ready to be encoded into
 * any format. `channels` is 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA).
 */
export function rawImage(
  width: number,
  height: number,
  channels: 1 | 2 | 3 | 4,
  pixel: (x: number, y: number) => number[],
): Sharp {
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * channels);
  }
  return sharp(data, { raw: { width, height, channels } });
}

/** Deterministic noise, so lossy encoders produce a file with plenty of entropy data. */
export function noiseImage(width: number, height: number): Sharp {
  let state = 12345;
  return rawImage(width, height, 3, () => {
    const out: number[] = [];
    for (let c = 0; c < 3; c++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      out.push(state >>> 24);
    }
    return out;
  });
}
