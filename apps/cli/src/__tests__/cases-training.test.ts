import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

import { batches, defaultPreprocessing, ImageCache, LabelEncoder, loadDataset } from '@polyhead/data';
import {
  buildNetwork,
  initBackend,
  networkSpec,
  Predictor,
  tf,
  train,
  trainOnDataset,
  type BatchLog,
  type EpochLog,
} from '@polyhead/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FIXTURES, TINY, jsonLines, readJson, readManifest, runCli, tempDir, type SavedMeta } from './cli-harness.js';

const BACKBONE = { width: 8, depth: 2 };

let tmp: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  tmp = await tempDir('cases');
  await initBackend('wasm');
});

afterAll(async () => {
  await tmp?.remove();
});

/** Bytes of every value of the given variables, for bit-exact comparison. */
function snapshot(variables: tf.Variable[]): Uint8Array[] {
  return variables.map((v) => new Uint8Array(Float32Array.from(v.dataSync()).buffer));
}

/** Relative difference of two numbers, guarded against a zero reference. */
function relativeError(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-12);
}

describe('F01 class weights for one head of a multi-output model', () => {
  const dir = join(FIXTURES, 'F01');
  const csv = join(dir, 'labels.csv');

  it('should train with balanced color weights and report them by label name when the model has two heads', async () => {
    const out = join(tmp.dir, 'f01-balanced');
    const run = await runCli(['train', '--data', csv, '--out', out, '--epochs', '2', '--class-weights', 'color=balanced', '--json', ...TINY]);

    expect(run.code).toBe(0);
    expect(run.stderr).toContain('class weights color: blue=3, red=0.6\n');
    const expected = { color: { blue: 3, red: 0.6 }, type: { circle: 1, square: 1 } };
    const [summary] = jsonLines(run.stdout) as { classWeights: unknown }[];
    expect(summary!.classWeights).toEqual(expected);
    const meta = await readJson<SavedMeta>(join(out, 'polyhead.json'));
    expect(meta.training.classWeights).toEqual(expected);
  });

  it('should accept a weight file for color and give type 1.0 for every label when weights_ok.json is used', async () => {
    const out = join(tmp.dir, 'f01-ok');
    const run = await runCli(['train', '--data', csv, '--out', out, '--epochs', '1', '--class-weights', join(dir, 'weights_ok.json'), ...TINY]);

    expect(run.code).toBe(0);
    const meta = await readJson<SavedMeta>(join(out, 'polyhead.json'));
    expect(meta.training.classWeights).toEqual({ color: { blue: 3, red: 0.6 }, type: { circle: 1, square: 1 } });
  });

  it('should fail before training and write no model when weights_bad.json names an unknown label', async () => {
    const out = join(tmp.dir, 'f01-bad');
    const run = await runCli(['train', '--data', csv, '--out', out, '--epochs', '1', '--class-weights', join(dir, 'weights_bad.json'), ...TINY]);

    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('error class weights for head "color" name unknown label "purple"; known labels: blue, red');
    expect(run.stderr).not.toMatch(/^info epoch /m);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(tmp.dir)).filter((f) => f.startsWith('f01-bad'))).toEqual([]);
  });

  it('should give a bit-identical first-batch type loss when color weights are added with the same seed', async () => {
    const dataset = await loadDataset(csv);
    const firstBatch = async (classWeights?: Record<string, 'balanced'>): Promise<BatchLog> => {
      const stop = new AbortController();
      let first: BatchLog | undefined;
      const trained = await trainOnDataset({
        dataset,
        inputSize: 32,
        backbone: BACKBONE,
        epochs: 1,
        batchSize: 8,
        seed: 11,
        valFraction: 0,
        classWeights,
        signal: stop.signal,
        callbacks: {
          onBatchEnd: (log) => {
            first ??= log;
            stop.abort();
          },
        },
      });
      trained.net.model.dispose();
      return first!;
    };

    const plain = await firstBatch();
    const weighted = await firstBatch({ color: 'balanced' });
    expect(Object.is(weighted.heads.type!.loss, plain.heads.type!.loss)).toBe(true);
    expect(weighted.heads.type!.count).toBe(plain.heads.type!.count);
    // the weights do act on the head they are given for
    expect(weighted.heads.color!.loss).not.toBe(plain.heads.color!.loss);
  });
});

describe('F02 missing labels and a batch where one head has none', () => {
  const csv = join(FIXTURES, 'F02', 'labels.csv');

  it('should skip line 14, count the labelled rows per head and keep blanks out of the vocabulary', async () => {
    const out = join(tmp.dir, 'f02');
    const run = await runCli(['train', '--data', csv, '--out', out, '--batch', '4', '--no-shuffle', '--epochs', '1', '--val-fraction', '0', ...TINY]);

    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^warn skipped \S*labels\.csv:14: no labels$/m);
    expect(run.stderr).toContain(`using 12 rows of ${csv}: 8 labelled for color, 9 labelled for type`);
    const meta = await readJson<SavedMeta>(join(out, 'polyhead.json'));
    expect(meta.network.heads.map((h) => [h.name, h.labels])).toEqual([
      ['color', ['blue', 'red']],
      ['type', ['circle', 'square']],
    ]);
    expect(meta.training.samples).toEqual({ train: 12, val: 0, skipped: 1 });
    const [epoch] = meta.training.history;
    expect(Number.isFinite(epoch!.loss)).toBe(true);
    expect(epoch!.heads.color!.count).toBe(8);
    expect(epoch!.heads.type!.count).toBe(9);
  });

  it('should log finite losses, a zero color loss over no samples, and leave the color head untouched after the first step', async () => {
    const dataset = await loadDataset(csv);
    const encoder = LabelEncoder.fit(dataset);
    const labels = encoder.encode(dataset);
    const spec = networkSpec({
      inputSize: 32,
      backbone: BACKBONE,
      heads: encoder.heads.map((h) => ({ name: h.name, labels: h.labels, weight: h.name === 'type' ? 0.5 : 1 })),
    });
    const net = buildNetwork(spec, { seed: 2 });
    const color = spec.heads.findIndex((h) => h.name === 'color');
    const colorOnly = net.model.getLayer(`${spec.heads[color]!.output}_logits`).trainableWeights.map((w) => w.read() as tf.Variable);
    expect(net.headVariables[color]!.map((v) => v.name)).toEqual(colorOnly.map((v) => v.name));
    const colorBefore = snapshot(colorOnly);
    const everyBefore = snapshot(net.logitsModel.trainableWeights.map((w) => w.read() as tf.Variable));

    const logs: BatchLog[] = [];
    let colorAfterFirst: Uint8Array[] = [];
    let everyAfterFirst: Uint8Array[] = [];
    const pre = defaultPreprocessing({ size: 32 });
    const cache = new ImageCache(2 ** 24);
    await train(
      net,
      {
        trainSize: dataset.samples.length,
        train: () => batches(dataset.samples, labels, dataset.samples.map((_, i) => i), { batchSize: 4, shuffle: false, seed: 0, pre, cache }),
      },
      {
        epochs: 1,
        batchSize: 4,
        callbacks: {
          onBatchEnd: (log) => {
            logs.push(log);
            if (log.batch === 1) {
              colorAfterFirst = snapshot(colorOnly);
              everyAfterFirst = snapshot(net.logitsModel.trainableWeights.map((w) => w.read() as tf.Variable));
            }
          },
        },
      },
    );
    net.model.dispose();

    expect(logs.map((l) => l.samples)).toEqual([4, 4, 4]);
    for (const log of logs) {
      expect(Number.isFinite(log.loss)).toBe(true);
      for (const head of Object.values(log.heads)) expect(Number.isFinite(head.loss)).toBe(true);
    }
    const first = logs[0]!;
    expect(first.heads.color!.loss).toBe(0);
    expect(first.heads.color!.count).toBe(0);
    expect(first.heads.type!.count).toBe(4);
    expect(first.heads.type!.loss).toBeGreaterThan(0);
    expect(first.loss).toBe(Math.fround(0.5 * first.heads.type!.loss));

    expect(colorAfterFirst).toEqual(colorBefore);
    // the step did happen: the shared trunk and the type head moved
    expect(everyAfterFirst).not.toEqual(everyBefore);
  });
});

describe('F04 per-head validation metrics and loss bookkeeping', () => {
  const dir = join(FIXTURES, 'F04');
  let meta: SavedMeta;
  const out = () => join(tmp.dir, 'f04');

  beforeAll(async () => {
    const run = await runCli([
      'train',
      '--data',
      join(dir, 'train.csv'),
      '--val',
      join(dir, 'val.csv'),
      '--out',
      out(),
      '--epochs',
      '3',
      '--no-restore-best',
      '--loss-weights',
      'color=1,type=0.5',
      ...TINY,
    ]);
    expect(run.stderr).not.toMatch(/^error /m);
    expect(run.code).toBe(0);
    meta = await readJson<SavedMeta>(join(out(), 'polyhead.json'));
  });

  it('should key every epoch of the history by head name with train and validation loss and accuracy', () => {
    const history = meta.training.history;
    expect(history.map((e) => e.epoch)).toEqual([1, 2, 3]);
    for (const epoch of history) {
      expect(Object.keys(epoch.heads)).toEqual(['color', 'type']);
      expect(Object.keys(epoch.val!.heads)).toEqual(['color', 'type']);
      for (const head of [...Object.values(epoch.heads), ...Object.values(epoch.val!.heads)]) {
        expect(Number.isFinite(head.loss)).toBe(true);
        expect(head.accuracy).toBeGreaterThanOrEqual(0);
        expect(head.accuracy).toBeLessThanOrEqual(1);
      }
      expect(epoch.val!.heads.color!.count).toBe(9);
      expect(epoch.val!.heads.type!.count).toBe(7);
    }
    expect(JSON.stringify(history)).not.toMatch(/output_\d|null|NaN/);
  });

  it('should report the last epoch validation accuracies that predict reproduces on the 9 images', async () => {
    const rows = await readManifest(join(dir, 'val.csv'));
    const run = await runCli(['predict', ...rows.map((r) => join(dir, r.image!)), '--model', out(), '--json', '--backend', 'wasm']);
    expect(run.code).toBe(0);
    const predictions = jsonLines(run.stdout) as { heads: Record<string, { label: string }> }[];
    expect(predictions).toHaveLength(9);

    const correct = (head: string) => rows.filter((r, i) => r[head] !== '' && r[head] === predictions[i]!.heads[head]!.label).length;
    const last = meta.training.history[2]!.val!;
    expect(rows.filter((r) => r.type !== '')).toHaveLength(7);
    expect(Math.abs(last.heads.color!.accuracy - correct('color') / 9)).toBeLessThan(1e-6);
    expect(Math.abs(last.heads.type!.accuracy - correct('type') / 7)).toBeLessThan(1e-6);
    expect(meta.metrics.val!.heads.color!.accuracy).toBe(last.heads.color!.accuracy);
  });

  it('should log a total loss equal to the weighted sum of the head losses', () => {
    for (const epoch of meta.training.history) {
      for (const part of [epoch, epoch.val!]) {
        expect(part.heads.color!.weight).toBe(1);
        expect(part.heads.type!.weight).toBe(0.5);
        const sum = part.heads.color!.loss + 0.5 * part.heads.type!.loss;
        expect(relativeError(part.loss, sum)).toBeLessThan(1e-5);
      }
    }
  });
});

describe('F06 tensors and memory across epochs', () => {
  it('should keep the tensor count flat across epochs and predictions and release everything when disposed', async () => {
    const dataset = await loadDataset(join(FIXTURES, 'F06', 'labels.csv'));
    const before = tf.memory().numTensors;
    const epochs: EpochLog['memory'][] = [];
    const trained = await trainOnDataset({
      dataset,
      inputSize: 32,
      backbone: BACKBONE,
      epochs: 6,
      batchSize: 8,
      seed: 4,
      callbacks: { onEpochEnd: (log) => void epochs.push(log.memory) },
    });

    expect(epochs).toHaveLength(6);
    expect(epochs.map((m) => m.numTensors)).toEqual(Array(6).fill(epochs[0]!.numTensors));
    expect(epochs[5]!.rssMb).toBeLessThanOrEqual(epochs[1]!.rssMb + 30);

    const predictor = Predictor.fromNetwork(trained.net, trained.meta);
    const images = dataset.samples.map((s) => s.path);
    expect(images).toHaveLength(64);
    const counts: number[] = [];
    for (let pass = 0; pass < 10; pass++) {
      const answers = await predictor.predict(images);
      expect(answers).toHaveLength(64);
      counts.push(tf.memory().numTensors);
    }
    expect(counts).toEqual(Array(10).fill(counts[0]));

    predictor.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
