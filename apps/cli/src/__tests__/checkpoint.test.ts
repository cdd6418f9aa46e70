/**
 * Runs that are killed, interrupted and resumed end where an uninterrupted run ends.
 */
import { spawn } from 'node:child_process';
import { existsSync, watch } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { loadTrainCheckpoint } from '@polyhead/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLI_ENTRY, FIXTURES, runCli, tempDir, TINY } from './cli-harness.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir('checkpoint');
  process.env.XDG_CACHE_HOME = join(tmp.dir, 'cache');
});
afterAll(() => tmp.remove());

const CSV = join(FIXTURES, 'F04', 'train.csv');
// 19 training images in batches of 4: 5 batches per epoch, a checkpoint after every one.
const SETTINGS = ['--data', CSV, '--epochs', '6', '--batch', '4', '--seed', '3', '--checkpoint-minutes', '0', ...TINY];

/** metrics.jsonl rows without the figures that measure time or memory. */
async function figures(run: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(join(run, 'metrics.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const { seconds: _s, img_per_sec: _i, rss_mb: _r, num_tensors: _n, cache_mb: _c, ...rest } = JSON.parse(line) as Record<string, unknown>;
      return rest;
    });
}

/** Seeded so a failure can be replayed. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/**
 * Starts `polyhead train …args` and SIGKILLs it when the `nthWrite`-th checkpoint temporary file
 * appears (in the middle of writing it), `delayMs` later (anywhere in the batches that follow).
 * Writes are counted by distinct file name: the watcher reports several events per file.
 * Resolves once the process is gone, with how it ended.
 */
function trainAndKill(args: string[], run: string, trigger: { nthWrite: number; delayMs: number }) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI_ENTRY, 'train', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const writes = new Set<string>();
    let watcher: ReturnType<typeof watch> | undefined;
    const poll = setInterval(() => {
      if (watcher || !existsSync(run)) return;
      watcher = watch(run, (_event, name) => {
        if (!name?.startsWith('checkpoint.bin.tmp-') || writes.has(name)) return;
        writes.add(name);
        if (writes.size !== trigger.nthWrite) return;
        if (trigger.delayMs === 0) child.kill('SIGKILL');
        else setTimeout(() => child.kill('SIGKILL'), trigger.delayMs);
      });
    }, 2);
    child.on('close', (code, signal) => {
      clearInterval(poll);
      watcher?.close();
      resolve({ code, signal, stderr });
    });
  });
}

describe('polyhead train checkpoints', () => {
  it('should always leave a loadable checkpoint when killed at random moments, and resume to the weights of an uninterrupted run', async () => {
    const straight = join(tmp.dir, 'straight');
    const whole = await runCli(['train', ...SETTINGS, '--out', straight]);
    expect(whole.stderr).not.toMatch(/^error /m);
    expect(whole.code).toBe(0);

    const run = join(tmp.dir, 'killed');
    const random = lcg(20261203);
    let position = 0;
    let strays = 0;
    let kills = 0;
    // A batch and its checkpoint take tens of milliseconds here, so each round moves a few batches
    // on: half the kills land mid-write, half somewhere in the batches after a write.
    for (let round = 0; round < 10; round++) {
      const args = existsSync(join(run, 'config.json')) ? ['--resume', run] : [...SETTINGS, '--out', run];
      const nthWrite = 1 + Math.floor(random() * 4);
      const trigger = { nthWrite, delayMs: round % 2 === 0 ? 0 : Math.floor(random() * 60) };
      const ended = await trainAndKill(args, run, trigger);
      if (ended.code === 0) break;
      expect(ended.signal).toBe('SIGKILL');
      kills++;
      const files = await readdir(run);
      strays += files.filter((f) => f.includes('.tmp-')).length;
      expect(files).not.toContain('polyhead.json');
      if (!files.includes('checkpoint.bin')) continue;
      const cp = await loadTrainCheckpoint(join(run, 'checkpoint.bin'));
      // Checkpoints only move forward: 5 batches per epoch.
      const at = cp.epochDone ? cp.epoch * 5 : (cp.epoch - 1) * 5 + cp.batch;
      expect(at).toBeGreaterThanOrEqual(position);
      expect(cp.step).toBe(at);
      position = at;
    }
    expect(kills).toBeGreaterThanOrEqual(6);
    // Some kills landed while a checkpoint was being written.
    expect(strays).toBeGreaterThan(0);

    const last = await runCli(['train', '--resume', run]);
    expect(last.stderr).not.toMatch(/^error /m);
    expect(last.code).toBe(0);
    expect(await readFile(join(run, 'weights.bin'))).toEqual(await readFile(join(straight, 'weights.bin')));
    expect(await readFile(join(run, 'last', 'weights.bin'))).toEqual(await readFile(join(straight, 'last', 'weights.bin')));
    expect(await figures(run)).toEqual(await figures(straight));
    expect((await readdir(run)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  }, 120_000);

  it('should checkpoint and exit 130 on SIGINT, then resume to the same figures', async () => {
    const run = join(tmp.dir, 'interrupted');
    const child = spawn(process.execPath, [CLI_ENTRY, 'train', ...SETTINGS, '--out', run], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const sent = setInterval(() => {
      if (existsSync(join(run, 'checkpoint.bin'))) {
        clearInterval(sent);
        child.kill('SIGINT');
      }
    }, 5);
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    clearInterval(sent);
    expect(code).toBe(130);
    expect(stderr).toMatch(/^warn SIGINT: stopping after this batch/m);
    expect(stderr).toContain(`continue with: polyhead train --resume ${run} [TRAIN_INTERRUPTED]`);
    const cp = await loadTrainCheckpoint(join(run, 'checkpoint.bin'));
    expect(cp.finished).toBe(false);

    const again = await runCli(['train', '--resume', run]);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/^info resuming /m);
    expect(await figures(run)).toEqual(await figures(join(tmp.dir, 'straight')));
    const log = await readFile(join(run, 'train.log'), 'utf8');
    expect(log).toMatch(/warn SIGINT: stopping after this batch/);
    expect(log).toMatch(/info resuming /);
  }, 60_000);

  // Two SIGINTs sent a millisecond apart can reach the process as one (the kernel does not queue a
  // signal that is already pending), so the second signal here is SIGTERM: the same handler.
  it('should quit at once, by the signal, when a second signal follows the first', async () => {
    const run = join(tmp.dir, 'twice');
    const child = spawn(process.execPath, [CLI_ENTRY, 'train', ...SETTINGS, '--epochs', '40', '--out', run], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const sent = setInterval(() => {
      if (!existsSync(join(run, 'checkpoint.bin'))) return;
      clearInterval(sent);
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGTERM'), 1);
    }, 5);
    const ended = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, sig) => resolve([c, sig])));
    clearInterval(sent);
    expect(ended).toEqual([null, 'SIGTERM']);
    expect(stderr).not.toContain('TRAIN_INTERRUPTED');
    await loadTrainCheckpoint(join(run, 'checkpoint.bin'));
  }, 60_000);

  it('should refuse to overwrite a finished run unless --force', async () => {
    const straight = join(tmp.dir, 'straight');
    const refused = await runCli(['train', ...SETTINGS, '--out', straight]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${straight} holds a finished run; pass --force to replace it`);
    const resumed = await runCli(['train', '--resume', straight]);
    expect(resumed.code).toBe(2);
    expect(resumed.stderr).toContain('[RUN_FINISHED]');
  });
});
