/**
 * Every image shape reaches the network as the same tensor whether it is served or trained on:
 * the server's answer for an upload equals the network's answer on the tensor the training
 * pipeline (`batches` over the file's path) builds for the same file.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { batches, type Sample } from '@polyhead/data';
import { Predictor, type Prediction } from '@polyhead/model';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { startServer, type RunningServer } from '../server.js';
import { expectSamePrediction, useTestBackend } from '../test-utils/fixtures.js';

/** The part of sharp's API this test uses to make inputs. */
interface SharpChain {
  png(): SharpChain;
  jpeg(options: { quality: number }): SharpChain;
  toColourspace(space: string): SharpChain;
  withMetadata(options: { orientation: number }): SharpChain;
  toFile(file: string): Promise<unknown>;
  metadata(): Promise<{ depth?: string; space?: string }>;
}
// sharp comes with @polyhead/data; the server itself only decodes through that package.
const sharp = createRequire(fileURLToPath(import.meta.resolve('@polyhead/data')))('sharp') as (input: Buffer | string, options?: object) => SharpChain;
const DATA_FIXTURES = fileURLToPath(new URL('../../../../packages/data/test-fixtures/', import.meta.url));

let server: RunningServer;
let predictor: Predictor;
let dir: string;
const files: string[] = [];

beforeAll(async () => {
  const backend = await useTestBackend();
  predictor = await Predictor.load(inject('modelDir'));
  server = await startServer({ modelDir: inject('modelDir'), port: 0, backend, log: () => undefined });
  dir = await mkdtemp(path.join(tmpdir(), 'polyhead-parity-'));
  const cases = ['F08/orient1.jpg', 'F08/orient3.jpg', 'F08/orient6.jpg', 'F08/orient8.jpg', 'F09/gray.jpg', 'F09/gray_L.png', 'F09/gray_alpha_LA.png', 'F09/rgba_hidden_green.png', 'F09/palette_trns.png', 'F14/probe4x4.png'];
  files.push(...cases.map((c) => path.join(DATA_FIXTURES, c)));
  // Shapes no case file has: 16-bit RGB PNG, CMYK JPEG, and EXIF orientations 2, 4, 5 and 7.
  const gradient = Buffer.alloc(12 * 10 * 3);
  for (let i = 0; i < gradient.length; i++) gradient[i] = (i * 37) % 256;
  const raw = { raw: { width: 12, height: 10, channels: 3 as const } };
  await sharp(gradient, raw).png().toColourspace('rgb16').toFile(path.join(dir, 'deep16.png'));
  await sharp(gradient, raw).jpeg({ quality: 95 }).toColourspace('cmyk').toFile(path.join(dir, 'cmyk.jpg'));
  for (const orientation of [2, 4, 5, 7]) {
    await sharp(gradient, raw).jpeg({ quality: 95 }).withMetadata({ orientation }).toFile(path.join(dir, `orient${orientation}.jpg`));
  }
  files.push(...['deep16.png', 'cmyk.jpg', 'orient2.jpg', 'orient4.jpg', 'orient5.jpg', 'orient7.jpg'].map((f) => path.join(dir, f)));
});

afterAll(async () => {
  await server?.close();
  predictor?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('decode parity between serving and training', () => {
  it('should have made the 16-bit and CMYK inputs it claims to test', async () => {
    expect((await sharp(path.join(dir, 'deep16.png')).metadata()).depth).toBe('ushort');
    expect((await sharp(path.join(dir, 'cmyk.jpg')).metadata()).space).toBe('cmyk');
  });

  it('should answer each upload exactly as the network answers the training tensor of the same file', async () => {
    const pre = predictor.meta.preprocessing;
    const heads = predictor.meta.network.heads;
    const samples: Sample[] = files.map((file) => ({ path: file, labels: heads.map(() => null), source: { file } }));
    const labels = heads.map(() => new Int32Array(samples.length).fill(-1));
    const opts = { batchSize: 1, shuffle: false, seed: 0, pre };
    let i = 0;
    for await (const batch of batches(samples, labels, samples.map((_, j) => j), opts)) {
      const [fromTraining] = await predictor.predictPixels(batch.x, 1, { top: 3 });
      const body = await readFile(files[i]!);
      const res = await fetch(`${server.url}/v1/predict?top=3`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body });
      expect(res.status, path.basename(files[i]!)).toBe(200);
      expectSamePrediction((await res.json()) as Prediction, fromTraining!, 0);
      i++;
    }
    expect(i).toBe(16);
  });
});
