import { appendFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

import { PolyheadError } from '@polyhead/data';
import type { EpochLog } from '@polyhead/model';

import type { Output } from './output.js';

/**
 * What a training run keeps in its folder (`--out`). The final model sits at the top, so the
 * folder is itself a model directory for `predict`, `evaluate` and `serve`.
 */
export const RUN_FILES = {
  /** Every setting of the run, resolved. */
  config: 'config.json',
  /** One JSON line per epoch with every figure. */
  metrics: 'metrics.jsonl',
  /** The lines the run printed. */
  log: 'train.log',
  /** The latest training checkpoint, replaced atomically. */
  checkpoint: 'checkpoint.bin',
  /** The last epoch's model, beside the best one at the top. */
  last: 'last',
  /** Images left out with --on-bad-image skip, one per line. */
  skipped: 'skipped-images.txt',
  /** Written last: its presence marks a finished run. */
  model: ['weights.bin', 'model.json', 'polyhead.json'],
} as const;

/** How a folder given as `--out` or `--resume` looks. */
export type RunFolderState = 'missing' | 'empty' | 'finished' | 'unfinished' | 'other';

/** Tells a finished run (model written), an unfinished one (config written), an empty or foreign folder apart. */
export async function runFolderState(dir: string): Promise<RunFolderState> {
  const entries = await readdir(dir).catch(() => null);
  if (entries === null) return 'missing';
  if (entries.length === 0) return 'empty';
  if (entries.includes('polyhead.json')) return 'finished';
  if (entries.includes(RUN_FILES.config)) return 'unfinished';
  return 'other';
}

/**
 * Checks that `dir` may take a new run, writing nothing: a finished run's folder is never
 * overwritten and an unfinished one never restarted unless `force`.
 */
export async function checkNewRun(dir: string, force: boolean): Promise<void> {
  const state = await runFolderState(dir);
  if (state === 'missing' || state === 'empty' || force) return;
  {
    const why = {
      finished: `holds a finished run; pass --force to replace it, or choose another --out`,
      unfinished: `holds an unfinished run; continue it with --resume ${dir}, or pass --force to start over`,
      other: `is not empty and holds no polyhead run; choose another --out, or pass --force to write into it`,
    }[state];
    throw new PolyheadError('RUN_EXISTS', `${dir} ${why}`, { kind: 'usage', details: { dir, state } });
  }
}

/** Creates `dir` for a new run, removing a previous run's own files (other files are kept). */
export async function prepareNewRun(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const { model, ...rest } = RUN_FILES;
  for (const name of [...model, ...Object.values(rest)]) await rm(path.join(dir, name), { recursive: true, force: true });
  await removeStrays(dir);
}

/** Removes temporary files a killed process left behind (`*.tmp-*`). */
export async function removeStrays(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (name.includes('.tmp-') || name.includes('.old-')) await rm(path.join(dir, name), { recursive: true, force: true });
  }
}

/** Writes `data` to `file` through a temporary file and a rename. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(temp, data);
  await rename(temp, file);
}

/** Reads a run's `config.json`. */
export async function readRunConfig<T>(dir: string): Promise<T> {
  const file = path.join(dir, RUN_FILES.config);
  const exists = await stat(file).catch(() => null);
  if (!exists) {
    throw new PolyheadError('RUN_NOT_FOUND', `${dir} is not a polyhead run folder: ${RUN_FILES.config} is missing`, { kind: 'usage', details: { dir } });
  }
  try {
    return (JSON.parse(await readFile(file, 'utf8')) as { options: T }).options;
  } catch (cause) {
    throw new PolyheadError('RUN_INVALID', `${file} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}

/** One `metrics.jsonl` row: every figure of an epoch under `train_` and `eval_` keys. */
export function metricsRow(log: EpochLog): Record<string, number | boolean> {
  const row: Record<string, number | boolean> = { epoch: log.epoch, train_loss: log.loss };
  for (const [name, h] of Object.entries(log.heads)) {
    Object.assign(row, { [`train_${name}_loss`]: h.loss, [`train_${name}_acc`]: h.accuracy, [`train_${name}_weight`]: h.weight, [`train_${name}_count`]: h.count });
  }
  if (log.val) {
    Object.assign(row, { eval_loss: log.val.loss, eval_exact_match: log.val.exactMatch, eval_hamming_acc: log.val.hammingAccuracy });
    for (const [name, h] of Object.entries(log.val.heads)) {
      Object.assign(row, { [`eval_${name}_loss`]: h.loss, [`eval_${name}_acc`]: h.accuracy, [`eval_${name}_macro_f1`]: h.macroF1, [`eval_${name}_count`]: h.count });
      if (h.microF1 !== undefined) row[`eval_${name}_micro_f1`] = h.microF1;
      if (h.mAP !== undefined) row[`eval_${name}_map`] = h.mAP;
    }
  }
  Object.assign(row, {
    lr: log.learningRate,
    seconds: log.seconds,
    img_per_sec: log.imagesPerSec,
    best: log.best,
    num_tensors: log.memory.numTensors,
    rss_mb: log.memory.rssMb,
    ...(log.memory.cacheMb !== undefined ? { cache_mb: log.memory.cacheMb } : {}),
  });
  return row;
}

/** Rewrites `metrics.jsonl` from a history (a resumed run drops rows written after its checkpoint). */
export async function writeMetrics(dir: string, history: EpochLog[]): Promise<void> {
  await writeFileAtomic(path.join(dir, RUN_FILES.metrics), history.map((h) => `${JSON.stringify(metricsRow(h))}\n`).join(''));
}

/** Appends one epoch's row to `metrics.jsonl`, with `extra` fields (a `--backbone` run's `stage`) first. */
export function appendMetrics(dir: string, log: EpochLog, extra: Record<string, string> = {}): void {
  appendFileSync(path.join(dir, RUN_FILES.metrics), `${JSON.stringify({ ...extra, ...metricsRow(log) })}\n`);
}

/**
 * An Output that also appends every line, with a timestamp, to the run's log; lines are held in
 * memory until `open()` says the folder exists.
 */
export function teeOutput(out: Output, dir: string): Output & { open(): void } {
  const file = path.join(dir, RUN_FILES.log);
  let held: string[] | null = [];
  const write = (level: string, message: string) => {
    const line = `${new Date().toISOString()} ${level} ${message}\n`;
    if (held) held.push(line);
    else appendFileSync(file, line);
  };
  return {
    open() {
      if (held) appendFileSync(file, held.join(''));
      held = null;
    },
    info: (m) => (write('info', m), out.info(m)),
    warn: (m) => (write('warn', m), out.warn(m)),
    error: (m) => (write('error', m), out.error(m)),
    success: (m) => (write('success', m), out.success(m)),
    result: (l) => out.result(l),
    interactive: out.interactive,
  };
}
