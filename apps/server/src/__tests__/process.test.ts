import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { ModelMeta, Prediction } from '@polyhead/model';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import type { ErrorBody } from '../errors.js';
import type { ModelInfo } from '../model-info.js';
import { fixtureBytes, useTestBackend } from '../test-utils/fixtures.js';
import { peakRssGrowth, supportsPeakRss } from '../test-utils/rss.js';

const SERVER_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LIMIT = 102_400;

let root: string;
let modelDir: string;
let child: ChildProcess;
let url: string;
const records: Record<string, unknown>[] = [];
let exitCode: Promise<number | null>;

/** Resolves with the first log record that matches, waiting for it if needed. */
function waitForLog(
  match: (r: Record<string, unknown>) => boolean,
  ms = 20_000,
): Promise<Record<string, unknown>> {
  const found = records.find(match);
  if (found) return Promise.resolve(found);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no such log line within ${ms} ms`)), ms);
    const onLine = (record: Record<string, unknown>) => {
      if (!match(record)) return;
      clearTimeout(timer);
      lineListeners.delete(onLine);
      resolve(record);
    };
    lineListeners.add(onLine);
  });
}
const lineListeners = new Set<(r: Record<string, unknown>) => void>();

beforeAll(async () => {
  const backend = await useTestBackend();
  root = await mkdtemp(path.join(tmpdir(), 'polyhead-process-'));
  modelDir = path.join(root, 'model');
  await cp(inject('modelDir'), modelDir, { recursive: true });
  // The production entry point, run from source, configured by environment only.
  child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: SERVER_ROOT,
    env: {
      ...process.env,
      POLYHEAD_MODEL: modelDir,
      POLYHEAD_PORT: '0',
      POLYHEAD_BACKEND: backend,
      POLYHEAD_MAX_BODY_MB: String(LIMIT / 2 ** 20),
      POLYHEAD_BATCH_WINDOW_MS: '5',
      POLYHEAD_LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  exitCode = once(child, 'exit').then(([code]) => code as number | null);
  let buffered = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        record = { msg: line };
      }
      records.push(record);
      for (const listener of lineListeners) listener(record);
    }
  });
  url = String((await waitForLog((r) => r.msg === 'ready')).url);
});

afterAll(async () => {
  if (child.exitCode === null) child.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

async function predict(name: string): Promise<Response> {
  return fetch(`${url}/v1/predict`, {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: await fixtureBytes(name),
  });
}

describe('polyhead-server process', () => {
  it('should start from environment variables and log JSON lines', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect((await predict('f15/a_red_square.png')).status).toBe(200);
    const line = await waitForLog((r) => r.msg === 'request' && r.path === '/v1/predict');
    expect(line).toMatchObject({ level: 'info', method: 'POST', status: 200, batchSize: 1 });
  });

  it.skipIf(!supportsPeakRss())(
    'should refuse a pixel bomb within 2 s from its header, growing RSS by under 100 MB',
    async () => {
      const bytes = await fixtureBytes('limits/bomb_20000x20000.png');
      const { result, growthMb } = await peakRssGrowth(child.pid!, async () => {
        const started = Date.now();
        const res = await fetch(`${url}/v1/predict`, {
          method: 'POST',
          headers: { 'content-type': 'image/png' },
          body: bytes,
        });
        return { res, ms: Date.now() - started };
      });
      expect(result.res.status).toBe(413);
      expect(((await result.res.json()) as ErrorBody).error).toMatchObject({
        code: 'image_too_large',
        details: { width: 20000, height: 20000 },
      });
      expect(result.ms).toBeLessThan(2000);
      expect(growthMb).toBeLessThan(100);
      expect((await predict('limits/normal_64x64.png')).status).toBe(200);
    },
  );

  it.skipIf(!supportsPeakRss())(
    'should answer a 50 MiB chunked body with 413 before reading it, growing RSS by under 20 MB',
    async () => {
      const { result, growthMb } = await peakRssGrowth(child.pid!, () => streamZeros(50 * 2 ** 20));
      expect(result.status).toBe(413);
      expect(result.sent).toBeLessThan(50 * 2 ** 20);
      expect(growthMb).toBeLessThan(20);
      expect((await predict('f15/a_red_square.png')).status).toBe(200);
    },
  );

  it('should reload the model directory on SIGHUP', async () => {
    const metaFile = path.join(modelDir, 'polyhead.json');
    const meta = JSON.parse(await readFile(metaFile, 'utf8')) as ModelMeta;
    meta.network.heads[0]!.labels = meta.network.heads[0]!.labels.map((l) => `hup-${l}`);
    await writeFile(metaFile, JSON.stringify(meta));
    const loads = records.filter((r) => r.msg === 'model loaded').length;
    child.kill('SIGHUP');
    await waitForLog(
      (r) =>
        r.msg === 'model loaded' && records.filter((x) => x.msg === 'model loaded').length > loads,
    );
    const info = (await (await fetch(`${url}/v1/model`)).json()) as ModelInfo;
    expect(info.heads[0]!.labels.every((l) => l.startsWith('hup-'))).toBe(true);
    const { heads } = (await (await predict('f15/b_blue_circle.png')).json()) as Prediction;
    expect(heads[info.heads[0]!.name]!.label).toMatch(/^hup-/);
  });

  it('should finish the request in flight, refuse new connections and exit 0 on SIGTERM', async () => {
    // A slow upload keeps a request in flight while the signal arrives.
    const slow = slowUpload(await fixtureBytes('f15/c_green_triangle.png'));
    await slow.started;
    child.kill('SIGTERM');
    await waitForLog((r) => r.msg === 'shutting down: finishing requests in flight');
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    slow.finish();
    const answer = await slow.answer;
    expect(answer.status).toBe(200);
    expect(Object.keys((JSON.parse(answer.body) as Prediction).heads)).toHaveLength(2);
    expect(await exitCode).toBe(0);
    expect(records.some((r) => r.msg === 'server closed')).toBe(true);
  });
});

/** Sends half of an image, waits for `finish()`, then sends the rest. */
function slowUpload(bytes: Uint8Array) {
  let finish!: () => void;
  const proceed = new Promise<void>((resolve) => (finish = resolve));
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(`${url}/v1/predict`, {
      method: 'POST',
      headers: { 'content-type': 'image/png', 'content-length': String(bytes.length) },
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.write(bytes.subarray(0, 100), () => setTimeout(markStarted, 100));
    void proceed.then(() => req.end(bytes.subarray(100)));
  });
  return { started, finish, answer };
}

/** Streams zeros without a Content-Length until the answer arrives or `total` bytes are sent. */
function streamZeros(total: number): Promise<{ status: number; sent: number }> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const chunk = new Uint8Array(64 * 1024);
    const req = httpRequest(`${url}/v1/predict`, {
      method: 'POST',
      headers: { 'content-type': 'image/png', 'transfer-encoding': 'chunked' },
    });
    req.on('response', (res) => {
      answered = true;
      res.resume();
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, sent });
      });
    });
    req.on('error', (error) => (answered ? undefined : reject(error)));
    const pump = () => {
      while (!answered && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered) req.end();
    };
    req.flushHeaders();
    setImmediate(pump);
  });
}
