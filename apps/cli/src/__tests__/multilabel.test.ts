import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TINY, jsonLines, readJson, runCli, tempDir, type CliRun } from './cli-harness.js';

const SHAPES = ['cross', 'frame', 'square'] as const;
const COLOURS = { red: [220, 30, 30], blue: [30, 30, 220] } as const;

interface TaggedPrediction {
  image: string;
  heads: Record<string, { label: string; score: number; labels?: string[]; scores?: Record<string, number> }>;
}

interface TaggedEvaluation {
  heads: Record<string, { kind: string; accuracy: number; macroF1: number; microF1?: number; mAP?: number; topK?: Record<string, number> }>;
  exactMatch: number;
  hammingAccuracy: number;
}

/** A 32 px image with the given shapes, one per quadrant, all in one colour, on a dark grey. */
function shapesImage(shapes: readonly string[], rgb: readonly number[], grey: number): Promise<Buffer> {
  const size = 32;
  const pixels = Buffer.alloc(size * size * 3, grey);
  shapes.forEach((shape, q) => {
    const top = (q >> 1) * 16 + 3;
    const left = (q & 1) * 16 + 3;
    for (let y = 0; y < 10; y++) {
      for (let x = 0; x < 10; x++) {
        const edge = y === 0 || x === 0 || y === 9 || x === 9;
        const on = shape === 'square' || (shape === 'frame' ? edge : y === 4 || x === 4);
        if (on) pixels.set(rgb, ((top + y) * size + left + x) * 3);
      }
    }
  });
  return sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
}

let tmp: Awaited<ReturnType<typeof tempDir>>;
let csv: string;
let model: string;
let trainRun: CliRun;
const images: string[] = [];

// 24 images: every subset of the three shapes, twice in red and once in blue, none identical
beforeAll(async () => {
  tmp = await tempDir('multilabel');
  const rows = ['image,color,tags'];
  for (let i = 0; i < 24; i++) {
    const subset = SHAPES.filter((_, s) => (i >> s) & 1);
    const colour = i % 16 < 8 ? 'red' : 'blue';
    const file = join(tmp.dir, `tagged${i}.png`);
    await writeFile(file, await shapesImage(subset, COLOURS[colour], 10 + i));
    images.push(file);
    // an empty set is written as a lone |; row 5 leaves its tags unknown
    rows.push(`${file},${colour},${i === 5 ? '' : subset.join('|') || '|'}`);
  }
  csv = join(tmp.dir, 'tagged.csv');
  await writeFile(csv, `${rows.join('\n')}\n`);
  model = join(tmp.dir, 'model');
  trainRun = await runCli(['train', '--data', csv, '--out', model, '--epochs', '2', '--balance-head', 'color', '--json', ...TINY]);
});

afterAll(async () => {
  await tmp?.remove();
});

describe('polyhead train with a multi-label column', () => {
  it('should infer a multi-label head from | and save one threshold per label', async () => {
    expect(trainRun.stderr).not.toMatch(/^error /m);
    expect(trainRun.code).toBe(0);
    const meta = await readJson<{
      network: { heads: { name: string; kind: string; labels: string[]; thresholds?: number[] }[] };
      training: { headKinds: Record<string, string>; balanceHead: string };
    }>(join(model, 'polyhead.json'));
    const tags = meta.network.heads[1]!;
    expect([tags.name, tags.kind, tags.labels]).toEqual(['tags', 'multilabel', ['cross', 'frame', 'square']]);
    expect(tags.thresholds).toHaveLength(3);
    expect(meta.training).toMatchObject({ headKinds: { color: 'softmax', tags: 'multilabel' }, balanceHead: 'color' });
    expect(trainRun.stderr).toMatch(/tags \(multi-label\): micro-F1 [0-9.]+ {2}mAP [0-9.]+ {2}thresholds cross /);
  });

  it('should train the column as single labels when --head-kind says softmax', async () => {
    const out = join(tmp.dir, 'softmax');
    const run = await runCli(['train', '--data', csv, '--out', out, '--epochs', '1', '--head-kind', 'tags=softmax', ...TINY]);
    expect(run.code).toBe(0);
    const meta = await readJson<{ network: { heads: { kind: string; labels: string[] }[] } }>(join(out, 'polyhead.json'));
    expect(meta.network.heads[1]!.kind).toBe('softmax');
    expect(meta.network.heads[1]!.labels).toContain('cross|frame');
  });

  it('should exit 2 on a head kind it does not know', async () => {
    const run = await runCli(['train', '--data', csv, '--out', join(tmp.dir, 'bad'), '--head-kind', 'tags=ordinal', ...TINY]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/kinds: softmax, multilabel/);
  });
});

describe('polyhead predict and evaluate with a multi-label head', () => {
  it('should print each image\'s label set and every label\'s score with --json', async () => {
    const run = await runCli(['predict', ...images.slice(0, 3), '--model', model, '--json', '--backend', 'wasm']);
    expect(run.code).toBe(0);
    const lines = jsonLines(run.stdout) as TaggedPrediction[];
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      const tags = line.heads.tags!;
      expect(Object.keys(tags.scores!)).toEqual(['cross', 'frame', 'square']);
      expect(Array.isArray(tags.labels)).toBe(true);
      for (const label of tags.labels!) expect(SHAPES).toContain(label);
      expect(line.heads.color!.labels).toBeUndefined();
    }
  });

  it('should report micro and macro F1 and mAP of the multi-label head with --json', async () => {
    const run = await runCli(['evaluate', '--model', model, '--data', csv, '--json', '--backend', 'wasm']);
    expect(run.code).toBe(0);
    const [m] = jsonLines(run.stdout) as TaggedEvaluation[];
    const tags = m!.heads.tags!;
    expect(tags.kind).toBe('multilabel');
    for (const v of [tags.microF1, tags.macroF1, tags.mAP, tags.accuracy, m!.hammingAccuracy, m!.exactMatch]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    expect(m!.heads.color!.topK).toEqual({ 1: m!.heads.color!.accuracy, 2: 1 });
  });

  it('should print per-label figures in the text report', async () => {
    const run = await runCli(['evaluate', '--model', model, '--data', csv, '--backend', 'wasm']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^tags \(multi-label\): exact set [0-9.]+ {2}micro-F1 [0-9.]+ {2}macro-F1 [0-9.]+ {2}mAP [0-9.]+/m);
    expect(run.stdout).toMatch(/^ {2}square +[0-9.]+ +[0-9.]+ +[0-9.]+ +\d+ +[0-9.]+ +[0-9.]+$/m);
    expect(run.stdout).toMatch(/^color: accuracy [0-9.]+ {2}macro-F1 [0-9.]+ {2}top-k 1:[0-9.]+ 2:1\.0000/m);
  });
});
