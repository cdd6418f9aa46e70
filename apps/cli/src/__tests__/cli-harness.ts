import { spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI entry point that the e2e tests spawn. */
export const CLI_ENTRY = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

/** The synthetic field-case inputs copied from the shared case folders. */
export const FIXTURES = fileURLToPath(new URL('../../test-fixtures/', import.meta.url));

/** Network settings that keep every test run tiny and on the wasm backend. */
export const TINY = ['--size', '32', '--width', '8', '--depth', '2', '--backend', 'wasm'];

/** What one CLI run left behind. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `polyhead …args` in a child process and collects its output; `env` adds to or overrides the variables. */
export function runCli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_ENTRY, ...args], {
      cwd: options.cwd,
      env: { ...process.env, NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Parses each non-empty stdout line as JSON. */
export function jsonLines(stdout: string): unknown[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown);
}

/** Reads a JSON file. */
export async function readJson<T = unknown>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

/** A fresh temporary folder, and a function that removes it. */
export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `polyhead-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Copies one case folder (`F04`) into `dir` so a test may add or break files. */
export async function copyCase(name: string, dir: string): Promise<string> {
  const target = join(dir, name);
  await cp(join(FIXTURES, name), target, { recursive: true });
  return target;
}

/** Rows of a manifest as `{ image, color, type }`; blank cells stay ''. */
export async function readManifest(csv: string): Promise<Record<string, string>[]> {
  const [header, ...lines] = (await readFile(csv, 'utf8')).trimEnd().split(/\r?\n/);
  const names = header!.split(',');
  return lines.map((line) => {
    const cells = line.split(',');
    return Object.fromEntries(names.map((name, i) => [name, cells[i] ?? '']));
  });
}

/** The `polyhead.json` fields the tests read. */
export interface SavedMeta {
  network: { heads: { name: string; labels: string[]; weight: number; output: string }[] };
  metrics: {
    val?: {
      heads: Record<string, { accuracy: number; count: number; confusion: number[][] }>;
      exactMatch: number;
    };
  };
  training: {
    samples: { train: number; val: number; skipped: number };
    classWeights: Record<string, Record<string, number>>;
    history: SavedEpoch[];
  };
}

/** One epoch of `training.history` in `polyhead.json`. */
export interface SavedEpoch {
  epoch: number;
  loss: number;
  heads: Record<string, { loss: number; accuracy: number; weight: number; count: number }>;
  val?: {
    loss: number;
    exactMatch: number;
    heads: Record<string, { loss: number; accuracy: number; weight: number; count: number }>;
  };
}
