import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

import { PolyheadError } from '@polyhead/data';

import type { FileDigest, PretrainedEntry } from './registry.js';

/** Progress of one file of a download. */
export interface DownloadProgress {
  /** File name, as listed in `model.json`. */
  file: string;
  /** 1-based position of the file and the number of files (known once `model.json` is read). */
  index: number;
  files: number;
  /** Bytes on disk so far, resumed ones included. */
  received: number;
  /** Expected bytes, when the server said. */
  total?: number;
  /** Bytes that were already on disk from an interrupted download. */
  resumedFrom: number;
}

/** What happened to a cache entry; reported through {@link CacheOptions.onEvent}. */
export type CacheEvent =
  | { kind: 'hit'; dir: string }
  | { kind: 'miss'; dir: string; url: string }
  | { kind: 'corrupt'; dir: string; reason: string }
  | { kind: 'stored'; dir: string; bytes: number };

/** Options of {@link ensurePretrained} and {@link ensureRemoteModel}. */
export interface CacheOptions {
  /** Cache root. Default {@link polyheadCacheDir}. */
  cacheDir?: string;
  /**
   * Download a registry entry from this folder URL (holding its `model.json` and weight files)
   * instead of the entry's official address: a mirror, or a test server. Default: the entry's
   * folder under `$POLYHEAD_PRETRAINED_MIRROR` (`<mirror>/<entry name>/model.json`) when that is
   * set, else the official address.
   */
  mirror?: string;
  onProgress?(progress: DownloadProgress): void;
  onEvent?(event: CacheEvent): void;
  signal?: AbortSignal;
}

/** Where a model is cached, and whether it was there already. */
export interface CachedModel {
  /** Folder holding `model.json` and its weight files. */
  dir: string;
  modelJson: string;
  /** True when it came from the cache without a download. */
  hit: boolean;
}

/** Record written beside a completed download; its presence marks the entry complete. */
interface DownloadRecord {
  url: string;
  files: Record<string, FileDigest>;
  downloadedAt: string;
}

const RECORD = 'polyhead-download.json';

/**
 * The cache root shared by everything polyhead downloads: `$POLYHEAD_CACHE`, else
 * `~/.cache/polyhead`.
 */
export function polyheadCacheDir(): string {
  return process.env.POLYHEAD_CACHE || path.join(homedir(), '.cache', 'polyhead');
}

/**
 * Returns the cached copy of a registry backbone, downloading it on first use.
 *
 * A cached copy is checked against the registry's sizes and SHA-256 digests on every call; a
 * corrupt one is removed and downloaded again. Downloads go to a `.partial` folder beside the
 * entry (an interrupted one resumes from the bytes already there) and are moved into place only
 * once verified, so the cache never holds a half-written or unverified model.
 *
 * @example
 * const { modelJson } = await ensurePretrained(PRETRAINED['mobilenet-v1-0.25']!);
 */
export async function ensurePretrained(entry: PretrainedEntry, options: CacheOptions = {}): Promise<CachedModel> {
  const dir = path.join(options.cacheDir ?? polyheadCacheDir(), 'pretrained', entry.name);
  const mirror = pretrainedMirror(entry, options);
  const url = mirror ? new URL('model.json', withSlash(mirror)).href : entry.url;
  return ensureCached(dir, url, (found) => checkEntryDigests(entry, found), options);
}

/**
 * Returns the cached copy of any layers model given by the URL of its `model.json`, downloading
 * it on first use. Without registry digests, the digests recorded at download time are what a
 * later load is checked against.
 */
export async function ensureRemoteModel(url: string, options: CacheOptions = {}): Promise<CachedModel> {
  const key = createHash('sha256').update(url).digest('hex').slice(0, 16);
  const dir = path.join(options.cacheDir ?? polyheadCacheDir(), 'pretrained', `url-${key}`);
  return ensureCached(dir, url, () => undefined, options);
}

/** The folder URL a registry entry is downloaded from when not its official one. */
function pretrainedMirror(entry: PretrainedEntry, options: CacheOptions): string | undefined {
  if (options.mirror) return options.mirror;
  const base = process.env.POLYHEAD_PRETRAINED_MIRROR;
  return base ? new URL(`${entry.name}/`, withSlash(base)).href : undefined;
}

type Check = (found: { modelJson: FileDigest; weights: FileDigest }) => string | undefined;

async function ensureCached(dir: string, url: string, check: Check, options: CacheOptions): Promise<CachedModel> {
  const modelJson = path.join(dir, 'model.json');
  if (await exists(path.join(dir, RECORD))) {
    const problem = await verifyDir(dir, check);
    if (!problem) {
      options.onEvent?.({ kind: 'hit', dir });
      return { dir, modelJson, hit: true };
    }
    options.onEvent?.({ kind: 'corrupt', dir, reason: problem });
    await rm(dir, { recursive: true, force: true });
  } else if (await exists(dir)) {
    // a folder without the record is left over from an older layout or a crash mid-move
    await rm(dir, { recursive: true, force: true });
  }
  options.onEvent?.({ kind: 'miss', dir, url });
  const partial = `${dir}.partial`;
  await mkdir(partial, { recursive: true });
  const files = await download(url, partial, options);
  const problem = await verifyDir(partial, check, files);
  if (problem) {
    await rm(partial, { recursive: true, force: true });
    throw new PolyheadError('PRETRAINED_CHECKSUM', `the model downloaded from ${url} does not match its recorded digest (${problem}); the download was discarded`, {
      kind: 'runtime',
      details: { url },
    });
  }
  const record: DownloadRecord = { url, files, downloadedAt: new Date().toISOString() };
  await writeFile(path.join(partial, RECORD), `${JSON.stringify(record, null, 2)}\n`);
  await mkdir(path.dirname(dir), { recursive: true });
  await rename(partial, dir);
  options.onEvent?.({ kind: 'stored', dir, bytes: Object.values(files).reduce((a, f) => a + f.size, 0) });
  return { dir, modelJson, hit: false };
}

/** Downloads `model.json` and every weight file it lists into `dir`; returns each file's digest. */
async function download(url: string, dir: string, options: CacheOptions): Promise<Record<string, FileDigest>> {
  await fetchFile(url, path.join(dir, 'model.json'), options, { file: 'model.json', index: 1, files: 1 });
  const paths = manifestPaths(await readJsonFile(path.join(dir, 'model.json'), url), url);
  for (const [i, p] of paths.entries()) {
    await fetchFile(new URL(p, url).href, path.join(dir, p), options, { file: p, index: i + 2, files: paths.length + 1 });
  }
  const digests: Record<string, FileDigest> = {};
  for (const name of ['model.json', ...paths]) digests[name] = digestOf(await readFile(path.join(dir, name)));
  return digests;
}

/**
 * Fetches one file to `target`, resuming from `target.part` when an earlier try left one: the
 * request asks for the remaining range, and a server that ignores ranges sends it all again.
 */
async function fetchFile(url: string, target: string, options: CacheOptions, where: { file: string; index: number; files: number }): Promise<void> {
  if (await exists(target)) return;
  const part = `${target}.part`;
  const have = (await stat(part).catch(() => null))?.size ?? 0;
  let response: Response;
  try {
    response = await fetch(url, { headers: have > 0 ? { range: `bytes=${have}-` } : {}, signal: options.signal });
  } catch (cause) {
    throw new PolyheadError('PRETRAINED_DOWNLOAD', `cannot download ${url}: ${(cause as Error).message}; run again to resume, or pass a local model.json`, {
      kind: 'runtime',
      cause,
      details: { url },
    });
  }
  if (response.status === 416 && have > 0) {
    // the range starts at or past the end: the part file is complete or longer than the file
    await response.body?.cancel();
    await rm(part, { force: true });
    return fetchFile(url, target, options, where);
  }
  if (response.status !== 200 && response.status !== 206) {
    await response.body?.cancel();
    throw new PolyheadError('PRETRAINED_DOWNLOAD', `cannot download ${url}: the server answered ${response.status} ${response.statusText}`.trim(), {
      kind: 'runtime',
      details: { url, status: response.status },
    });
  }
  const resumed = response.status === 206 ? have : 0;
  const length = Number(response.headers.get('content-length') ?? Number.NaN);
  const total = Number.isFinite(length) ? resumed + length : undefined;
  const handle = await open(part, resumed > 0 ? 'a' : 'w');
  let received = resumed;
  try {
    options.onProgress?.({ ...where, received, total, resumedFrom: resumed });
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      await handle.write(chunk);
      received += chunk.byteLength;
      options.onProgress?.({ ...where, received, total, resumedFrom: resumed });
    }
  } catch (cause) {
    throw new PolyheadError('PRETRAINED_DOWNLOAD', `download of ${url} broke off after ${received} bytes: ${(cause as Error).message}; run again to resume`, {
      kind: 'runtime',
      cause,
      details: { url, received },
    });
  } finally {
    await handle.close();
  }
  if (total !== undefined && received !== total) {
    throw new PolyheadError('PRETRAINED_DOWNLOAD', `download of ${url} ended after ${received} of ${total} bytes; run again to resume`, {
      kind: 'runtime',
      details: { url, received, total },
    });
  }
  await rename(part, target);
}

/**
 * Checks a model folder: every file the record (or `expected`) lists has its size and digest,
 * and `check` accepts the digests of `model.json` and of the weights in manifest order. Returns
 * what is wrong, or undefined.
 */
async function verifyDir(dir: string, check: Check, expected?: Record<string, FileDigest>): Promise<string | undefined> {
  let files = expected;
  if (!files) {
    const record = (await readJsonFile(path.join(dir, RECORD), dir).catch(() => null)) as DownloadRecord | null;
    if (!record || typeof record.files !== 'object') return `${RECORD} is unreadable`;
    files = record.files;
  }
  const modelBytes = await readFile(path.join(dir, 'model.json')).catch(() => null);
  if (!modelBytes) return 'model.json is missing';
  let paths: string[];
  try {
    paths = manifestPaths(JSON.parse(modelBytes.toString('utf8')), dir);
  } catch {
    return 'model.json is not a layers model with a weights manifest';
  }
  const weights = createHash('sha256');
  let weightBytes = 0;
  for (const name of ['model.json', ...paths]) {
    const bytes = name === 'model.json' ? modelBytes : await readFile(path.join(dir, name)).catch(() => null);
    if (!bytes) return `${name} is missing`;
    const want = files[name];
    const got = digestOf(bytes);
    if (!want || want.size !== got.size || want.sha256 !== got.sha256) {
      return `${name} has ${got.size} bytes, sha256 ${got.sha256.slice(0, 12)}…, expected ${want ? `${want.size} bytes, ${want.sha256.slice(0, 12)}…` : 'no such file'}`;
    }
    if (name !== 'model.json') {
      weights.update(bytes);
      weightBytes += bytes.byteLength;
    }
  }
  return check({ modelJson: digestOf(modelBytes), weights: { size: weightBytes, sha256: weights.digest('hex') } });
}

function checkEntryDigests(entry: PretrainedEntry, found: { modelJson: FileDigest; weights: FileDigest }): string | undefined {
  const differs = (a: FileDigest, b: FileDigest) => a.size !== b.size || a.sha256 !== b.sha256;
  if (entry.modelJson && differs(entry.modelJson, found.modelJson)) {
    return `model.json has ${found.modelJson.size} bytes, sha256 ${found.modelJson.sha256}; the registry expects ${entry.modelJson.size} bytes, ${entry.modelJson.sha256}`;
  }
  if (differs(entry.weights, found.weights)) {
    return `the weights have ${found.weights.size} bytes, sha256 ${found.weights.sha256}; the registry expects ${entry.weights.size} bytes, ${entry.weights.sha256}`;
  }
  return undefined;
}

/** Weight file names of a layers `model.json`, refused when one would leave the model's folder. */
export function manifestPaths(json: unknown, where: string): string[] {
  const manifest = (json as { weightsManifest?: { paths?: unknown }[] } | null)?.weightsManifest;
  if (!Array.isArray(manifest)) {
    throw new PolyheadError('PRETRAINED_INVALID', `${where}: model.json has no weightsManifest; expected a TensorFlow.js layers model`, { kind: 'usage' });
  }
  const paths = manifest.flatMap((group) => (Array.isArray(group.paths) ? group.paths : []));
  for (const p of paths) {
    if (typeof p !== 'string' || p.length === 0 || p.includes('..') || p.startsWith('/') || p.includes('\\') || /^[a-z]+:/i.test(p)) {
      throw new PolyheadError('PRETRAINED_INVALID', `${where}: weight path ${JSON.stringify(p)} in model.json is not a plain relative file name`, { kind: 'usage' });
    }
  }
  return paths as string[];
}

function digestOf(bytes: Uint8Array): FileDigest {
  return { size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
}

async function readJsonFile(file: string, where: string): Promise<unknown> {
  const text = await readFile(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new PolyheadError('PRETRAINED_INVALID', `${where}: ${path.basename(file)} is not valid JSON: ${(cause as Error).message}`, { kind: 'usage', cause });
  }
}

async function exists(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null)) !== null;
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
