import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { isPolyheadError } from '@polyhead/data';

import { initBackend } from '../backend/index.js';
import { HAS_SHARED_PRETRAINED, SHARED_COPIES, SHARED_SKIP_REASON } from '../test-utils/shared-pretrained.js';
import { ensurePretrained, type CacheEvent } from './download.js';
import { loadBackbone } from './load.js';
import { PRETRAINED, pretrainedNames } from './registry.js';

/** One request the test server answered. */
interface Served {
  url: string;
  status: number;
  headers: IncomingHttpHeaders;
}

/**
 * A local stand-in for the official hosts: `/<entry name>/<file>` serves the offline copy's
 * file, with byte ranges. `breakOnce` paths send their full length but break off half-way the
 * first time; `alter` paths are served with one byte changed.
 */
class MirrorServer {
  server: Server;
  log: Served[] = [];
  breakOnce = new Set<string>();
  alter = new Set<string>();

  constructor() {
    this.server = createServer(async (req, res) => {
      const url = req.url ?? '/';
      const [, name = '', file = ''] = url.split('/');
      const dir = SHARED_COPIES[name];
      const bytes = dir && file ? await readFile(path.join(dir, file)).catch(() => null) : null;
      const record = (status: number) => this.log.push({ url, status, headers: req.headers });
      if (!bytes) {
        record(404);
        res.writeHead(404, 'Not Found').end();
        return;
      }
      const body = Buffer.from(bytes);
      if (this.alter.has(url)) body[body.length >> 1] ^= 0xff;
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (range) {
        const start = Number(range[1]);
        if (start >= body.length) {
          record(416);
          res.writeHead(416).end();
          return;
        }
        record(206);
        res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` }).end(body.subarray(start));
        return;
      }
      record(200);
      res.writeHead(200, { 'content-length': body.length });
      if (this.breakOnce.delete(url)) {
        res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
        return;
      }
      res.end(body);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** SHA-256 of a file (comparing digests keeps the assertion fast on megabyte files). */
async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/** Weight files of an offline copy, as its model.json lists them. */
async function weightFiles(name: string): Promise<string[]> {
  const json = JSON.parse(await readFile(path.join(SHARED_COPIES[name]!, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
  return json.weightsManifest.flatMap((g) => g.paths);
}

/** The largest weight file of an entry (the one a broken download is most likely to hit). */
async function largestFile(name: string): Promise<string> {
  const files = await weightFiles(name);
  const sizes = await Promise.all(files.map(async (f) => (await stat(path.join(SHARED_COPIES[name]!, f))).size));
  return files[sizes.indexOf(Math.max(...sizes))]!;
}

describe.skipIf(!HAS_SHARED_PRETRAINED)(`ensurePretrained${SHARED_SKIP_REASON}`, () => {
  const mirror = new MirrorServer();
  let base = '';
  let cacheDir = '';
  let events: CacheEvent['kind'][] = [];
  const onEvent = (e: CacheEvent) => void events.push(e.kind);

  beforeAll(async () => {
    base = await mirror.listen();
  });

  afterAll(async () => {
    await mirror.close();
  });

  beforeEach(async () => {
    cacheDir = await mkdtemp(path.join(tmpdir(), 'polyhead-cache-'));
    mirror.log = [];
    events = [];
  });

  afterEach(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  it.each(pretrainedNames())('should download and verify %s on first use and reuse it without a request when asked again', async (name) => {
    const entry = PRETRAINED[name]!;
    const files = await weightFiles(name);
    const first = await ensurePretrained(entry, { cacheDir, mirror: `${base}/${name}/`, onEvent });
    expect(first.hit).toBe(false);
    expect(first.dir).toBe(path.join(cacheDir, 'pretrained', name));
    expect(events).toEqual(['miss', 'stored']);
    expect(mirror.log.map((r) => [r.url, r.status])).toEqual(['model.json', ...files].map((f) => [`/${name}/${f}`, 200]));
    for (const f of ['model.json', ...files]) {
      expect(await sha256(path.join(first.dir, f))).toBe(await sha256(path.join(SHARED_COPIES[name]!, f)));
    }

    events = [];
    const second = await ensurePretrained(entry, { cacheDir, mirror: `${base}/${name}/`, onEvent });
    expect([second.hit, second.dir, events]).toEqual([true, first.dir, ['hit']]);
    expect(mirror.log).toHaveLength(1 + files.length);
  });

  it('should detect a corrupted cache entry and replace it with a verified download', async () => {
    const name = 'mobilenet-v1-0.25';
    const entry = PRETRAINED[name]!;
    const { dir } = await ensurePretrained(entry, { cacheDir, mirror: `${base}/${name}/` });
    const victim = await largestFile(name);
    const bytes = await readFile(path.join(dir, victim));
    bytes[100] ^= 0x01;
    await writeFile(path.join(dir, victim), bytes);
    mirror.log = [];

    const again = await ensurePretrained(entry, { cacheDir, mirror: `${base}/${name}/`, onEvent });
    expect(again.hit).toBe(false);
    expect(events).toEqual(['corrupt', 'miss', 'stored']);
    expect(mirror.log.some((r) => r.url === `/${name}/${victim}`)).toBe(true);
    expect(await sha256(path.join(dir, victim))).toBe(await sha256(path.join(SHARED_COPIES[name]!, victim)));
  });

  it('should fail naming the URL and resume with a range request when a download breaks off', async () => {
    const name = 'mobilenet-v1-0.25';
    const entry = PRETRAINED[name]!;
    const victim = await largestFile(name);
    const full = (await stat(path.join(SHARED_COPIES[name]!, victim))).size;
    mirror.breakOnce.add(`/${name}/${victim}`);

    const failure = await ensurePretrained(entry, { cacheDir, mirror: `${base}/${name}/` }).catch((e: unknown) => e);
    expect(isPolyheadError(failure) && failure.code).toBe('PRETRAINED_DOWNLOAD');
    expect((failure as Error).message).toContain(`${base}/${name}/${victim}`);
    expect((failure as Error).message).toMatch(/run again to resume/);
    // nothing unverified is in the cache; the bytes received wait in the partial folder
    expect(await readdir(path.join(cacheDir, 'pretrained'))).toEqual([`${name}.partial`]);
    const kept = (await stat(path.join(cacheDir, 'pretrained', `${name}.partial`, `${victim}.part`))).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(full);

    mirror.log = [];
    const resumed = await ensurePretrained(entry, { cacheDir, mirror: `${base}/${name}/`, onEvent });
    expect(resumed.hit).toBe(false);
    expect(events).toEqual(['miss', 'stored']);
    const retry = mirror.log.find((r) => r.url === `/${name}/${victim}`)!;
    expect([retry.status, retry.headers.range]).toEqual([206, `bytes=${kept}-`]);
    // files finished before the break are not fetched again
    expect(mirror.log.map((r) => r.url)[0]).toBe(`/${name}/${victim}`);
    expect(await sha256(path.join(resumed.dir, victim))).toBe(await sha256(path.join(SHARED_COPIES[name]!, victim)));
    expect(await readdir(path.join(cacheDir, 'pretrained'))).toEqual([name]);
  });

  it('should give a clear error naming the URL when the server answers 404', async () => {
    const failure = await ensurePretrained(PRETRAINED['mobilenet-v2-0.35']!, { cacheDir, mirror: `${base}/no-such-model/` }).catch((e: unknown) => e);
    expect(isPolyheadError(failure) && failure.code).toBe('PRETRAINED_DOWNLOAD');
    expect((failure as Error).message).toBe(`cannot download ${base}/no-such-model/model.json: the server answered 404 Not Found`);
    expect(await readdir(path.join(cacheDir, 'pretrained'))).not.toContain('mobilenet-v2-0.35');
  });

  it('should discard a download whose weights differ from the registry digest', async () => {
    const name = 'mobilenet-v2-0.35';
    mirror.alter.add(`/${name}/weights.bin`);
    try {
      const failure = await ensurePretrained(PRETRAINED[name]!, { cacheDir, mirror: `${base}/${name}/` }).catch((e: unknown) => e);
      expect(isPolyheadError(failure) && failure.code).toBe('PRETRAINED_CHECKSUM');
      expect((failure as Error).message).toContain(`${base}/${name}/model.json`);
      expect(await readdir(path.join(cacheDir, 'pretrained'))).toEqual([]);
    } finally {
      mirror.alter.clear();
    }
  });

  it('should download from $POLYHEAD_PRETRAINED_MIRROR into $POLYHEAD_CACHE when no option says otherwise', async () => {
    const saved = { cache: process.env.POLYHEAD_CACHE, mirror: process.env.POLYHEAD_PRETRAINED_MIRROR };
    process.env.POLYHEAD_CACHE = cacheDir;
    process.env.POLYHEAD_PRETRAINED_MIRROR = base;
    try {
      await initBackend('wasm');
      const backbone = await loadBackbone('mobilenet-v2-0.35', { inputSize: 96, onEvent });
      expect(events).toEqual(['miss', 'stored']);
      expect(mirror.log.map((r) => r.url)).toEqual(['/mobilenet-v2-0.35/model.json', '/mobilenet-v2-0.35/weights.bin']);
      expect(backbone.dir).toBe(path.join(cacheDir, 'pretrained', 'mobilenet-v2-0.35'));
      expect(backbone.model.getLayer('out_relu').outputShape).toEqual([null, 3, 3, 1280]);
      backbone.model.dispose();
    } finally {
      for (const [key, value] of [['POLYHEAD_CACHE', saved.cache], ['POLYHEAD_PRETRAINED_MIRROR', saved.mirror]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
