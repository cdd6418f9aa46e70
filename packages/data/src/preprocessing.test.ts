import { describe, expect, it } from 'vitest';
import { DataError } from './errors.js';
import {
  defaultPreprocessing,
  normalisePixels,
  parsePreprocessing,
  preprocessingKey,
} from './preprocessing.js';

describe('defaultPreprocessing', () => {
  it('should fill every field with its documented default when given nothing', () => {
    expect(defaultPreprocessing()).toEqual({
      size: 64,
      resize: 'stretch',
      kernel: 'lanczos3',
      scaling: 'unit',
      background: [255, 255, 255],
      channels: 'rgb',
      maxPixels: 40_000_000,
    });
  });

  it('should keep the fields given when they are valid', () => {
    const pre = defaultPreprocessing({ size: 96, kernel: 'nearest', scaling: 'symmetric' });
    expect([pre.size, pre.kernel, pre.scaling, pre.resize]).toEqual([
      96,
      'nearest',
      'symmetric',
      'stretch',
    ]);
  });

  it.each([
    [{ size: 0 }, 'size'],
    [{ size: 2.5 }, 'size'],
    [{ resize: 'squash' }, 'resize'],
    [{ kernel: 'mitchell' }, 'kernel'],
    [{ background: [255, 255] }, 'background'],
    [{ background: [0, 0, 256] }, 'background'],
    [{ scaling: 'imagenet' }, 'scaling'],
    [{ scaling: { mean: [0.5, 0.5, 0.5], std: [0.5, 0, 0.5] } }, 'scaling.std'],
    [{ maxPixels: -1 }, 'maxPixels'],
  ])('should throw DATA_BAD_PREPROCESSING naming the field when given %j', (partial, field) => {
    const call = () => defaultPreprocessing(partial as never);
    expect(call).toThrow(DataError);
    expect(call).toThrow(new RegExp(`preprocessing ${field.replace('.', '\\.')}: expected`));
  });
});

describe('parsePreprocessing', () => {
  it('should round-trip through JSON when the value came from defaultPreprocessing', () => {
    const pre = defaultPreprocessing({
      scaling: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    });
    expect(parsePreprocessing(JSON.parse(JSON.stringify(pre)))).toEqual(pre);
  });

  it('should reject a value when a field is missing', () => {
    const { kernel: _kernel, ...rest } = defaultPreprocessing();
    expect(() => parsePreprocessing(rest)).toThrow(/preprocessing kernel: expected/);
  });
});

describe('preprocessingKey', () => {
  it('should differ when anything that changes pixel values differs', () => {
    const base = defaultPreprocessing();
    const keys = [
      base,
      { ...base, size: 32 },
      { ...base, resize: 'cover' as const },
      { ...base, kernel: 'nearest' as const },
      { ...base, scaling: 'symmetric' as const },
      { ...base, background: [0, 0, 0] as [number, number, number] },
    ].map(preprocessingKey);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('should not change when only maxPixels changes', () => {
    const base = defaultPreprocessing();
    expect(preprocessingKey({ ...base, maxPixels: 10 })).toBe(preprocessingKey(base));
  });
});

describe('normalisePixels', () => {
  const rgb = Uint8Array.of(0, 128, 255, 255, 0, 51);

  it('should map 0..255 to 0..1 when scaling is unit', () => {
    const out = normalisePixels(rgb, 'unit');
    expect(out[1]).toBeCloseTo(0.50196, 5);
    expect([out[0], out[2], out[5]]).toEqual([0, 1, Math.fround(0.2)]);
  });

  it('should map 0..255 to -1..1 when scaling is symmetric', () => {
    const out = normalisePixels(rgb, 'symmetric');
    expect(out[0]).toBe(-1);
    expect(out[1]).toBeCloseTo(0.00392, 5);
    expect(out[2]).toBe(1);
  });

  it('should apply mean and std per channel on 0..1 values when scaling is an object', () => {
    const out = normalisePixels(rgb, { mean: [0.5, 0.25, 0], std: [0.5, 0.25, 2] });
    // Pixel 0 = (0, 128, 255), pixel 1 = (255, 0, 51).
    expect(out[0]).toBeCloseTo(-1, 6);
    expect(out[1]).toBeCloseTo((128 / 255 - 0.25) / 0.25, 5);
    expect(out[2]).toBeCloseTo(0.5, 6);
    expect(out[3]).toBeCloseTo(1, 6);
    expect(out[4]).toBeCloseTo(-1, 6);
    expect(out[5]).toBeCloseTo(0.1, 6);
  });

  it('should write into the given array when out is passed', () => {
    const out = new Float32Array(6);
    expect(normalisePixels(rgb, 'unit', out)).toBe(out);
    expect(out[2]).toBe(1);
  });

  it('should throw when out has the wrong length', () => {
    expect(() => normalisePixels(rgb, 'unit', new Float32Array(3))).toThrow(/expected 6/);
  });
});
