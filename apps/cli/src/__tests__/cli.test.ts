import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  FIXTURES,
  TINY,
  copyCase,
  jsonLines,
  readJson,
  readManifest,
  runCli,
  tempDir,
  type CliRun,
  type SavedMeta,
} from './cli-harness.js';

const F04 = join(FIXTURES, 'F04');
const TRAIN_CSV = join(F04, 'train.csv');
const VAL_CSV = join(F04, 'val.csv');

interface PredictLine {
  image: string;
  heads: Record<string, { label: string; score: number; top?: { label: string; score: number }[] }>;
}

interface EvaluateJson {
  heads: Record<string, { accuracy: number; count: number; confusion: number[][]; classes: { label: string }[] }>;
  exactMatch: number;
  fullyLabelled: number;
  combos: { labels: Record<string, string>; count: number; exactMatch: number }[];
  samples: number;
}

/** A stack frame as V8 prints it. */
const STACK_FRAME = /^\s+at .+/m;

/** The stderr lines the CLI tagged as errors, with any lines that follow them. */
function errorText(run: CliRun): string {
  const start = run.stderr.indexOf('error ');
  return start < 0 ? '' : run.stderr.slice(start).trimEnd();
}

let tmp: Awaited<ReturnType<typeof tempDir>>;
let model: string;
let trainRun: CliRun;

beforeAll(async () => {
  tmp = await tempDir('cli');
  model = join(tmp.dir, 'model');
  trainRun = await runCli(['train', '--data', TRAIN_CSV, '--val', VAL_CSV, '--out', model, '--epochs', '2', '--json', ...TINY]);
});

afterAll(async () => {
  await tmp?.remove();
});

describe('polyhead train', () => {
  it('should write a loadable model directory with per-head validation metrics when given a CSV', async () => {
    expect(trainRun.stderr).not.toMatch(/^error /m);
    expect(trainRun.code).toBe(0);
    expect((await readdir(model)).sort()).toEqual([
      'checkpoint.bin',
      'config.json',
      'last',
      'metrics.jsonl',
      'model.json',
      'polyhead.json',
      'train.log',
      'weights.bin',
    ]);

    const meta = await readJson<SavedMeta>(join(model, 'polyhead.json'));
    expect(meta.network.heads.map((h) => [h.name, h.labels])).toEqual([
      ['color', ['blue', 'green', 'red']],
      ['type', ['circle', 'square']],
    ]);
    const val = meta.metrics.val!;
    expect(Object.keys(val.heads)).toEqual(['color', 'type']);
    for (const head of Object.values(val.heads)) {
      expect(head.accuracy).toBeGreaterThanOrEqual(0);
      expect(head.accuracy).toBeLessThanOrEqual(1);
    }
    expect(val.heads.color!.count).toBe(9);
    expect(val.heads.type!.count).toBe(7);
    expect(val.exactMatch).toBeGreaterThanOrEqual(0);
    expect(val.exactMatch).toBeLessThanOrEqual(1);
    expect(meta.training.history).toHaveLength(2);
  });

  it('should print one JSON summary on stdout when --json is given', () => {
    const [summary, ...rest] = jsonLines(trainRun.stdout) as { model: string; history: unknown[]; val: { exactMatch: number } }[];
    expect(rest).toEqual([]);
    expect(summary!.model).toBe(model);
    expect(summary!.history).toHaveLength(2);
    expect(typeof summary!.val.exactMatch).toBe('number');
  });

  it('should train on a folder dataset when --heads names the parts of the folder names', async () => {
    const data = join(tmp.dir, 'folders');
    for (const row of await readManifest(TRAIN_CSV)) {
      const folder = join(data, `${row.color}_${row.type}`);
      await mkdir(folder, { recursive: true });
      await copyFile(join(F04, row.image!), join(folder, basename(row.image!)));
    }
    const out = join(tmp.dir, 'folder-model');
    const run = await runCli(['train', '--data', data, '--heads', 'color,type', '--out', out, '--epochs', '1', ...TINY]);

    expect(run.stderr).not.toMatch(/^error /m);
    expect(run.code).toBe(0);
    const meta = await readJson<SavedMeta>(join(out, 'polyhead.json'));
    expect(meta.network.heads.map((h) => [h.name, h.labels])).toEqual([
      ['color', ['blue', 'green', 'red']],
      ['type', ['circle', 'square']],
    ]);
    expect(meta.training.samples.train + meta.training.samples.val).toBe(24);
  });

  it('should exit 2 naming the folder when a folder name splits into the wrong number of parts', async () => {
    const data = join(tmp.dir, 'bad-folders');
    await mkdir(join(data, 'red_circle'), { recursive: true });
    await mkdir(join(data, 'big_red_circle'), { recursive: true });
    await copyFile(join(F04, 'train', 'img000.png'), join(data, 'red_circle', 'a.png'));
    await copyFile(join(F04, 'train', 'img001.png'), join(data, 'big_red_circle', 'b.png'));
    const out = join(tmp.dir, 'bad-folder-model');
    const run = await runCli(['train', '--data', data, '--heads', 'color,type', '--out', out, ...TINY]);

    expect(run.code).toBe(2);
    expect(errorText(run)).toContain(join(data, 'big_red_circle'));
    expect(errorText(run)).toContain('into 3 part(s); expected 2');
    expect(errorText(run).split('\n')).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  });
});

describe('polyhead predict', () => {
  const images = ['img000.png', 'img002.png', 'img004.png'].map((f) => join(F04, 'val', f));

  it('should print one JSON line per image with every head when --json is given', async () => {
    const run = await runCli(['predict', ...images, '--model', model, '--json', '--backend', 'wasm']);
    expect(run.code).toBe(0);
    const lines = jsonLines(run.stdout) as PredictLine[];
    expect(lines.map((l) => l.image)).toEqual(images);
    for (const line of lines) {
      expect(Object.keys(line.heads)).toEqual(['color', 'type']);
      expect(['blue', 'green', 'red']).toContain(line.heads.color!.label);
      expect(['circle', 'square']).toContain(line.heads.type!.label);
      for (const head of Object.values(line.heads)) {
        expect(head.score).toBeGreaterThan(0);
        expect(head.score).toBeLessThanOrEqual(1);
        expect(head.top).toBeUndefined();
      }
    }
  });

  it('should add the two most likely labels per head when --top 2 is given', async () => {
    const run = await runCli(['predict', ...images, '--model', model, '--json', '--top', '2', '--backend', 'wasm']);
    expect(run.code).toBe(0);
    for (const line of jsonLines(run.stdout) as PredictLine[]) {
      for (const head of Object.values(line.heads)) {
        expect(head.top).toHaveLength(2);
        expect(head.top![0]).toEqual({ label: head.label, score: head.score });
        expect(head.top![1]!.label).not.toBe(head.label);
        expect(head.top![1]!.score).toBeLessThanOrEqual(head.score);
      }
      // two labels only: the pair of type scores is the whole distribution
      const type = line.heads.type!.top!;
      expect(type[0]!.score + type[1]!.score).toBeCloseTo(1, 5);
    }
  });

  it('should answer the other images and exit 2 when one image is missing', async () => {
    const missing = join(tmp.dir, 'nowhere.png');
    const run = await runCli(['predict', images[0]!, missing, '--model', model, '--json', '--backend', 'wasm']);
    expect(run.code).toBe(2);
    const [ok, failed] = jsonLines(run.stdout) as (PredictLine & { error?: { code: string; message: string } })[];
    expect(ok!.heads.color).toBeDefined();
    expect(failed!.image).toBe(missing);
    expect(failed!.error!.message).toContain(missing);
  });
});

describe('polyhead evaluate', () => {
  let evaluation: EvaluateJson;

  beforeAll(async () => {
    const run = await runCli(['evaluate', '--model', model, '--data', VAL_CSV, '--json', '--backend', 'wasm']);
    expect(run.code).toBe(0);
    evaluation = JSON.parse(run.stdout) as EvaluateJson;
  });

  it('should report accuracy and a confusion matrix per head when --json is given', () => {
    expect(Object.keys(evaluation.heads)).toEqual(['color', 'type']);
    expect(evaluation.samples).toBe(9);
    const sizes = { color: 3, type: 2 } as Record<string, number>;
    for (const [name, head] of Object.entries(evaluation.heads)) {
      expect(head.confusion).toHaveLength(sizes[name]!);
      for (const row of head.confusion) expect(row).toHaveLength(sizes[name]!);
      const total = head.confusion.flat().reduce((a, b) => a + b, 0);
      const diagonal = head.confusion.reduce((a, row, i) => a + row[i]!, 0);
      expect(total).toBe(head.count);
      expect(head.accuracy).toBeCloseTo(diagonal / total, 12);
    }
    expect(evaluation.heads.color!.count).toBe(9);
    expect(evaluation.heads.type!.count).toBe(7);
    expect(evaluation.fullyLabelled).toBe(7);
  });

  it('should equal the accuracies recomputed from predict --json when both read the same images', async () => {
    const rows = await readManifest(VAL_CSV);
    const run = await runCli(['predict', ...rows.map((r) => join(F04, r.image!)), '--model', model, '--json', '--backend', 'wasm']);
    expect(run.code).toBe(0);
    const predictions = jsonLines(run.stdout) as PredictLine[];
    expect(predictions).toHaveLength(rows.length);

    for (const head of ['color', 'type']) {
      const labelled = rows.map((r, i) => [r[head], predictions[i]!.heads[head]!.label]).filter(([truth]) => truth !== '');
      const right = labelled.filter(([truth, guess]) => truth === guess).length;
      expect(evaluation.heads[head]!.accuracy).toBeCloseTo(right / labelled.length, 12);
    }

    const combos = new Map<string, { count: number; right: number }>();
    for (const [i, row] of rows.entries()) {
      if (row.color === '' || row.type === '') continue;
      const key = `${row.color}|${row.type}`;
      const combo = combos.get(key) ?? { count: 0, right: 0 };
      combo.count++;
      const p = predictions[i]!.heads;
      if (p.color!.label === row.color && p.type!.label === row.type) combo.right++;
      combos.set(key, combo);
    }
    const expected = [...combos.entries()].map(([key, c]) => ({ key, count: c.count, exactMatch: c.right / c.count }));
    const reported = evaluation.combos.map((c) => ({ key: `${c.labels.color}|${c.labels.type}`, count: c.count, exactMatch: c.exactMatch }));
    expect(reported.sort((a, b) => a.key.localeCompare(b.key))).toEqual(expected.sort((a, b) => a.key.localeCompare(b.key)));
    const right = expected.reduce((a, c) => a + c.exactMatch * c.count, 0);
    expect(evaluation.exactMatch).toBeCloseTo(right / 7, 12);
  });
});

describe('polyhead exit codes', () => {
  it('should exit 2 when an option is unknown', async () => {
    const run = await runCli(['train', '--data', TRAIN_CSV, '--out', join(tmp.dir, 'x'), '--epoch', '2']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown option '--epoch'");
  });

  it('should exit 2 when --data is missing', async () => {
    const run = await runCli(['train', '--out', join(tmp.dir, 'x')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--data');
  });

  it.each(['0', 'many', '1.5'])('should exit 2 when --epochs is %s', async (epochs) => {
    const run = await runCli(['train', '--data', TRAIN_CSV, '--out', join(tmp.dir, 'x'), '--epochs', epochs]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`expected a positive integer, got "${epochs}"`);
  });

  it('should exit 2 naming the file and line when a CSV row has the wrong number of columns', async () => {
    const dir = await copyCase('F04', tmp.dir);
    const csv = join(dir, 'short-row.csv');
    await writeFile(csv, 'image,color,type\ntrain/img000.png,red,circle\ntrain/img001.png,red\n');
    const out = join(tmp.dir, 'short-row-model');
    const run = await runCli(['train', '--data', csv, '--out', out, ...TINY]);

    expect(run.code).toBe(2);
    expect(errorText(run)).toContain(`${csv}:3: expected 3 columns (image,color,type), found 2`);
    expect(errorText(run).split('\n')).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  });

  it('should exit 2 naming the image and line when an image is missing', async () => {
    const dir = await copyCase('F04', tmp.dir);
    const csv = join(dir, 'missing-image.csv');
    await writeFile(csv, 'image,color,type\ntrain/img000.png,red,circle\ntrain/gone.png,blue,square\n');
    const run = await runCli(['train', '--data', csv, '--out', join(tmp.dir, 'missing-image-model'), ...TINY]);

    expect(run.code).toBe(2);
    expect(errorText(run)).toContain(`${csv}:3: image "train/gone.png" not found`);
    expect(errorText(run).split('\n')).toHaveLength(1);
  });

  it.each(['predict', 'evaluate'])('should exit 2 with one line when %s is given a folder that is not a model', async (command) => {
    const notModel = join(tmp.dir, 'not-a-model');
    await mkdir(notModel, { recursive: true });
    const args = command === 'predict' ? [join(F04, 'val', 'img000.png')] : ['--data', VAL_CSV];
    const run = await runCli([command, ...args, '--model', notModel, '--backend', 'wasm']);

    expect(run.code).toBe(2);
    expect(errorText(run).split('\n')).toEqual([
      `error ${notModel} is not a polyhead model directory: polyhead.json is missing (expected model.json, weights.bin, polyhead.json) [MODEL_NOT_FOUND]`,
    ]);
    expect(run.stdout).toBe('');
  });

  it('should add the stack trace when --verbose is given', async () => {
    const notModel = join(tmp.dir, 'not-a-model-verbose');
    await mkdir(notModel, { recursive: true });
    const run = await runCli(['predict', join(F04, 'val', 'img000.png'), '--model', notModel, '--backend', 'wasm', '--verbose']);

    expect(run.code).toBe(2);
    expect(errorText(run)).toContain('[MODEL_NOT_FOUND]');
    expect(errorText(run)).toMatch(STACK_FRAME);
  });
});
