import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLI_ENTRY, FIXTURES, TINY, runCli, tempDir } from './cli-harness.js';

const F04 = join(FIXTURES, 'F04');
const IMAGES = ['train/img000.png', 'train/img010.png', 'train/img020.png'].map((p) => join(F04, p));

let tmp: Awaited<ReturnType<typeof tempDir>>;
let model: string;

beforeAll(async () => {
  tmp = await tempDir('serve');
  model = join(tmp.dir, 'model');
  const train = await runCli(['train', '--data', join(F04, 'train.csv'), '--out', model, '--epochs', '1', ...TINY]);
  expect(train.code, train.stderr).toBe(0);
});

afterAll(async () => {
  await tmp?.remove();
});

/** Starts `polyhead serve …args` with `env` added, and resolves once it logs `ready`. */
async function serve(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [CLI_ENTRY, 'serve', ...args], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      for (const line of stderr.split('\n')) {
        if (!line.startsWith('{')) continue;
        const record = JSON.parse(line) as { msg?: string; url?: string };
        if (record.msg === 'ready') resolve(record.url!);
      }
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  return { child, url, exited };
}

async function form(count: number): Promise<FormData> {
  const body = new FormData();
  for (const file of IMAGES.slice(0, count)) {
    body.append('image', new Blob([await readFile(file)], { type: 'image/png' }), file);
  }
  return body;
}

describe('polyhead serve', () => {
  it('should take flags over POLYHEAD_* variables and variables over defaults', async () => {
    let child: ChildProcess | undefined;
    try {
      // The variables alone would listen nowhere valid and allow one image per request.
      const started = await serve(['--model', model, '--port', '0', '--host', '127.0.0.1', '--max-images', '2'], {
        POLYHEAD_HOST: '256.0.0.1',
        POLYHEAD_MAX_IMAGES: '1',
        POLYHEAD_API_KEY: 'from-env',
        POLYHEAD_LOG_FORMAT: 'json',
      });
      child = started.child;
      expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const predict = (count: number, key?: string) =>
        form(count).then((body) =>
          fetch(`${started.url}/v1/predict/batch`, {
            method: 'POST',
            headers: key ? { authorization: `Bearer ${key}` } : {},
            body,
          }),
        );

      expect((await predict(2)).status).toBe(401);
      const two = await predict(2, 'from-env');
      expect(two.status).toBe(200);
      expect(((await two.json()) as { results: unknown[] }).results).toHaveLength(2);
      const three = await predict(3, 'from-env');
      expect(three.status).toBe(413);
      expect(await three.json()).toMatchObject({ error: { code: 'too_many_images', details: { limit: 2 } } });

      child.kill('SIGTERM');
      expect(await started.exited).toBe(0);
    } finally {
      if (child?.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('should exit 2 naming the variable when a POLYHEAD_* value is bad', async () => {
    const child = spawn(process.execPath, [CLI_ENTRY, 'serve', '--model', model], {
      env: { ...process.env, NO_COLOR: '1', POLYHEAD_MAX_BATCH: 'lots' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(2);
    expect(stderr).toContain('POLYHEAD_MAX_BATCH is "lots"; expected an integer ≥ 0');
  });
});
