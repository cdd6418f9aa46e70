import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { initBackend, type Prediction } from '@polyhead/model';
import { expect } from 'vitest';

const ROOT = fileURLToPath(new URL('../../test-fixtures/', import.meta.url));

/** Absolute path of a file under `apps/server/test-fixtures`. */
export function fixture(name: string): string {
  return path.join(ROOT, name);
}

/** The bytes of a fixture file. */
export async function fixtureBytes(name: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(fixture(name)));
}

/** A multipart form with each file as an `image` part named after its fixture. */
export async function imageForm(...names: string[]): Promise<FormData> {
  const form = new FormData();
  for (const name of names) {
    const type = name.endsWith('.jpg') ? 'image/jpeg' : 'image/png';
    form.append('image', new Blob([await fixtureBytes(name)], { type }), path.basename(name));
  }
  return form;
}

/**
 * Asserts two predictions name the same labels (and label sets of multi-label
 * heads), with scores equal within `tol`.
 */
export function expectSamePrediction(actual: Prediction, expected: Prediction, tol = 1e-6): void {
  expect(Object.keys(actual.heads).sort()).toEqual(Object.keys(expected.heads).sort());
  for (const [name, want] of Object.entries(expected.heads)) {
    const got = actual.heads[name]!;
    expect(got.label).toBe(want.label);
    expect(Math.abs(got.score - want.score)).toBeLessThanOrEqual(tol);
    expect(got.top?.map((t) => t.label)).toEqual(want.top?.map((t) => t.label));
    got.top?.forEach((t, i) =>
      expect(Math.abs(t.score - want.top![i]!.score)).toBeLessThanOrEqual(tol),
    );
    // Multi-label heads: the same label set, and every label's score.
    expect(got.labels).toEqual(want.labels);
    expect(Object.keys(got.scores ?? {})).toEqual(Object.keys(want.scores ?? {}));
    for (const [label, score] of Object.entries(want.scores ?? {})) {
      expect(Math.abs(got.scores![label]! - score)).toBeLessThanOrEqual(tol);
    }
  }
}

/**
 * Activates the wasm backend, which trains this tiny model about ten times faster
 * than `cpu`, falling back to `cpu` where wasm cannot start. Returns the one in use.
 */
export async function useTestBackend(): Promise<'wasm' | 'cpu'> {
  try {
    await initBackend('wasm');
    return 'wasm';
  } catch {
    await initBackend('cpu');
    return 'cpu';
  }
}

/** 29 different images: the 24 training images of f04, the f15 trio, the probe and a JPEG. */
export function distinctImages(): string[] {
  const train = Array.from(
    { length: 24 },
    (_, i) => `f04/train/img${String(i).padStart(3, '0')}.png`,
  );
  return [
    ...train,
    'f15/a_red_square.png',
    'f15/b_blue_circle.png',
    'f15/c_green_triangle.png',
    'probe4x4.png',
    'jpeg/clean.jpg',
  ];
}
