import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLI_ENTRY, FIXTURES, jsonLines, readJson, runCli, tempDir, type CliRun, type SavedMeta } from './cli-harness.js';

/** The offline MobileNet V1 0.25 of `../shared/pretrained` beside the repository root. */
const SHARED = resolve(fileURLToPath(new URL('../../../../', import.meta.url)), '../shared/pretrained');
const MOBILENET_V1 = join(SHARED, 'mobilenet-v1-0.25-224', 'model.json');
const SKIP = existsSync(MOBILENET_V1) ? '' : ` (skipped: no offline backbone at ${MOBILENET_V1})`;

const F04 = join(FIXTURES, 'F04');
const IMAGES = ['val/img000.png', 'val/img001.png', 'val/img002.png'].map((f) => join(F04, f));

interface PredictLine {
  image: string;
  heads: Record<string, { label: string; score: number }>;
}

interface BackboneMeta extends SavedMeta {
  network: SavedMeta['network'] & { backbone: { kind: string; featureLayer: string; featureChannels: number } };
  metrics: SavedMeta['metrics'] & { unseen?: { exactMatch: number; fullyLabelled: number } };
}

describe.skipIf(SKIP !== '')(`polyhead train --backbone${SKIP}`, () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let model: string;
  let train: CliRun;

  beforeAll(async () => {
    tmp = await tempDir('backbone');
    model = join(tmp.dir, 'run');
    train = await runCli(
      [
        'train',
        ...['--data', join(F04, 'train.csv'), '--val', join(F04, 'val.csv'), '--out', model],
        ...['--backbone', MOBILENET_V1, '--size', '64', '--epochs', '2', '--batch', '8', '--backend', 'wasm'],
        ...['--augment', 'flip,crop,hue=30', '--holdout-combos', 'color=green,type=square', '--json'],
      ],
      { env: { POLYHEAD_CACHE: join(tmp.dir, 'unused-cache') } },
    );
  });

  afterAll(async () => {
    await tmp?.remove();
  });

  it('should write the run folder with resolved settings, per-epoch metrics and the model when trained on a backbone', async () => {
    expect(train.stderr).not.toMatch(/^error /m);
    expect(train.code).toBe(0);
    expect((await readdir(model)).sort()).toEqual(['config.json', 'last', 'metrics.jsonl', 'model.json', 'polyhead.json', 'train.log', 'weights.bin']);
    expect((await readdir(join(model, 'last'))).sort()).toEqual(['model.json', 'polyhead.json', 'weights.bin']);

    const config = await readJson<{ options: { backbone: string; epochs: number }; resolved: Record<string, unknown> }>(join(model, 'config.json'));
    expect(config.options).toMatchObject({ backbone: MOBILENET_V1, epochs: 2 });
    expect(config.resolved).toMatchObject({
      backend: 'wasm',
      heads: ['color', 'type'],
      images: 24,
      backbone: { source: MOBILENET_V1, inputSize: 64, featureLayer: 'conv_pw_13_relu', featureChannels: 256, scaling: 'symmetric' },
      augment: { flip: true, crop: 0.15, rotate: 0, brightness: 0, contrast: 0, hue: 30 },
      colourHeads: ['color'],
      fineTune: null,
    });

    const rows = (await readFile(join(model, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => [r.stage, r.epoch])).toEqual([['heads', 1], ['heads', 2]]);

    const meta = await readJson<BackboneMeta>(join(model, 'polyhead.json'));
    expect(meta.network.backbone).toMatchObject({ kind: 'pretrained', featureLayer: 'conv_pw_13_relu', featureChannels: 256 });
    const summary = jsonLines(train.stdout)[0] as { val: { exactMatch: number; heads: Record<string, { accuracy: number }> } };
    for (const head of ['color', 'type']) {
      const accuracy = meta.metrics.val!.heads[head]!.accuracy;
      expect(accuracy).toBeGreaterThanOrEqual(0);
      expect(accuracy).toBeLessThanOrEqual(1);
      expect(summary.val.heads[head]!.accuracy).toBe(accuracy);
    }
    expect(summary.val.exactMatch).toBe(meta.metrics.val!.exactMatch);
    // the 4 green squares of train.csv are held out and scored apart
    expect(meta.training.samples.train).toBe(20);
    expect(meta.metrics.unseen?.fullyLabelled).toBe(4);

    expect(train.stderr).toMatch(/^info features +\d+\/\d+ images/m);
    expect(train.stderr).toMatch(/^info epoch 1\/2 loss /m);
    expect(train.stderr).toContain('hue shifts change colour: color never learn from a hue-shifted image');
    expect(train.stderr).toMatch(/^info exact-match \d\.\d{4} over 7 fully labelled images$/m);
    expect(train.stderr).toMatch(/^info unseen combinations: exact-match /m);
    expect(await readFile(join(model, 'train.log'), 'utf8')).toContain('info training the heads on cached features (2 epochs)');
    expect(existsSync(join(tmp.dir, 'unused-cache'))).toBe(false);
  });

  it('should predict the same scores in a fresh process with an empty cache when given the saved model', async () => {
    const first = await runCli(['predict', '--model', model, '--backend', 'wasm', '--json', ...IMAGES]);
    expect(first.code).toBe(0);
    const empty = join(tmp.dir, 'empty-cache');
    await mkdir(empty);
    const fresh = await runCli(['predict', '--model', model, '--backend', 'wasm', '--json', ...IMAGES], { cwd: empty, env: { POLYHEAD_CACHE: empty, HOME: empty, XDG_CACHE_HOME: empty } });
    expect(fresh.code).toBe(0);
    const a = jsonLines(first.stdout) as PredictLine[];
    const b = jsonLines(fresh.stdout) as PredictLine[];
    expect(a.map((p) => p.image)).toEqual(IMAGES);
    expect(a.every((p) => ['blue', 'green', 'red'].includes(p.heads.color!.label) && ['circle', 'square'].includes(p.heads.type!.label))).toBe(true);
    expect(b).toEqual(a);
    expect(await readdir(empty)).toEqual([]);
  });

  it('should answer over HTTP as predict does with an empty cache when the saved model is served', async () => {
    const empty = join(tmp.dir, 'serve-cache');
    await mkdir(empty);
    const child = spawn(process.execPath, [CLI_ENTRY, 'serve', '--model', model, '--port', '0', '--host', '127.0.0.1', '--backend', 'wasm'], {
      env: { ...process.env, NO_COLOR: '1', POLYHEAD_CACHE: empty, HOME: empty, XDG_CACHE_HOME: empty },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = once(child, 'exit');
    try {
      let stderr = '';
      const url = await new Promise<string>((resolveUrl, reject) => {
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
          stderr += chunk;
          const ready = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string; url?: string }).find((r) => r.msg === 'ready');
          if (ready) resolveUrl(ready.url!);
        });
        void exited.then(() => reject(new Error(`serve exited: ${stderr}`)));
      });
      const predicted = jsonLines((await runCli(['predict', '--model', model, '--backend', 'wasm', '--json', IMAGES[0]!])).stdout) as PredictLine[];
      const response = await fetch(`${url}/v1/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: await readFile(IMAGES[0]!) });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { heads: PredictLine['heads'] }).heads).toEqual(predicted[0]!.heads);
      expect(await readdir(empty)).toEqual([]);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('should score the validation set as training did when the saved model is evaluated', async () => {
    const run = await runCli(['evaluate', '--model', model, '--data', join(F04, 'val.csv'), '--backend', 'wasm', '--json'], { env: { POLYHEAD_CACHE: join(tmp.dir, 'unused-cache') } });
    expect(run.code).toBe(0);
    const result = jsonLines(run.stdout)[0] as { exactMatch: number; heads: Record<string, { accuracy: number }> };
    const meta = await readJson<BackboneMeta>(join(model, 'polyhead.json'));
    expect(result.heads.color!.accuracy).toBeCloseTo(meta.metrics.val!.heads.color!.accuracy, 10);
    expect(result.heads.type!.accuracy).toBeCloseTo(meta.metrics.val!.heads.type!.accuracy, 10);
    expect(result.exactMatch).toBeCloseTo(meta.metrics.val!.exactMatch, 10);
  });

  it('should log the fine-tuning stage apart and keep it only if validation holds when given --fine-tune-blocks', async () => {
    const out = join(tmp.dir, 'fine-tuned');
    const run = await runCli([
      'train',
      ...['--data', join(F04, 'train.csv'), '--val', join(F04, 'val.csv'), '--out', out, '--backbone', MOBILENET_V1],
      ...['--size', '64', '--epochs', '2', '--batch', '8', '--backend', 'wasm', '--fine-tune-blocks', '1', '--fine-tune-epochs', '1', '--json'],
    ]);
    expect(run.code, run.stderr).toBe(0);
    const rows = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => [r.stage, r.epoch])).toEqual([['heads', 1], ['heads', 2], ['fine-tune', 1]]);
    const meta = await readJson<{ training: { stages: { fineTune: { blocks: number; unfrozenLayers: number; kept: boolean } } } }>(join(out, 'polyhead.json'));
    const ft = meta.training.stages.fineTune;
    // the last block of MobileNet V1 is conv_dw_13, its BatchNorm, conv_pw_13 and its BatchNorm
    expect([ft.blocks, ft.unfrozenLayers]).toEqual([1, 4]);
    expect(run.stderr).toMatch(ft.kept ? /^info fine-tuning kept: exact-match /m : /^info fine-tuning discarded \(meanMacroF1 \d\.\d{4} → \d\.\d{4}\): exact-match /m);
    const summary = jsonLines(run.stdout)[0] as { stages: { fineTune: { kept: boolean } } };
    expect(summary.stages.fineTune.kept).toBe(ft.kept);
  });

  it('should save the best model so far and exit 130 when stopped by SIGINT', async () => {
    const out = join(tmp.dir, 'stopped');
    const args = ['train', '--data', join(F04, 'train.csv'), '--out', out, '--backbone', MOBILENET_V1, '--size', '96', '--epochs', '40', '--batch', '8', '--backend', 'wasm', '--no-feature-cache'];
    const child = spawn(process.execPath, [CLI_ENTRY, ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (!stderr.includes('info epoch') && (stderr + chunk).includes('info epoch')) child.kill('SIGINT');
      stderr += chunk;
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(130);
    expect(stderr).toContain('SIGINT: stopping after this batch and saving the model trained so far (runs with --backbone write no checkpoint)');
    expect(stderr).toMatch(/^warn stopped early by a signal at epoch \d+ of 40: the model saved is the best of the epochs run$/m);
    const rows = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n');
    expect(rows.length).toBeLessThan(40);
    const meta = await readJson<BackboneMeta>(join(out, 'polyhead.json'));
    expect(meta.training.history.length).toBe(rows.length);
  });

  it('should refuse to resume a backbone run with exit 2 when given --resume', async () => {
    const unfinished = join(tmp.dir, 'unfinished');
    await mkdir(unfinished);
    await copyFile(join(model, 'config.json'), join(unfinished, 'config.json'));
    const run = await runCli(['train', '--resume', unfinished]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`error ${unfinished} was trained with --backbone ${MOBILENET_V1}; such runs write no checkpoint and cannot be resumed`);
    expect(run.stderr).toContain('[RUN_RESUME_UNSUPPORTED]');
    expect(await readdir(unfinished)).toEqual(['config.json']);
  });

  it('should refuse small-CNN settings with exit 2 when combined with --backbone', async () => {
    const run = await runCli(['train', '--data', join(F04, 'train.csv'), '--out', join(tmp.dir, 'refused'), '--backbone', MOBILENET_V1, '--shared-depth', '1', '--width', '8']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('error --width, --shared-depth apply to the small CNN and cannot be combined with --backbone [USAGE_BACKBONE_CONFLICT]');
    expect(existsSync(join(tmp.dir, 'refused'))).toBe(false);
  });

  it('should refuse backbone settings with exit 2 when given without --backbone', async () => {
    const run = await runCli(['train', '--data', join(F04, 'train.csv'), '--out', join(tmp.dir, 'cnn'), '--fine-tune-blocks', '2', '--no-feature-cache']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('error --fine-tune-blocks, --no-feature-cache only apply to --backbone runs [USAGE_NEEDS_BACKBONE]');
    expect(existsSync(join(tmp.dir, 'cnn'))).toBe(false);
  });

  it('should refuse hue augmentation with exit 2 when every head describes colour', async () => {
    const run = await runCli(['train', '--data', join(F04, 'train.csv'), '--out', join(tmp.dir, 'hue'), '--backbone', MOBILENET_V1, '--size', '64', '--backend', 'wasm', '--augment', 'hue', '--colour-heads', 'color,type']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('[USAGE_BAD_AUGMENT]');
    expect(existsSync(join(tmp.dir, 'hue'))).toBe(false);
  });
});
