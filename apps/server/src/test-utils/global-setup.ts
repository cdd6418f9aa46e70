import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { loadDataset } from '@polyhead/data';
import { saveModelDir, trainOnDataset } from '@polyhead/model';
import type { TestProject } from 'vitest/node';

import { fixture, useTestBackend } from './fixtures.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A tiny model trained once for the whole run. */
    modelDir: string;
  }
}

/**
 * Trains one tiny real model on the synthetic colour/shape images before any test
 * file runs, so every file serves the same model without training its own.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await useTestBackend();
  const dataset = await loadDataset(fixture('f04/train.csv'));
  const { net, meta } = await trainOnDataset({
    dataset,
    inputSize: 32,
    backbone: { width: 8, depth: 2 },
    epochs: 2,
    seed: 7,
  });
  const root = await mkdtemp(path.join(tmpdir(), 'polyhead-server-test-'));
  const modelDir = path.join(root, 'model');
  try {
    await saveModelDir(modelDir, net, meta);
  } finally {
    net.model.dispose();
  }
  project.provide('modelDir', modelDir);
  return () => rm(root, { recursive: true, force: true });
}
