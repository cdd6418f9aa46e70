import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** `packages/data`, found from this file so tests run from any working directory. */
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Synthetic inputs copied from the field cases, so tests never need `../shared`. */
export const fixturesDir = path.join(packageRoot, 'test-fixtures');

/** The repository root (`packages/data/../..`). */
export const repoRoot = path.resolve(packageRoot, '../..');

/** The shared field cases beside the repository, when this checkout has them. */
export const sharedCasesDir = path.resolve(repoRoot, '../shared/cases');

/** True when {@link sharedCasesDir} exists. */
export const hasSharedCases = existsSync(path.join(sharedCasesDir, 'README.md'));

/** A fresh temporary folder and a function that removes it. */
export async function makeTempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'polyhead-data-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
